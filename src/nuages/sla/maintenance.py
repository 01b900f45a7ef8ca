"""Planned maintenance: whom it affects, its notice, and whether it is excusable.

Staff schedule a window (scope, start, end, reason); the VMs of the scope are resolved
now and each affected contract's client gets one notice through the notices slice
(``maintenance_planned``), written in the same transaction. The window is excusable
only if it was announced in time by the offer's rule: 000 §7 at least 2 clear days
ahead (``maintenance.notice`` in clear days), 001 §6 at least 24 h ahead; 002 §6 states
no period (any announced window). The announcement is the notice's sending time once
the outbox sent it, else the time it was written; a notice that failed announces
nothing (SPEC §17: read for the client). A window that is not excusable counts as an
outage of each affected VM. Outside the offer's preferred window (000 §7: 22:00–08:00)
staff must confirm (``confirm_outside_window``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.calendar import ContractCalendar
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, ValidationFailed
from nuages.notices import service as notices
from nuages.notices.models import Notice
from nuages.sla import counting, outages
from nuages.sla.models import Maintenance, MaintenanceVm
from nuages.sla.schemas import MaintenanceContractOut, MaintenanceCreate, MaintenanceOut
from nuages.terms import apply
from nuages.terms.calc import sla
from nuages.terms.schema import Offer
from nuages.terms.schema_common import clock_time

KIND = "maintenance_planned"


def rule_of(offer: Offer) -> str:
    """The offer's announcement rule, in words (for messages and the API)."""
    notice = offer.maintenance.notice
    clause = offer.maintenance.clause or offer.sla.clause or ""
    if not offer.sla.planned_maintenance_excluded:
        return f"maintenance is never excused ({clause})"
    if notice is None:
        return f"excused when announced before it starts ({clause})"
    return f"excused when announced {notice.amount} {notice.unit.value} ahead ({clause})"


def in_time(offer: Offer, announced_at: dt.datetime | None, start: dt.datetime) -> bool:
    """Whether a window starting at ``start`` announced at ``announced_at`` is excusable
    under the offer (000 §7 clear days, 001 §6 hours, 002 §6 any announcement)."""
    if not offer.sla.planned_maintenance_excluded or announced_at is None:
        return False
    notice = offer.maintenance.notice
    if notice is None:
        return announced_at <= start
    return sla.maintenance_is_excluded(
        apply.calendar_for(offer),
        announced_at,
        start,
        notice=notice.amount,
        unit=apply.duration_unit(notice),
    )


def inside_preferred(
    calendar: ContractCalendar, offer: Offer, start: dt.datetime, end: dt.datetime
) -> bool:
    """Whether ``[start, end)`` lies inside one occurrence of the offer's preferred daily
    window (000 §7: 22:00–08:00, local time, across midnight); True without one."""
    window = offer.maintenance.preferred_window
    if window is None:
        return True
    day = calendar.local_date(start)
    for first in (day - dt.timedelta(days=1), day):
        opens = calendar.local_to_utc(first, clock_time(window.start))
        closing_day = first + dt.timedelta(days=1) if window.end <= window.start else first
        closes = calendar.local_to_utc(closing_day, clock_time(window.end))
        if opens <= start and end <= closes:
            return True
    return False


def announced_at(window: Maintenance, notice: Notice | None) -> dt.datetime | None:
    """When a contract was told of ``window``: its notice's sending time, else when it
    was written; a failed notice announced nothing."""
    if notice is None or notice.state == notices.State.FAILED:
        return None
    return notice.sent_at or window.announced_at


def schedule(
    session: Session, actor: Principal, registry: OfferRegistry, data: MaintenanceCreate
) -> MaintenanceOut:
    """Staff schedule a window; affected clients are told now (see the module)."""
    actor.require(Scope.ADMIN)
    if not actor.is_staff:
        raise Forbidden("only provider staff schedule maintenance")
    now = utc_now()
    start, end = data.start.astimezone(dt.UTC), data.end.astimezone(dt.UTC)
    if start <= now:
        raise ValidationFailed("start: maintenance is planned ahead, not in the past")
    if end <= start:
        raise ValidationFailed("end: a maintenance window ends after it starts")
    vms = outages.scope_vms(session, data.scope, data.scope_ref, should_run=False)
    if not vms:
        raise ValidationFailed(f"scope_ref: no VM is in this {data.scope}")
    by_contract: dict[str, list[str]] = defaultdict(list)
    for vm in vms:
        by_contract[vm.contract_id].append(vm.id)
    contracts = {c: session.get(Contract, c) for c in by_contract}
    offers = {c: registry.for_contract(session, row) for c, row in contracts.items() if row}
    outside = sorted(
        {
            o.id
            for o in offers.values()
            if not inside_preferred(apply.calendar_for(o), o, start, end)
        }
    )
    if outside and not data.confirm_outside_window:
        raise Conflict(
            "confirm_outside_window: the window lies outside the preferred maintenance "
            f"hours of {', '.join(outside)} (000 §7: 22:00–08:00); confirm to schedule it"
        )
    row = Maintenance(
        scope=data.scope,
        scope_ref=data.scope_ref,
        start=start,
        end=end,
        reason=data.reason,
        outside_window=bool(outside),
        created_by=actor.user_id,
        announced_at=now,
    )
    session.add(row)
    session.flush()
    for contract_id, vm_ids in by_contract.items():
        contract = contracts[contract_id]
        if contract is None:
            continue
        offer = offers[contract_id]
        calendar = apply.calendar_for(offer)
        notice = notices.queue(
            session,
            actor.actor,
            KIND,
            client_id=contract.client_id,
            contract_id=contract_id,
            object_type="maintenance",
            object_id=row.id,
            key=f"maintenance:{row.id}:{contract_id}",
            legal_ref=rule_of(offer),
            context={
                "start": calendar.to_local(start).isoformat(timespec="minutes"),
                "end": calendar.to_local(end).isoformat(timespec="minutes"),
                "reason": data.reason,
                "vms": len(vm_ids),
                "rule": rule_of(offer),
            },
        )
        session.add_all(
            MaintenanceVm(
                maintenance_id=row.id,
                vm_id=vm_id,
                client_id=contract.client_id,
                contract_id=contract_id,
                notice_id=notice.id,
            )
            for vm_id in vm_ids
        )
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="maintenance",
        object_id=row.id,
        action="sla.maintenance.schedule",
        params={
            "scope": data.scope,
            "scope_ref": data.scope_ref,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "outside_window": bool(outside),
            "contracts": len(by_contract),
        },
    )
    return describe(session, registry, [row])[0]


def describe(
    session: Session,
    registry: OfferRegistry,
    rows: Sequence[Maintenance],
    client_id: str | None = None,
    contract_id: str | None = None,
) -> list[MaintenanceOut]:
    """Windows with their VMs and contracts (only ``client_id``'s or ``contract_id``'s
    when given)."""
    if not rows:
        return []
    stmt = select(MaintenanceVm).where(MaintenanceVm.maintenance_id.in_([r.id for r in rows]))
    if client_id is not None:
        stmt = stmt.where(MaintenanceVm.client_id == client_id)
    if contract_id is not None:
        stmt = stmt.where(MaintenanceVm.contract_id == contract_id)
    targets = list(session.execute(stmt.order_by(MaintenanceVm.vm_id)).scalars())
    notice_ids = {t.notice_id for t in targets if t.notice_id}
    sent = {
        n.id: n for n in session.execute(select(Notice).where(Notice.id.in_(notice_ids))).scalars()
    }
    out = []
    for row in rows:
        mine = [t for t in targets if t.maintenance_id == row.id]
        contracts: dict[str, MaintenanceContractOut] = {}
        for t in mine:
            if t.contract_id in contracts:
                continue
            contract = session.get(Contract, t.contract_id)
            if contract is None:
                continue
            offer = registry.for_contract(session, contract)
            notice = sent.get(t.notice_id or "")
            contracts[t.contract_id] = MaintenanceContractOut(
                contract_id=t.contract_id,
                client_id=t.client_id,
                offer_id=offer.id,
                notice_id=t.notice_id,
                notice_state=notice.state if notice else None,
                notice_sent_at=notice.sent_at if notice else None,
                in_time=in_time(offer, announced_at(row, notice), row.start),
                rule=rule_of(offer),
            )
        out.append(
            MaintenanceOut(
                id=row.id,
                scope=row.scope,
                scope_ref=row.scope_ref,
                start=row.start,
                end=row.end,
                reason=row.reason,
                outside_window=row.outside_window,
                announced_at=row.announced_at,
                vm_ids=[t.vm_id for t in mine],
                contracts=list(contracts.values()),
            )
        )
    return out


def list_windows(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    *,
    upcoming: bool = False,
    contract_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[MaintenanceOut]:
    """Windows the caller may see (a client: those affecting its VMs), latest first
    (``offset``: the portal's pages)."""
    actor.require(Scope.READ)
    stmt = select(Maintenance)
    client = None if actor.is_staff else actor.client_id
    if client is not None or contract_id is not None:
        targets = select(MaintenanceVm.maintenance_id)
        if client is not None:
            targets = targets.where(MaintenanceVm.client_id == client)
        if contract_id is not None:
            targets = targets.where(MaintenanceVm.contract_id == contract_id)
        stmt = stmt.where(Maintenance.id.in_(targets))
    if upcoming:
        stmt = stmt.where(Maintenance.end > utc_now())
    stmt = stmt.order_by(Maintenance.start.desc(), Maintenance.id).offset(offset).limit(limit)
    rows = list(session.execute(stmt).scalars())
    return describe(session, registry, rows, client, contract_id)


@dataclass(frozen=True)
class VmWindow:
    """A window as one VM's month reads it."""

    vm_id: str
    start: dt.datetime
    end: dt.datetime
    announced_at: dt.datetime | None


def windows_for(
    session: Session, contract_ids: Sequence[str], start: dt.datetime, end: dt.datetime
) -> dict[str, list[VmWindow]]:
    """Each VM's (of ``contract_ids``) maintenance windows overlapping ``[start, end)``,
    with the moment its contract was told."""
    out: dict[str, list[VmWindow]] = defaultdict(list)
    if not contract_ids:
        return out
    rows = session.execute(
        select(MaintenanceVm.vm_id, Maintenance, Notice)
        .join(Maintenance, Maintenance.id == MaintenanceVm.maintenance_id)
        .outerjoin(Notice, Notice.id == MaintenanceVm.notice_id)
        .where(
            Maintenance.start < end,
            Maintenance.end > start,
            counting.among(session, MaintenanceVm.contract_id, contract_ids),
        )
    ).all()
    for vm_id, window, notice in rows:
        out[vm_id].append(VmWindow(vm_id, window.start, window.end, announced_at(window, notice)))
    return out


def split(
    offer: Offer, windows: Sequence[VmWindow]
) -> tuple[list[apply.MaintenanceWindow], list[sla.Outage]]:
    """The excusable windows (left out of the month) and the late ones (outages)."""
    excused: list[apply.MaintenanceWindow] = []
    late: list[sla.Outage] = []
    for w in windows:
        if in_time(offer, w.announced_at, w.start):
            excused.append(apply.MaintenanceWindow(w.start, w.end, w.announced_at))
        else:
            late.append(
                sla.Outage(w.start, w.end, "maintenance-not-announced-in-time", False, w.vm_id)
            )
    return excused, late
