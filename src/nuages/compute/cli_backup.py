"""``nuages backup``: VM backups on another site (002 §3.5), for the operator.

Same conventions as :mod:`nuages.compute.cli` (one line per object, ``--json``, errors
on stderr, services imported inside the commands so that ``--help`` starts fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nuages import cli_output as out
from nuages.compute.cli_common import _cli, _db, _fail, _runtime
from nuages.kernel.errors import NuagesError

backup_app = typer.Typer(help="VM backups on another site (002 §3.5).", no_args_is_help=True)
targets_app = typer.Typer(help="Backup targets: a directory per site.", no_args_is_help=True)
backup_app.add_typer(targets_app, name="targets")


@targets_app.command("add")
def target_add(
    name: Annotated[str, typer.Argument(help="a name for the target")],
    site: Annotated[str, typer.Option("--site", help="the site the directory is on")],
    path: Annotated[Path, typer.Option("--path", help="the directory (absolute)")],
    as_json: bool = out.JSON,
) -> None:
    """Register a backup target of a site; VMs of other sites back up to it."""
    from nuages.compute.services import backups

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            target = backups.add_target(session, _cli(), name=name, site=site, path=path)
            row = {"id": target.id, "name": target.name, "site": target.site,
                   "path": str(target.path)}  # fmt: skip
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    line = f"{row['id']}  {row['name']}  site={row['site']}  {row['path']}"
    out.emit(row, as_json, f"backup target added: {line}")


@targets_app.command("list")
def target_list(as_json: bool = out.JSON) -> None:
    """List the backup targets."""
    from nuages.compute.services import backups

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            rows = [
                {"id": t.id, "name": t.name, "site": t.site, "path": str(t.path)}
                for t in backups.list_targets(session, _cli())
            ]
    finally:
        runtime.close()
    lines = [f"{r['id']}  {r['name']}  site={r['site']}  {r['path']}" for r in rows]
    out.emit({"targets": rows}, as_json, lines)


@backup_app.command("run")
def backup_run(
    vm: Annotated[str | None, typer.Option("--vm", help="back this VM up now")] = None,
    as_json: bool = out.JSON,
) -> None:
    """Ask for the backups due now (or of one VM, now), then destroy the expired ones."""
    from nuages.compute.services import backups
    from nuages.contracts.offers import OfferRegistry

    runtime = _runtime()
    registry = OfferRegistry.from_directory(runtime.settings.offers_dir)
    try:
        report = backups.run_due(_db(runtime), runtime, registry, _cli(), vm_id=vm)
        removed = backups.expire(_db(runtime), runtime)
    finally:
        runtime.close()
    data = {"requested": report.requested, "refused": report.refused, "expired": removed}
    lines = [f"backup {backup_id}: asked for" for backup_id in report.requested]
    lines.append(f"{len(report.requested)} backup(s) asked for, {len(removed)} expired")
    out.emit(data, as_json, lines)
    for vm_id, reason in report.refused.items():
        typer.echo(f"VM {vm_id}: not backed up: {reason}", err=True)
    if vm is not None and report.refused:
        raise typer.Exit(out.EXIT_REFUSED)


def _backup_row(b: Any, kept_until: Any = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "vm_id": b.vm_id,
        "state": b.state,
        "kind": b.kind,
        "parent_id": b.parent_id,
        "size_bytes": b.size_bytes,
        "checksum": b.checksum or (f"sha256:{b.sha256}" if b.sha256 else None),
        "created_at": b.created_at.isoformat(),
        "expires_at": b.expires_at.isoformat(),
        "kept_until": (kept_until or b.expires_at).isoformat(),
    }


@backup_app.command("list")
def backup_list(
    vm: Annotated[str, typer.Argument(help="the VM's id")],
    as_json: bool = out.JSON,
) -> None:
    """List a VM's backups, newest first, with kind, size and end, and their volume."""
    from nuages.compute.services import backups

    runtime = _runtime()
    try:
        with _db(runtime).unit(readonly=True) as session:
            listing = backups.list_backups(session, _cli(), vm)
            rows = [_backup_row(b, listing.kept_until.get(b.id)) for b in listing.items]
            volume = listing.volume_bytes
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    lines = [
        f"{r['id']}  {r['state']}  {r['kind']}  {(r['size_bytes'] or 0) / 2**20:.1f} MiB  "
        f"taken {r['created_at']}  kept until {r['kept_until']}"
        for r in rows
    ]
    lines.append(f"{len(rows)} backup(s), {volume / 2**20:.1f} MiB")
    out.emit({"items": rows, "volume_bytes": volume}, as_json, lines)


@backup_app.command("restore")
def backup_restore(
    vm: Annotated[str, typer.Argument(help="the VM's id")],
    backup: Annotated[str, typer.Argument(help="the id of one of its backups")],
    as_new: Annotated[
        str | None,
        typer.Option("--as-new", help="restore as a new VM of this name; the VM stays as it is"),
    ] = None,
    as_json: bool = out.JSON,
) -> None:
    """Restore a VM to one of its backups (000 §5: the VM stops, its disk is replaced,
    it starts again if it ran), or with ``--as-new NAME`` as a new VM on the same
    contract; answered with the operation to follow (``GET /operations/{id}``)."""
    from nuages.compute.services import backups
    from nuages.contracts.offers import OfferRegistry

    runtime = _runtime()
    try:
        with _db(runtime).unit() as session:
            if as_new is None:
                found, target, operation = backups.restore_backup(
                    session, _cli(), runtime, vm, backup
                )
            else:
                registry = OfferRegistry.from_directory(runtime.settings.offers_dir)
                found, target, operation = backups.restore_as_new_vm(
                    session, _cli(), runtime, registry, vm, backup, as_new
                )
            row = {
                "operation_id": operation.id,
                "kind": operation.kind,
                "vm_id": target.id,
                "backup_id": found.id,
            }
    except NuagesError as exc:
        _fail(exc)
    finally:
        runtime.close()
    what = f"new VM {row['vm_id']}" if as_new else f"VM {row['vm_id']}"
    out.emit(
        row, as_json, f"restore of {what} from backup {backup}: operation {row['operation_id']}"
    )
