"""``nuages host``, ``nuages image`` and ``nuages compute``: the operator's compute edge.

Each command parses its arguments, calls the compute services as provider staff and
prints one line per object (``--json``: one JSON document); errors print one line on
stderr and exit 1 (2 for bad arguments). The services (and libvirt) are imported inside
the commands so that ``--help`` starts fast (issue #19).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nuages import cli_output as out
from nuages.compute.cli_common import _cli, _db, _fail, _runtime
from nuages.kernel.errors import AlreadyExists, NuagesError, ValidationFailed

if TYPE_CHECKING:
    from nuages.compute.models import Host
    from nuages.compute.runtime import ComputeRuntime

host_app = typer.Typer(help="Hypervisor hosts.", no_args_is_help=True)
image_app = typer.Typer(help="Bootable images.", no_args_is_help=True)
compute_app = typer.Typer(help="Reconciliation and crash recovery.", no_args_is_help=True)


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
    as_json: bool = out.JSON,
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
                host = hosts.add_sites(session, _cli(), known.id, new)
                line, verb, row = _host_line(host), "sites added", _host_row(host)
        if known is None:
            with out.progress(
                f"host add {uri}", interrupted="nothing was recorded", ticker=True
            ) as bar:
                bar.step("connecting, reading capacity" + (", KVM/TCG probe" if probe else ""))
                facts = hosts.inspect(runtime, uri, probe=probe)
            with _db(runtime).unit() as session:
                (first, first_country), *more = pairs
                host = hosts.register(
                    session,
                    _cli(),
                    runtime,
                    uri=uri,
                    site=first,
                    country=first_country,
                    facts=facts,
                    dedicated_to=dedicated_to,
                    name=name,
                    more_sites=more,
                )
                line, verb, row = _host_line(host), "host added", _host_row(host)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit({**row, "done": verb}, as_json, f"{verb}: {line}")


def _host_row(h: Host) -> dict[str, Any]:
    return {
        "id": h.id,
        "name": h.name,
        "uri": h.uri,
        "state": h.state,
        "sites": [{"site": s.site, "country": s.country} for s in h.sites],
        "vcpus": h.vcpus,
        "ram_mib": h.ram_mib,
        "disk_gib": h.disk_gib,
        "accel": h.accel,
        "cpu_ratio": h.cpu_ratio,
        "ram_ratio": h.ram_ratio,
        "disk_ratio": h.disk_ratio,
        "dedicated_to": h.dedicated_to,
        "reachable": h.reachable,
    }


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
def host_list(as_json: bool = out.JSON) -> None:
    """List the hosts, with their state and sites."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    with _db(runtime).unit() as session:
        found, _total = hosts.list_hosts(session, _cli(), 1, 200)
        lines = [_host_line(h) for h in found]
        rows = [_host_row(h) for h in found]
    runtime.close()
    if not lines:
        lines = ["no host; add one with `nuages host add qemu:///system --all-sites`"]
    out.emit(rows, as_json, lines)


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
    as_json: bool = out.JSON,
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
            found = hosts.resolve(session, _cli(), host)
            changed = hosts.update(session, _cli(), found.id, body)
            line, row = _host_line(changed), _host_row(changed)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit(row, as_json, f"host changed: {line}")


def _move(ref: str, state: str, as_json: bool) -> None:
    from nuages.compute.services import hosts
    from nuages.compute.states import HostState

    target = HostState(state)

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, _cli(), ref)
            changed = hosts.set_state(session, _cli(), found.id, target)
            line, row = _host_line(changed), _host_row(changed)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit(row, as_json, f"host {target.value}: {line}")


@host_app.command("drain")
def host_drain(
    host: str = typer.Argument(..., help="host name or id"), as_json: bool = out.JSON
) -> None:
    """Stop placing new VMs on a host; its VMs run on (nothing is moved)."""
    _move(host, "draining", as_json)


@host_app.command("disable")
def host_disable(
    host: str = typer.Argument(..., help="host name or id"), as_json: bool = out.JSON
) -> None:
    """Take a host out of service: no placement, no reconciliation."""
    _move(host, "disabled", as_json)


@host_app.command("enable")
def host_enable(
    host: str = typer.Argument(..., help="host name or id"), as_json: bool = out.JSON
) -> None:
    """Put a drained or disabled host back into service."""
    _move(host, "active", as_json)


@host_app.command("refresh")
def host_refresh(
    host: str = typer.Argument(..., help="host name or id"), as_json: bool = out.JSON
) -> None:
    """Read a host's size (vCPUs, RAM, disk) again from libvirt and record it when it
    moved; VMs already placed stay."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, _cli(), host)
            done = hosts.refresh(session, _cli(), runtime, found.id)
            line, row = _host_line(done.host), _host_row(done.host)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    moved = ", ".join(f"{k} {a} → {b}" for k, (a, b) in done.changes.items())
    verb = f"host resized ({moved})" if moved else "host unchanged"
    out.emit({**row, "changes": done.changes}, as_json, f"{verb}: {line}")


@host_app.command("remove")
def host_remove(
    host: str = typer.Argument(..., help="host name or id"), as_json: bool = out.JSON
) -> None:
    """Remove a host no VM is left on (refused while one is)."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            found = hosts.resolve(session, _cli(), host)
            label = f"{found.name} ({found.uri})"
            row = {"id": found.id, "name": found.name, "uri": found.uri, "removed": True}
            hosts.remove(session, _cli(), found.id)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit(row, as_json, f"host removed: {label}")


@image_app.command("build-tiny")
def image_build_tiny(
    name: str = typer.Option("nuages-tiny", help="image name"),
    as_json: bool = out.JSON,
) -> None:
    """Build the tiny guest (Debian kernel, busybox, dropbear) and register it."""
    from nuages.compute.services import images
    from nuages.compute.tinyimage import ImageBuildError

    runtime = _runtime()
    try:
        with out.progress(
            "building the tiny image", interrupted="no image was registered", ticker=True
        ) as bar:
            bar.step("kernel, busybox, dropbear, initramfs")
            tiny = images.build_tiny(runtime)
        with _db(runtime).unit() as session:
            image = images.register_tiny(session, _cli(), tiny, name=name)
            line = f"{image.id}  {image.name}  {image.base_path}"
            row = {"id": image.id, "name": image.name, "base_path": image.base_path}
    except ImageBuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit(row, as_json, f"image registered: {line}")


@image_app.command("import")
def image_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a qcow2 cloud image")],
    os: str = typer.Option(..., "--os", help="operating system, e.g. debian-12"),
    name: str | None = typer.Option(None, help="image name (default: the file's stem)"),
    client: str | None = typer.Option(None, help="client id, for a client's private image"),
    as_json: bool = out.JSON,
) -> None:
    """Import a qcow2 cloud image (boots from disk, reads the NoCloud seed)."""
    from nuages.compute.services import images

    runtime = _runtime()
    name = name or file.stem.lower().replace("_", "-").replace(".", "-")
    try:
        with _db(runtime).unit() as session:
            images.check_free_name(session, name)
        target = runtime.images_dir / f"{name}.qcow2"  # where copy_cloud_image writes
        stopped = _remove_on_interrupt(target)
        with (
            stopped,
            out.progress(
                f"copying {file.name}",
                "MiB written",
                total=max(file.stat().st_size // 2**20, 1),
                interrupted="no image was registered",
                ticker=True,
                poll=lambda: target.stat().st_size // 2**20,
            ),
        ):
            dest = images.copy_cloud_image(runtime, file.resolve(), name)
        try:
            with _db(runtime).unit() as session:
                image = images.register_image(
                    session, _cli(), name=name, os=os, boot_mode="disk", base=dest, client_id=client
                )
                line = f"{image.id}  {image.name}  {image.min_disk_gib} GiB  {dest}"
                row = {
                    "id": image.id,
                    "name": image.name,
                    "min_disk_gib": image.min_disk_gib,
                    "base_path": dest,
                }
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    out.emit(row, as_json, f"image imported: {line}")


@contextmanager
def _remove_on_interrupt(target: Path) -> Iterator[None]:
    """Ctrl-C during a copy: remove the half-written file (a re-run would find it)."""
    existed = target.exists()
    try:
        yield
    except typer.Exit as stop:
        if stop.exit_code == out.EXIT_INTERRUPTED and not existed:
            target.unlink(missing_ok=True)
        raise


@image_app.command("list")
def image_list(as_json: bool = out.JSON) -> None:
    """List the images."""
    from nuages.compute.services import images

    runtime = _runtime()
    with _db(runtime).unit() as session:
        found, _total = images.list_images(session, _cli(), 1, 200)
        lines = [
            f"{i.id}  {i.name}  os={i.os}  boot={i.boot_mode}  min_disk={i.min_disk_gib} GiB"
            + (f"  client={i.client_id}" if i.client_id else "")
            for i in found
        ]
        rows = [
            {
                "id": i.id,
                "name": i.name,
                "os": i.os,
                "boot_mode": i.boot_mode,
                "min_disk_gib": i.min_disk_gib,
                "client_id": i.client_id,
            }
            for i in found
        ]
    runtime.close()
    out.emit(rows, as_json, lines)


@compute_app.command("reconcile")
def reconcile(as_json: bool = out.JSON) -> None:
    """Run one reconciliation pass now and print what it found."""
    from nuages.compute.services.reconcile import run_pass

    runtime = _runtime()
    try:
        with out.progress("reconciling", interrupted="nothing half-written", ticker=True) as bar:
            bar.step("hosts and VMs")
            report = run_pass(_db(runtime), runtime)
    finally:
        runtime.close()
    if as_json:
        out.emit(
            {
                "hosts": report.hosts,
                "unreachable": report.unreachable,
                "vms_checked": report.vms_checked,
                "changed": [
                    {"vm": vm, "before": before, "after": after}
                    for vm, before, after in report.changed
                ],
                "outages_opened": report.outages_opened,
                "outages_closed": report.outages_closed,
                "unknown_domains": [
                    {"host": h, "uuid": u, "name": n} for h, u, n in report.unknown_domains
                ],
            },
            True,
        )
        return
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
def recover(as_json: bool = out.JSON) -> None:
    """Finish or roll back the VM operations a crash left running."""
    from nuages.compute.services.operations import recover_operations

    runtime = _runtime()
    try:
        with out.progress("recovering operations", ticker=True) as bar:
            bar.step("operations left running")
            results = recover_operations(_db(runtime), runtime)
    finally:
        runtime.close()
    if as_json:
        out.emit({"operations": results}, True)
        return
    for operation_id, outcome in results.items():
        typer.echo(f"operation {operation_id}: {outcome}")
    typer.echo(f"{len(results)} operation(s) looked at")


@compute_app.command("snapshots")
def snapshot_list(
    vm: Annotated[str, typer.Option("--vm", help="the VM's id")],
    as_json: bool = out.JSON,
) -> None:
    """List a VM's snapshots with their size and expiry (002 §3)."""
    from nuages.compute.services import snapshots

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            rows: list[dict[str, Any]] = [
                {
                    "id": s.id,
                    "name": s.name,
                    "state": s.state,
                    "size_bytes": s.size_bytes,
                    "created_at": s.created_at,
                    "expires_at": s.expires_at,
                }
                for s in snapshots.list_snapshots(session, _cli(), vm)
            ]
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    lines = [
        f"{r['id']}  {r['name']}  {r['state']}  "
        + (f"{r['size_bytes'] / 2**20:.1f} MiB" if r["size_bytes"] is not None else "-")
        + f"  taken {r['created_at']:%Y-%m-%d %H:%M}Z  expires {r['expires_at']:%Y-%m-%d %H:%M}Z"
        for r in rows
    ]
    out.emit({"snapshots": rows}, as_json, [*lines, f"{len(rows)} snapshot(s)"])


@compute_app.command("expire-snapshots")
def expire_snapshots(as_json: bool = out.JSON) -> None:
    """Delete now the snapshots whose retention is over (the job does it every 15 min)."""
    from nuages.compute.services.snapshots import expire_snapshots as expire

    runtime = _runtime()
    try:
        removed = expire(_db(runtime), runtime)
    finally:
        runtime.close()
    lines = [f"snapshot {snapshot_id}: expired, deleted" for snapshot_id in removed]
    out.emit({"deleted": removed}, as_json, [*lines, f"{len(removed)} snapshot(s) deleted"])
