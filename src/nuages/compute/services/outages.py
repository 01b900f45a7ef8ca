"""Outage rows: a VM that should run was found down, until it is seen up again.

The SLA slice reads ``vm_outages`` (002 §6 availability, 001 §6, 000 §5 penalties) and
decides from ``cause`` what is excusable (a guest powering itself off is the client's
act). At most one outage per VM is open (a partial unique index holds it).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.compute.models import Vm, VmOutage
from nuages.history import service as history
from nuages.history.service import Actor


def open_outages(session: Session, vm_ids: list[str]) -> dict[str, VmOutage]:
    """The open outage of each VM that has one."""
    if not vm_ids:
        return {}
    rows = session.execute(
        select(VmOutage).where(VmOutage.vm_id.in_(vm_ids), VmOutage.end.is_(None))
    ).scalars()
    return {row.vm_id: row for row in rows}


def open_outage(
    session: Session, vm: Vm, *, start: dt.datetime, detected_at: dt.datetime, cause: str
) -> VmOutage | None:
    """Open an outage for ``vm`` unless one is open already; recorded in the history."""
    if vm.activated_at is not None:
        start = max(start, vm.activated_at)  # never before the VM first ran
    row = VmOutage(
        vm_id=vm.id,
        client_id=vm.client_id,
        contract_id=vm.contract_id,
        start=min(start, detected_at),
        end=None,
        cause=cause,
        detected_at=detected_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another pass opened it first
    history.record(
        session,
        Actor.system("reconcile"),
        object_type="vm",
        object_id=vm.id,
        action="vm.outage.open",
        params={"outage_id": row.id, "cause": cause, "start": row.start.isoformat()},
        client_id=vm.client_id,
    )
    return row


def close_outage(session: Session, vm: Vm, end: dt.datetime, who: Actor) -> VmOutage | None:
    """Close ``vm``'s open outage at ``end`` (the moment it was seen up again)."""
    row = session.execute(
        select(VmOutage).where(VmOutage.vm_id == vm.id, VmOutage.end.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return None
    done = session.execute(
        update(VmOutage)
        .where(VmOutage.id == row.id, VmOutage.end.is_(None))
        .values(end=max(end, row.start))
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(row)
    history.record(
        session,
        who,
        object_type="vm",
        object_id=vm.id,
        action="vm.outage.close",
        params={"outage_id": row.id, "cause": row.cause, "end": end.isoformat()},
        client_id=vm.client_id,
    )
    return row
