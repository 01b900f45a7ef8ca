"""Backup targets (002 §3.5): a directory of one site, registered by provider staff; a
VM's backups go only to a target on a site its host does not serve."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import BackupTarget, Host, Vm
from nuages.history import service as history
from nuages.kernel.errors import AlreadyExists, Conflict, Forbidden, ValidationFailed


def _staff(actor: Principal) -> None:
    actor.require(Scope.ADMIN)
    if not actor.is_staff:
        raise Forbidden("only provider staff manage backup targets")


def add_target(
    session: Session, actor: Principal, *, name: str, site: str, path: Path
) -> BackupTarget:
    """Register a backup target: a directory of ``site`` (created if missing)."""
    _staff(actor)
    if not path.is_absolute():
        raise ValidationFailed(f"path: {path} must be absolute")
    if session.execute(select(BackupTarget.id).where(BackupTarget.name == name)).first():
        raise AlreadyExists(f"a backup target named {name} exists")
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o711)  # QEMU's user writes live copies below it; nobody lists it
    target = BackupTarget(name=name, site=site, path=str(path))
    session.add(target)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="backup_target",
        object_id=target.id,
        action="backup_target.add",
        params={"name": name, "site": site, "path": str(path)},
    )
    return target


def list_targets(session: Session, actor: Principal) -> list[BackupTarget]:
    """Every backup target, by site and name."""
    _staff(actor)
    stmt = select(BackupTarget).order_by(BackupTarget.site, BackupTarget.name)
    return list(session.execute(stmt).scalars())


def vm_sites(session: Session, vm: Vm) -> list[str]:
    """The sites of the VM's host (a host may serve several: all of them are "the VM's
    site" for the 002 §3.5 rule)."""
    host = session.get(Host, vm.host_id) if vm.host_id else None
    return host.site_ids if host is not None else []


def target_for(session: Session, vm: Vm) -> BackupTarget:
    """The target a VM's backups go to: the first (by name) on a site its host does
    not serve; ``Conflict`` saying so when there is none (002 §3.5)."""
    sites = vm_sites(session, vm)
    stmt = select(BackupTarget).order_by(BackupTarget.name)
    if sites:
        stmt = stmt.where(BackupTarget.site.not_in(sites))
    found = session.execute(stmt).scalars().first()
    if found is None:
        raise Conflict(
            f"no backup target outside site(s) {', '.join(sites) or '-'}: backups are kept "
            "in another data centre than the VM (002 §3.5); an operator adds one with "
            "`nuages backup targets add`"
        )
    return found
