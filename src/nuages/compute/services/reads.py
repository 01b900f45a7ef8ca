"""What compute tells other slices about VMs, as plain values (billing, invoicing): they
read VMs through these functions instead of compute's tables, so the table can change
without them. Bulk metering keeps its own SQL for speed (``billing/metering.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Vm, VmBackupOption


@dataclass(frozen=True)
class VmFacts:
    """A VM as billing and invoicing see it."""

    id: str
    name: str
    client_id: str
    contract_id: str
    flavour_id: str
    vm_state: str
    suspended_reason: str | None
    activated_at: dt.datetime | None
    deleted_at: dt.datetime | None


_COLUMNS = (
    Vm.id,
    Vm.name,
    Vm.client_id,
    Vm.contract_id,
    Vm.flavour_id,
    Vm.vm_state,
    Vm.suspended_reason,
    Vm.activated_at,
    Vm.deleted_at,
)


def contract_vms(
    session: Session, contract_id: str, *, include_deleted: bool = True
) -> list[VmFacts]:
    """The contract's VMs that were ever activated (deleted ones too unless told),
    oldest first."""
    stmt = (
        select(*_COLUMNS)
        .where(Vm.contract_id == contract_id, Vm.activated_at.is_not(None))
        .order_by(Vm.created_at, Vm.id)
    )
    if not include_deleted:
        stmt = stmt.where(Vm.deleted_at.is_(None))
    return [VmFacts(*row) for row in session.execute(stmt).tuples()]


def vms_by_id(session: Session, vm_ids: list[str]) -> list[VmFacts]:
    """The VMs named (unknown ids are left out)."""
    if not vm_ids:
        return []
    return [
        VmFacts(*row)
        for row in session.execute(select(*_COLUMNS).where(Vm.id.in_(vm_ids))).tuples()
    ]


def vm(session: Session, vm_id: str) -> VmFacts | None:
    """One VM, or None."""
    found = vms_by_id(session, [vm_id])
    return found[0] if found else None


def running_on_hosts(session: Session, contract_id: str) -> list[tuple[str, str]]:
    """(VM id, host URI) of the contract's own running VMs (not an extension's): what
    billing's CPU policy samples (000 §8)."""
    from nuages.compute.models import Host
    from nuages.compute.states import VmState

    rows = session.execute(
        select(Vm.id, Host.uri)
        .join(Host, Host.id == Vm.host_id)
        .where(
            Vm.contract_id == contract_id,
            Vm.extension_id.is_(None),
            Vm.vm_state == VmState.RUNNING.value,
        )
    ).tuples()
    return [(vm_id, uri) for vm_id, uri in rows]


@dataclass(frozen=True)
class BackupOptionFacts:
    """The days a VM had a backup option (002 §3.5), as invoicing bills them: ``until``
    is when it ended, or the VM's deletion, or None while it runs."""

    id: str
    vm_id: str
    vm_name: str
    option_id: str
    since: dt.datetime
    until: dt.datetime | None


def contract_backup_options(session: Session, contract_id: str) -> list[BackupOptionFacts]:
    """Every backup option period of the contract's VMs, oldest first."""
    stmt = (
        select(VmBackupOption, Vm.name, Vm.deleted_at)
        .join(Vm, Vm.id == VmBackupOption.vm_id)
        .where(VmBackupOption.contract_id == contract_id)
        .order_by(VmBackupOption.since, VmBackupOption.id)
    )
    out = []
    for row, name, deleted_at in session.execute(stmt).tuples():
        ends = [t for t in (row.until, deleted_at) if t is not None]
        out.append(
            BackupOptionFacts(
                row.id, row.vm_id, name, row.option_id, row.since, min(ends) if ends else None
            )
        )
    return out
