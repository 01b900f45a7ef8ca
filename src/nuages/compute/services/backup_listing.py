"""A VM's backups as they are kept: their row states, the listing with each backup's
real end (a chain goes whole with its last increment) and the volume they take
(002 §3.5: "volume de sauvegarde par VM affiché")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import Vm, VmBackup
from nuages.compute.services import access
from nuages.contracts.models import Contract
from nuages.kernel.access import get_visible

CREATING, READY, FAILED, DELETED = "creating", "ready", "failed", "deleted"
LIVE = (CREATING, READY)


@dataclass
class Listing:
    """A VM's backups and the volume they take (002 §3.5: shown per VM)."""

    items: list[VmBackup] = field(default_factory=list)
    volume_bytes: int = 0
    # When each backup really goes: its own expiry, or later while an increment on it
    # lives (the chain goes whole with its last increment).
    kept_until: dict[str, dt.datetime] = field(default_factory=dict)


def list_backups(session: Session, actor: Principal, vm_id: str) -> Listing:
    """The VM's backups being taken or kept, newest first, and their volume."""
    vm = access.load_vm(session, actor, vm_id)
    items = list(
        session.execute(
            select(VmBackup)
            .where(VmBackup.vm_id == vm.id, VmBackup.state.in_(LIVE))
            .order_by(VmBackup.created_at.desc(), VmBackup.id)
        ).scalars()
    )
    return Listing(items, sum(b.size_bytes or 0 for b in items), kept_until(items))


def kept_until(items: list[VmBackup]) -> dict[str, dt.datetime]:
    """Each backup's end: the latest expiry among it and the increments on it."""
    ends = {b.id: b.expires_at for b in items}
    for b in sorted(items, key=lambda x: x.created_at, reverse=True):
        if b.parent_id in ends:
            ends[b.parent_id] = max(ends[b.parent_id], ends[b.id])
    return ends


@dataclass
class ContractVolume:
    """What a contract's backups take (002 §3.5 "volume de sauvegarde par VM
    affiché"): in all and per VM (only VMs with backups kept)."""

    contract_id: str
    volume_bytes: int
    vms: dict[str, int]
    names: dict[str, str]  # each listed VM's name (the portal shows VMs by name)


def contract_volumes(session: Session, actor: Principal, contract_id: str) -> ContractVolume:
    """The backup volume of a contract the caller may see (another client's: 404)."""
    actor.require(Scope.READ)
    contract = get_visible(session, actor, Contract, contract_id, "contract")
    rows = session.execute(
        select(VmBackup.vm_id, Vm.name, func.coalesce(func.sum(VmBackup.size_bytes), 0))
        .join(Vm, Vm.id == VmBackup.vm_id)
        .where(Vm.contract_id == contract.id, VmBackup.state.in_(LIVE))
        .group_by(VmBackup.vm_id, Vm.name)
        .order_by(VmBackup.vm_id)
    ).all()
    per_vm = {str(vm_id): int(total or 0) for vm_id, _name, total in rows}
    names = {str(vm_id): str(name) for vm_id, name, _total in rows}
    return ContractVolume(contract.id, sum(per_vm.values()), per_vm, names)


def contract_volume(session: Session, contract_id: str) -> int:
    """Bytes the ready backups of a contract's VMs take (002 §3.5)."""
    total = session.execute(
        select(func.coalesce(func.sum(VmBackup.size_bytes), 0))
        .select_from(VmBackup)
        .join(Vm, Vm.id == VmBackup.vm_id)
        .where(Vm.contract_id == contract_id, VmBackup.state == READY)
    ).scalar_one()
    return int(total or 0)
