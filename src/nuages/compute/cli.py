"""``nuages host``, ``nuages image`` and ``nuages compute``: the operator's compute edge.

Each command parses its arguments, calls the compute services as provider staff and
prints one line per object; errors print one line on stderr and exit 1 (2 for bad
arguments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.models import Host
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.states import HostState
from nuages.kernel.db import Database
from nuages.kernel.errors import AlreadyExists, NuagesError, ValidationFailed
from nuages.kernel.settings import get_settings

host_app = typer.Typer(help="Hypervisor hosts.", no_args_is_help=True)
image_app = typer.Typer(help="Bootable images.", no_args_is_help=True)
compute_app = typer.Typer(help="Reconciliation and crash recovery.", no_args_is_help=True)

# The command line acts as provider staff; the history names it "cli".
CLI = Principal(
    user_id="cli", email="cli", role=Role.PROVIDER_ADMIN, client_id=None, scopes=frozenset(Scope)
)


def _runtime() -> ComputeRuntime:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ComputeRuntime(settings, database=Database(settings.effective_database_url))


def _fail(exc: NuagesError) -> NoReturn:
    typer.echo(f"error: {exc.detail}", err=True)
    raise typer.Exit(1)


def _db(runtime: ComputeRuntime) -> Database:
    assert runtime.database is not None
    return runtime.database


def _sites(
    runtime: ComputeRuntime, sites: list[str], country: str | None, all_sites: bool
) -> list[tuple[str, str]]:
    """The (site, country) pairs asked for: ``--all-sites`` takes every site the offers
    name; a ``--site`` without ``--country`` takes the country the offers give it."""
    from nuages.compute.services import hosts
    from nuages.contracts.offers import OfferRegistry

    if not sites and not all_sites:
        raise ValidationFailed("name a site (--site, as the offers' sites name it) or --all-sites")
    known: dict[str, str] = {}
    if all_sites or not country:
        known = hosts.offer_sites(OfferRegistry.from_directory(runtime.settings.offers_dir))
    if all_sites:
        return list(known.items())
    out = []
    for site in sites:
        where = country.upper() if country else known.get(site)
        if where is None:
            raise ValidationFailed(
                f"site {site!r} is in no offer; give its --country (offers name: "
                f"{', '.join(known) or 'none'})"
            )
        out.append((site, where))
    return out


@host_app.command("add")
def host_add(
    uri: str = typer.Argument(..., help="libvirt URI, e.g. qemu:///system"),
    site: Annotated[
        list[str] | None,
        typer.Option(help="data-centre id, as the offers' sites name it; repeat for several"),
    ] = None,
    country: str | None = typer.Option(
        None, help="ISO 3166 country of the sites (default: the offers')"
    ),
    all_sites: bool = typer.Option(
        False, help="serve every site the offers name (one machine for all)"
    ),
    dedicated_to: str | None = typer.Option(None, help="client id the host is reserved for"),
    name: str | None = typer.Option(None, help="host name (default: from the URI)"),
    probe: bool = typer.Option(True, help="boot a tiny guest to see whether KVM works"),
) -> None:
    """Add a host: connect, read its capacity, run the KVM/TCG probe, record it. A URI
    already added gets the sites added to it (one machine is one host)."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        pairs = _sites(runtime, site or [], country, all_sites)
        with _db(runtime).unit() as session:
            known = hosts.find_by_uri(session, hosts.check_uri(uri))
            if known is not None:
                if (name and name != known.name) or (
                    dedicated_to and dedicated_to != known.dedicated_to
                ):
                    raise AlreadyExists(
                        f"{uri} is host {known.name}; change it with `nuages host set`"
                    )
                served = set(known.site_ids)
                new = [(s, c) for s, c in pairs if s not in served]
                if not new:
                    raise AlreadyExists(f"host {known.name} ({uri}) already serves those sites")
                host = hosts.add_sites(session, CLI, known.id, new)
                line, verb = _host_line(host), "sites added"
        if known is None:
            facts = hosts.inspect(runtime, uri, probe=probe)
            with _db(runtime).unit() as session:
                (first, first_country), *more = pairs
                host = hosts.register(
                    session,
                    CLI,
                    runtime,
                    uri=uri,
                    site=first,
                    country=first_country,
                    facts=facts,
                    dedicated_to=dedicated_to,
                    name=name,
                    more_sites=more,
                )
                line, verb = _host_line(host), "host added"
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    typer.echo(f"{verb}: {line}")


def _host_line(h: Host) -> str:
    sites = ",".join(f"{s.site}/{s.country}" for s in h.sites)
    return (
        f"{h.id}  {h.name}  {h.uri}  {h.state}  sites={sites}  "
        f"{h.vcpus} vCPU  {h.ram_mib} MiB  {h.disk_gib} GiB  accel={h.accel}  "
        f"ratios={h.cpu_ratio}/{h.ram_ratio}/{h.disk_ratio}"
        + (f"  dedicated={h.dedicated_to}" if h.dedicated_to else "")
        + ("" if h.reachable else "  UNREACHABLE")
    )


@host_app.command("list")
def host_list() -> None:
    """List the hosts, with their state and sites."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    with _db(runtime).unit() as session:
        rows, _total = hosts.list_hosts(session, CLI, 1, 200)
        lines = [_host_line(h) for h in rows]
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo("no host; add one with `nuages host add qemu:///system --all-sites`")


@host_app.command("set")
def host_set(
    host: str = typer.Argument(..., help="host name or id"),
    name: str | None = typer.Option(None, help="new name"),
    add_site: Annotated[
        list[str] | None, typer.Option(help="serve this site too; repeat for several")
    ] = None,
    country: str | None = typer.Option(
        None, help="country of the added sites (default: the offers')"
    ),
    remove_site: Annotated[list[str] | None, typer.Option(help="stop serving this site")] = None,
    dedicated_to: str | None = typer.Option(None, help="reserve the host for this client id"),
    shared: bool = typer.Option(False, help="make a dedicated host shared again"),
    cpu_ratio: str | None = typer.Option(None, help="vCPU overcommit ratio"),
    ram_ratio: str | None = typer.Option(None, help="RAM overcommit ratio"),
    disk_ratio: str | None = typer.Option(None, help="disk overcommit ratio"),
) -> None:
    """Change a host: name, sites, dedication, overcommit ratios."""
    from pydantic import ValidationError

    from nuages.compute import schemas
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        added = _sites(runtime, add_site, country, False) if add_site else []
        fields: dict[str, object] = {
            "name": name,
            "add_sites": [{"site": s, "country": c} for s, c in added],
            "remove_sites": remove_site or None,
            "cpu_ratio": cpu_ratio,
            "ram_ratio": ram_ratio,
            "disk_ratio": disk_ratio,
        }
        if shared and dedicated_to:
            raise ValidationFailed("--shared and --dedicated-to exclude each other")
        if shared or dedicated_to:
            fields["dedicated_to"] = dedicated_to
        try:
            body = schemas.HostUpdate(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(f"{where}: {first['msg']}") from None
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, CLI, host)
            line = _host_line(hosts.update(session, CLI, found.id, body))
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    typer.echo(f"host changed: {line}")


def _move(ref: str, target: HostState) -> None:
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, CLI, ref)
            line = _host_line(hosts.set_state(session, CLI, found.id, target))
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    typer.echo(f"host {target.value}: {line}")


@host_app.command("drain")
def host_drain(host: str = typer.Argument(..., help="host name or id")) -> None:
    """Stop placing new VMs on a host; its VMs run on (nothing is moved)."""
    _move(host, HostState.DRAINING)


@host_app.command("disable")
def host_disable(host: str = typer.Argument(..., help="host name or id")) -> None:
    """Take a host out of service: no placement, no reconciliation."""
    _move(host, HostState.DISABLED)


@host_app.command("enable")
def host_enable(host: str = typer.Argument(..., help="host name or id")) -> None:
    """Put a drained or disabled host back into service."""
    _move(host, HostState.ACTIVE)


@host_app.command("remove")
def host_remove(host: str = typer.Argument(..., help="host name or id")) -> None:
    """Remove a host no VM is left on (refused while one is)."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, CLI, host)
            label = f"{found.name} ({found.uri})"
            hosts.remove(session, CLI, found.id)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    typer.echo(f"host removed: {label}")


@image_app.command("build-tiny")
def image_build_tiny(
    name: str = typer.Option("nuages-tiny", help="image name"),
) -> None:
    """Build the tiny guest (Debian kernel, busybox, dropbear) and register it."""
    from nuages.compute.services import images
    from nuages.compute.tinyimage import ImageBuildError

    runtime = _runtime()
    try:
        tiny = images.build_tiny(runtime)
        with _db(runtime).unit() as session:
            image = images.register_tiny(session, CLI, tiny, name=name)
            line = f"{image.id}  {image.name}  {image.base_path}"
    except ImageBuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except NuagesError as exc:
        _fail(exc)
    typer.echo(f"image registered: {line}")


@image_app.command("import")
def image_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a qcow2 cloud image")],
    os: str = typer.Option(..., "--os", help="operating system, e.g. debian-12"),
    name: str | None = typer.Option(None, help="image name (default: the file's stem)"),
    client: str | None = typer.Option(None, help="client id, for a client's private image"),
) -> None:
    """Import a qcow2 cloud image (boots from disk, reads the NoCloud seed)."""
    from nuages.compute.services import images

    runtime = _runtime()
    name = name or file.stem.lower().replace("_", "-").replace(".", "-")
    try:
        with _db(runtime).unit() as session:
            images.check_free_name(session, name)
        dest = images.copy_cloud_image(runtime, file.resolve(), name)
        try:
            with _db(runtime).unit() as session:
                image = images.register_image(
                    session, CLI, name=name, os=os, boot_mode="disk", base=dest, client_id=client
                )
                line = f"{image.id}  {image.name}  {image.min_disk_gib} GiB  {dest}"
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    except NuagesError as exc:
        _fail(exc)
    typer.echo(f"image imported: {line}")


@image_app.command("list")
def image_list() -> None:
    """List the images."""
    from nuages.compute.services import images

    runtime = _runtime()
    with _db(runtime).unit() as session:
        rows, _total = images.list_images(session, CLI, 1, 200)
        lines = [
            f"{i.id}  {i.name}  os={i.os}  boot={i.boot_mode}  min_disk={i.min_disk_gib} GiB"
            + (f"  client={i.client_id}" if i.client_id else "")
            for i in rows
        ]
    for line in lines:
        typer.echo(line)


@compute_app.command("reconcile")
def reconcile() -> None:
    """Run one reconciliation pass now and print what it found."""
    from nuages.compute.services.reconcile import run_pass

    runtime = _runtime()
    try:
        report = run_pass(_db(runtime), runtime)
    finally:
        runtime.close()
    typer.echo(
        f"{report.hosts} host(s), {len(report.unreachable)} unreachable; "
        f"{report.vms_checked} VM(s) checked, {len(report.changed)} changed; "
        f"outages opened {len(report.outages_opened)}, closed {len(report.outages_closed)}"
    )
    for vm_id, before, after in report.changed:
        typer.echo(f"  VM {vm_id}: {before} -> {after}")
    for host_id, uuid, name in report.unknown_domains:
        typer.echo(f"  unknown domain on host {host_id}: {name} ({uuid}); left alone")


@compute_app.command("recover")
def recover() -> None:
    """Finish or roll back the VM operations a crash left running."""
    from nuages.compute.services.operations import recover_operations

    runtime = _runtime()
    try:
        results = recover_operations(_db(runtime), runtime)
    finally:
        runtime.close()
    for operation_id, outcome in results.items():
        typer.echo(f"operation {operation_id}: {outcome}")
    typer.echo(f"{len(results)} operation(s) looked at")


@compute_app.command("snapshots")
def snapshot_list(
    vm: Annotated[str, typer.Option("--vm", help="the VM's id")],
) -> None:
    """List a VM's snapshots with their size and expiry (002 §3)."""
    from nuages.compute.services import snapshots

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            rows = snapshots.list_snapshots(session, CLI, vm)
            lines = [
                f"{s.id}  {s.name}  {s.state}  "
                + (f"{s.size_bytes / 2**20:.1f} MiB" if s.size_bytes is not None else "-")
                + f"  taken {s.created_at:%Y-%m-%d %H:%M}Z  expires {s.expires_at:%Y-%m-%d %H:%M}Z"
                for s in rows
            ]
    except NuagesError as exc:
        _fail(exc)
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} snapshot(s)")


@compute_app.command("expire-snapshots")
def expire_snapshots() -> None:
    """Delete now the snapshots whose retention is over (the job does it every 15 min)."""
    from nuages.compute.services.snapshots import expire_snapshots as expire

    runtime = _runtime()
    try:
        removed = expire(_db(runtime), runtime)
    finally:
        runtime.close()
    for snapshot_id in removed:
        typer.echo(f"snapshot {snapshot_id}: expired, deleted")
    typer.echo(f"{len(removed)} snapshot(s) deleted")


# ---------------------------------------------------------------- nuages backup

backup_app = typer.Typer(help="VM backups on another site (002 §3.5).", no_args_is_help=True)
targets_app = typer.Typer(help="Backup targets: a directory per site.", no_args_is_help=True)
backup_app.add_typer(targets_app, name="targets")


@targets_app.command("add")
def target_add(
    name: Annotated[str, typer.Argument(help="a name for the target")],
    site: Annotated[str, typer.Option("--site", help="the site the directory is on")],
    path: Annotated[Path, typer.Option("--path", help="the directory (absolute)")],
) -> None:
    """Register a backup target of a site; VMs of other sites back up to it."""
    from nuages.compute.services import backups

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            target = backups.add_target(session, CLI, name=name, site=site, path=path)
            line = f"{target.id}  {target.name}  site={target.site}  {target.path}"
    except NuagesError as exc:
        _fail(exc)
    typer.echo(f"backup target added: {line}")


@targets_app.command("list")
def target_list() -> None:
    """List the backup targets."""
    from nuages.compute.services import backups

    runtime = _runtime()
    with _db(runtime).unit() as session:
        lines = [
            f"{t.id}  {t.name}  site={t.site}  {t.path}" for t in backups.list_targets(session, CLI)
        ]
    for line in lines:
        typer.echo(line)


@backup_app.command("run")
def backup_run(
    vm: Annotated[str | None, typer.Option("--vm", help="back this VM up now")] = None,
) -> None:
    """Ask for the backups due now (or of one VM, now), then destroy the expired ones."""
    from nuages.compute.services import backups
    from nuages.contracts.offers import OfferRegistry

    runtime = _runtime()
    registry = OfferRegistry.from_directory(runtime.settings.offers_dir)
    try:
        report = backups.run_due(_db(runtime), runtime, registry, CLI, vm_id=vm)
        removed = backups.expire(_db(runtime), runtime)
    finally:
        runtime.close()
    for backup_id in report.requested:
        typer.echo(f"backup {backup_id}: asked for")
    for vm_id, reason in report.refused.items():
        typer.echo(f"VM {vm_id}: not backed up: {reason}", err=True)
    typer.echo(f"{len(report.requested)} backup(s) asked for, {len(removed)} expired")
    if vm is not None and report.refused:
        raise typer.Exit(1)
