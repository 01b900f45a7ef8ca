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
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
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


@host_app.command("add")
def host_add(
    uri: str = typer.Argument(..., help="libvirt URI, e.g. qemu:///system"),
    site: str = typer.Option(..., help="data-centre id, as the offers' sites name it"),
    country: str = typer.Option(..., help="ISO 3166 country code, e.g. BE"),
    dedicated_to: str | None = typer.Option(None, help="client id the host is reserved for"),
    name: str | None = typer.Option(None, help="host name (default: from the URI)"),
    probe: bool = typer.Option(True, help="boot a tiny guest to see whether KVM works"),
) -> None:
    """Add a host: connect, read its capacity, run the KVM/TCG probe, record it."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    try:
        facts = hosts.inspect(runtime, uri, probe=probe)
        with _db(runtime).unit() as session:
            host = hosts.register(
                session,
                CLI,
                runtime,
                uri=uri,
                site=site,
                country=country.upper(),
                facts=facts,
                dedicated_to=dedicated_to,
                name=name,
            )
            line = _host_line(host)
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    typer.echo(f"host added: {line}")


def _host_line(h: Host) -> str:
    return (
        f"{h.id}  {h.name}  {h.uri}  site={h.site} country={h.country}  "
        f"{h.vcpus} vCPU  {h.ram_mib} MiB  {h.disk_gib} GiB  accel={h.accel}"
        + (f"  dedicated={h.dedicated_to}" if h.dedicated_to else "")
        + ("" if h.reachable else "  UNREACHABLE")
    )


@host_app.command("list")
def host_list() -> None:
    """List the hosts."""
    from nuages.compute.services import hosts

    runtime = _runtime()
    with _db(runtime).unit() as session:
        rows, _total = hosts.list_hosts(session, CLI, 1, 200)
        lines = [_host_line(h) for h in rows]
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo("no host; add one with `nuages host add qemu:///system --site … --country …`")


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
