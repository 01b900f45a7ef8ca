"""REST endpoints of failure notices (002 §6 "Notification de Défaillance")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Page, page_of
from nuages.sla import schemas, service

router = APIRouter(prefix="/api/v1", tags=["sla"])


@router.post(
    "/vms/{vm_id}/failure-notices",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.FailureNoticeOut,
)
def file_failure_notice(
    vm_id: str, body: schemas.FailureNoticeCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Tell the provider this VM fails (002 §6): its unavailability counts from now at the
    latest."""
    return service.file_notice(session, principal, vm_id, body)


@router.get("/vms/{vm_id}/failure-notices", response_model=Page[schemas.FailureNoticeOut])
def list_failure_notices(
    vm_id: str, principal: PrincipalDep, session: SessionDep, paging: PageDep
) -> object:
    """The failure notices of a VM, oldest first."""
    items, total = service.list_notices(session, principal, vm_id, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/vms/{vm_id}/sla", response_model=schemas.SlaMonthOut)
def vm_sla_month(
    vm_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    month: Annotated[str | None, Query(examples=["2026-11"])] = None,
) -> object:
    """The VM's availability and credit of one month (002 §6): over the offer's
    denominator (coverage minutes for the seeds), counted from the earlier of detection
    and the client's failure notice, capped at 20 % of this VM's monthly fee. Without
    ``month``, the current month so far."""
    year_month: tuple[int, int] | None = None
    if month is not None:
        try:
            day = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ValidationFailed(f"month: {month!r} is not YYYY-MM") from None
        year_month = (day.year, day.month)
    offers: OfferRegistry = request.app.state.offers
    result = service.assess_vm_month(session, principal, offers, vm_id, year_month)
    report = result.report
    return schemas.SlaMonthOut(
        vm_id=vm_id,
        offer_id=result.offer_id,
        month=f"{report.year:04d}-{report.month:02d}",
        denominator=report.denominator,
        denominator_minutes=report.denominator_minutes,
        coverage_minutes=report.coverage_minutes,
        minutes_in_month=report.minutes_in_month,
        counted_minutes=report.unavailable_minutes,
        availability_pct=report.availability_pct,
        objective_pct=result.objective_pct,
        objective_met=result.objective_met,
        credit_rate_pct=report.credit_rate_pct,
        monthly_amount=result.monthly_amount,
        credit_amount=result.credit_amount,
        rolling_cap_base=result.rolling_cap_base,
        rolling_cap_applied=result.rolling_cap_applied,
    )
