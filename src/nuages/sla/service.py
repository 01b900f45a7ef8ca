"""Failure notices (002 §6 "en cas de Notification de Défaillance", 001 §10.1, 000 §6).

The client tells the provider a VM fails; the notice is recorded with its moment and the
SLA counts that VM's unavailability from the earlier of its detection and the notice
(``nuages.terms.calc.sla.with_failure_notices``). A VM the caller cannot see is a 404;
a guest (read-only) cannot file one. Staff may record a notice received by telephone or
e-mail with the moment it was received, never in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.services import access
from nuages.compute.states import VmState
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.clock import not_in_future, utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate
from nuages.sla import maintenance
from nuages.sla.counting import among
from nuages.sla.models import FailureNotice
from nuages.sla.outages import vm_outages
from nuages.sla.schemas import FailureNoticeCreate
from nuages.terms import apply
from nuages.terms.calc import sla

CLAUSE = "002 §6"


def file_notice(
    session: Session, actor: Principal, vm_id: str, data: FailureNoticeCreate
) -> FailureNotice:
    """Record the client's failure notice of ``vm_id`` (002 §6), now or when staff say."""
    # Read access suffices to find the VM: a managed server's client (no direct access,
    # 002 §3.8.2) still notifies its failures; filing is a write.
    vm = access.load_vm(session, actor, vm_id)
    actor.require(Scope.WRITE)
    if vm.vm_state == VmState.DELETED.value:
        raise Conflict(f"vm_id: the VM is deleted; a failure notice ({CLAUSE}) needs a live VM")
    noticed_at = utc_now()
    if data.received_at is not None:
        if not actor.is_staff:
            raise Forbidden(
                f"received_at: only staff record a notice received another way ({CLAUSE}); "
                "a notice sent here is dated when it arrives"
            )
        not_in_future("received_at", data.received_at)
        noticed_at = data.received_at.astimezone(dt.UTC)
    row = FailureNotice(
        vm_id=vm.id,
        client_id=vm.client_id,
        contract_id=vm.contract_id,
        noticed_at=noticed_at,
        description=data.description,
        filed_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.failure_notice",
        params={"notice_id": row.id, "noticed_at": noticed_at.isoformat(), "clause": CLAUSE},
        client_id=vm.client_id,
    )
    return row


def list_notices(
    session: Session, actor: Principal, vm_id: str, page: int, per_page: int
) -> tuple[list[FailureNotice], int]:
    """The failure notices of a VM the caller may see, oldest first."""
    vm = access.load_vm(session, actor, vm_id)
    actor.require(Scope.READ)
    stmt = (
        select(FailureNotice)
        .where(FailureNotice.vm_id == vm.id)
        .order_by(FailureNotice.noticed_at, FailureNotice.id)
    )
    return paginate(session, stmt, page, per_page)


def notices_for(
    session: Session,
    vm_ids: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    by_contract: bool = False,
) -> list[sla.FailureNotice]:
    """The notices of ``vm_ids`` (``by_contract``: of those contracts' VMs) made in
    ``[start, end)``, as the SLA calculator reads them (each VM is a service)."""
    if not vm_ids:
        return []
    column = FailureNotice.contract_id if by_contract else FailureNotice.vm_id
    rows = session.execute(
        select(FailureNotice.vm_id, FailureNotice.noticed_at).where(
            among(session, column, vm_ids),
            FailureNotice.noticed_at >= start,
            FailureNotice.noticed_at < end,
        )
    ).all()
    return [sla.FailureNotice(vm_id, at) for vm_id, at in rows]


def assess_vm_month(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    vm_id: str,
    year_month: tuple[int, int] | None = None,
    monthly_amount: Decimal | None = None,
) -> apply.SlaAssessment:
    """One VM's SLA month under its contract's terms (002 §6, SPEC §17).

    Reads the VM's recorded outages (an open one counts until now or the month's end) and
    the client's failure notices (``year_month`` None: the current local month so far);
    the failing service is the VM and its monthly fee is its
    flavour's price, which is also the credit base unless ``monthly_amount`` is given. The
    denominator is the offer's ``sla.denominator``.
    """
    vm = access.load_vm(session, actor, vm_id)
    contract = session.get(Contract, vm.contract_id)
    if contract is None:
        raise NotFound("no such VM")
    offer = registry.for_contract(session, contract)
    calendar = apply.calendar_for(offer)
    if year_month is None:
        today = calendar.local_date(utc_now())
        year_month = (today.year, today.month)
    year, month = year_month
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValidationFailed(f"month: {year:04d}-{month:02d} is not a calendar month")
    start, end = calendar.month_bounds(year, month)
    if start > utc_now():
        raise ValidationFailed(f"month: {year:04d}-{month:02d} has not started")
    # Recorded (with staff's reclassification) and declared outages, an open one
    # counting until now; maintenance as the monthly report reads it: announced in time
    # by the offer's rule it leaves the month, announced late it is an outage (000 §7).
    outages = vm_outages(session, [vm.id], start, end).get(vm.id, [])
    windows = maintenance.windows_for(session, [vm.contract_id], start, end).get(vm.id, [])
    excused, late = maintenance.split(offer, windows)
    # A notice made before the month may still date the month's first outage.
    notices = notices_for(session, [vm.id], start - dt.timedelta(days=31), end)
    fee = next((f.price for f in offer.catalogue.flavours if f.id == vm.flavour_id), None)
    amount = monthly_amount if monthly_amount is not None else fee
    return apply.sla_for_month(
        offer,
        year,
        month,
        [*outages, *late],
        amount,
        maintenance=excused,
        failure_notices=notices,
        service_monthly_fee=fee,
    )
