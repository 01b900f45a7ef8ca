"""What compute tells other slices about VMs, as plain values (billing, invoicing): they
read VMs through these functions instead of compute's tables, so the table can change
without them. Metering joins its own tables onto ``vms_during`` (a selectable, so the
database still does the work in one statement); bulk metering's whole-hour ``INSERT …
SELECT`` keeps its own SQL for speed (``billing/bulkmeter.py``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    Subquery,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from nuages.compute.models import HostSite, Operation, Vm, VmBackupOption
from nuages.compute.states import VmState


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
    vcpus: int
    ram_mib: int
    disk_gib: int
    image_id: str | None
    host_id: str | None
    task_state: str | None
    extension_id: str | None


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
    Vm.vcpus,
    Vm.ram_mib,
    Vm.disk_gib,
    Vm.image_id,
    Vm.host_id,
    Vm.task_state,
    Vm.extension_id,
)


def _facts(row: Any) -> VmFacts:
    # One row of ``_COLUMNS`` (more columns than SQLAlchemy's typed ``select`` spells).
    return VmFacts(*row)


def contract_vms(
    session: Session, contract_id: str, *, include_deleted: bool = True
) -> list[VmFacts]:
    """The contract's VMs that were ever activated (deleted ones too unless told),
    oldest first."""
    stmt = _ever_activated([contract_id])
    if not include_deleted:
        stmt = stmt.where(Vm.deleted_at.is_(None))
    return [_facts(row) for row in session.execute(stmt).tuples()]


def _ever_activated(contract_ids: Sequence[str]) -> Select[*tuple[Any, ...]]:
    return (
        select(*_COLUMNS)
        .where(Vm.contract_id.in_(list(contract_ids)), Vm.activated_at.is_not(None))
        .order_by(Vm.created_at, Vm.id)
    )


def contracts_vms(session: Session, contract_ids: Sequence[str]) -> dict[str, list[VmFacts]]:
    """``contract_vms`` of several contracts in one statement (an invoicing run's chunk),
    each contract's VMs in the same order."""
    out: dict[str, list[VmFacts]] = {}
    for row in session.execute(_ever_activated(contract_ids)).tuples():
        vm = _facts(row)
        out.setdefault(vm.contract_id, []).append(vm)
    return out


def vms_by_id(session: Session, vm_ids: list[str]) -> list[VmFacts]:
    """The VMs named (unknown ids are left out)."""
    if not vm_ids:
        return []
    return [
        _facts(row) for row in session.execute(select(*_COLUMNS).where(Vm.id.in_(vm_ids))).tuples()
    ]


def vm(session: Session, vm_id: str) -> VmFacts | None:
    """One VM, or None."""
    found = vms_by_id(session, [vm_id])
    return found[0] if found else None


def running_on_hosts(session: Session, contract_id: str) -> list[tuple[str, str]]:
    """(VM id, host URI) of the contract's own running VMs (not an extension's): what
    billing's CPU policy samples (000 §8)."""
    from nuages.compute.models import Host

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


def model_vm(session: Session, contract_id: str) -> VmFacts | None:
    """The contract's newest VM of its own (not an extension's, not deleted): what an
    extension's extra VMs copy (000 §8)."""
    row = session.execute(
        select(*_COLUMNS)
        .where(
            Vm.contract_id == contract_id,
            Vm.extension_id.is_(None),
            Vm.vm_state != VmState.DELETED.value,
        )
        .order_by(Vm.created_at.desc(), Vm.id.desc())
        .limit(1)
    ).first()
    return _facts(row) if row is not None else None


def created_with_keys(session: Session, vm_id: str) -> list[str]:
    """The SSH key ids the VM was created with (its create operation's parameters)."""
    params = session.execute(
        select(Operation.params).where(Operation.vm_id == vm_id, Operation.kind == "create")
    ).scalar()
    return [str(i) for i in json.loads(params or "{}").get("key_ids", [])]


def extension_state_counts(session: Session, extension_id: str) -> dict[str, int]:
    """How many of an extension's VMs are in each state (deleted ones too)."""
    rows = session.execute(
        select(Vm.vm_state, func.count())
        .where(Vm.extension_id == extension_id)
        .group_by(Vm.vm_state)
    ).tuples()
    return {state: count for state, count in rows}


def extension_vms(session: Session, extension_id: str) -> list[VmFacts]:
    """An extension's VMs not deleted yet."""
    rows = session.execute(
        select(*_COLUMNS).where(
            Vm.extension_id == extension_id, Vm.vm_state != VmState.DELETED.value
        )
    ).tuples()
    return [_facts(row) for row in rows]


def vms_during(start: dt.datetime, end: dt.datetime) -> Subquery:
    """A selectable of the VMs activated and not deleted at some time in ``[start,
    end)`` (columns ``id, contract_id, client_id, flavour_id, vm_state,
    suspended_reason, activated_at, deleted_at, extension_id``), for metering to join
    its own tables onto: one statement, the database filters."""
    return (
        select(
            Vm.id,
            Vm.contract_id,
            Vm.client_id,
            Vm.flavour_id,
            Vm.vm_state,
            Vm.suspended_reason,
            Vm.activated_at,
            Vm.deleted_at,
            Vm.extension_id,
        )
        .where(
            Vm.activated_at.is_not(None),
            Vm.activated_at < end,
            or_(Vm.deleted_at.is_(None), Vm.deleted_at > start),
        )
        .subquery("v")
    )


def came_or_left(v: Subquery, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """The condition on ``vms_during(start, end)`` for VMs not there all of the window."""
    return or_(v.c.activated_at > start, and_(v.c.deleted_at.is_not(None), v.c.deleted_at <= end))


def flavours_by_id(session: Session, vm_ids: list[str]) -> dict[str, str]:
    """VM id → its own flavour id."""
    if not vm_ids:
        return {}
    rows = session.execute(select(Vm.id, Vm.flavour_id).where(Vm.id.in_(vm_ids))).tuples()
    return dict(rows.all())


def first_activation(contract_ids: Select[tuple[str]]) -> ScalarSelect[dt.datetime | None]:
    """A scalar subquery: the earliest activation of a VM of the contracts selected by
    ``contract_ids`` (a selectable of contract ids)."""
    return (
        select(func.min(Vm.activated_at)).where(Vm.contract_id.in_(contract_ids)).scalar_subquery()
    )


# The VMs present for the whole window [:start, :end) that no extension created, as the
# SQL billing's bulk metering selects from (``FROM ({PRESENT_FOR_WINDOW_SQL}) v``): the
# whole-hour insert stays one statement in the database while compute alone names its
# table and columns (issue #10: billing reads compute only through what compute exports).
PRESENT_FOR_WINDOW_SQL = """SELECT id, contract_id, client_id, flavour_id, vm_state,
    suspended_reason
FROM vms
WHERE extension_id IS NULL AND activated_at IS NOT NULL AND activated_at <= :start
  AND (deleted_at IS NULL OR deleted_at > :end)"""

_ID_BOUNDS_SQL = """
SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM vms) AS numbered
WHERE n % :size = 0 ORDER BY id"""


def id_bounds(session: Session, size: int) -> list[str]:
    """Every ``size``-th VM id in id order: range limits of about ``size`` VMs each."""
    return list(session.execute(text(_ID_BOUNDS_SQL), {"size": size}).scalars())


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
    return contracts_backup_options(session, [contract_id]).get(contract_id, [])


def contracts_backup_options(
    session: Session, contract_ids: Sequence[str]
) -> dict[str, list[BackupOptionFacts]]:
    """``contract_backup_options`` of several contracts in one statement, by contract."""
    stmt = (
        select(VmBackupOption, Vm.name, Vm.deleted_at)
        .join(Vm, Vm.id == VmBackupOption.vm_id)
        .where(VmBackupOption.contract_id.in_(list(contract_ids)))
        .order_by(VmBackupOption.since, VmBackupOption.id)
    )
    out: dict[str, list[BackupOptionFacts]] = {}
    for row, name, deleted_at in session.execute(stmt).tuples():
        ends = [t for t in (row.until, deleted_at) if t is not None]
        out.setdefault(row.contract_id, []).append(
            BackupOptionFacts(
                row.id, row.vm_id, name, row.option_id, row.since, min(ends) if ends else None
            )
        )
    return out


def site_country(session: Session, site: str) -> str | None:
    """The country of a site as the hosts serving it record it (None when no host
    serves it); 001 §5.3 asks it of a move of the data."""
    return session.execute(
        select(HostSite.country).where(HostSite.site == site).limit(1)
    ).scalar_one_or_none()
