"""REST endpoints of failure notices (002 §6 "Notification de Défaillance")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Page, page_of
from nuages.sla import credits, maintenance, outages, schemas, service, views

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


# ---------------------------------------------------------------- outages (staff)


def _incident_out(session: SessionDep, row: object) -> schemas.IncidentOut:
    if isinstance(row, outages.RecordedOutage):
        return schemas.IncidentOut(
            id=row.id,
            scope="vm",
            scope_ref=row.vm_id,
            start=row.start,
            end=row.end,
            cause=row.cause,
            description=f"recorded by reconciliation: {row.recorded_cause}",
            declared_by=row.declared_by,
            declared_at=row.declared_at,
            vm_ids=[row.vm_id],
            source=row.source,
            recorded_cause=row.recorded_cause,
            reason=row.reason,
        )
    out = schemas.IncidentOut.model_validate(row)
    out.vm_ids = outages.vms_of(session, out.id)
    return out


@router.post("/outages", status_code=status.HTTP_201_CREATED, response_model=schemas.IncidentOut)
def declare_outage(
    body: schemas.IncidentCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff declare an outage of a VM, a host, a site or the platform; the VMs it takes
    down are resolved now; its cause is an offer's excusable cause or ``not-excusable``."""
    row = outages.declare(session, principal, request.app.state.offers, body)
    return _incident_out(session, row)


@router.get("/outages", response_model=Page[schemas.IncidentOut])
def list_outages(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    source: Annotated[Literal["declared", "recorded"], Query()] = "declared",
    unclassified: Annotated[bool, Query()] = False,
) -> object:
    """Declared outages (a client: those that took one of its VMs down), newest first;
    ``source=recorded``: those reconciliation recorded (a VM found down, a host
    unreachable), with the cause staff reclassified them to; ``unclassified=true`` (with
    ``source=recorded``): those still awaiting staff's cause, counted not excusable."""
    items: Sequence[object]
    if source == "recorded":
        items, total = outages.list_recorded(
            session, principal, paging.page, paging.per_page, unclassified=unclassified
        )
    else:
        if unclassified:
            raise ValidationFailed("unclassified: only with source=recorded")
        items, total = outages.list_incidents(session, principal, paging.page, paging.per_page)
    return page_of([_incident_out(session, r) for r in items], total, paging.page, paging.per_page)


@router.patch("/outages/{outage_id}", response_model=schemas.IncidentOut)
def patch_outage(
    outage_id: str,
    body: schemas.IncidentPatch,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff set a declared outage's cause or end, or reclassify an outage reconciliation
    recorded (a VM found down, a host unreachable): its cause, with a reason; each
    change is in the history."""
    row = outages.patch(session, principal, request.app.state.offers, outage_id, body)
    return _incident_out(session, row)


# ---------------------------------------------------------------- maintenance


@router.post(
    "/maintenance", status_code=status.HTTP_201_CREATED, response_model=schemas.MaintenanceOut
)
def schedule_maintenance(
    body: schemas.MaintenanceCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff schedule planned maintenance; each affected client is sent its notice now.
    Outside an offer's preferred window (000 §7) it needs ``confirm_outside_window``."""
    return maintenance.schedule(session, principal, request.app.state.offers, body)


@router.get("/maintenance", response_model=list[schemas.MaintenanceOut])
def list_maintenance(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    upcoming: bool = False,
) -> object:
    """Maintenance windows (a client: those affecting its VMs), latest first."""
    return maintenance.list_windows(session, principal, request.app.state.offers, upcoming=upcoming)


# ---------------------------------------------------------------- reports and claims


@router.get("/contracts/{contract_id}/sla", response_model=schemas.ContractSlaOut, tags=["billing"])
def contract_sla(
    contract_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    month: Annotated[str | None, Query(examples=["2026-11"])] = None,
) -> object:
    """The contract's SLA month: the issued report (newest version) or the figures as
    they stand, and its upcoming maintenance."""
    return views.contract_sla(session, principal, request.app.state.offers, contract_id, month)


@router.get("/sla/reports", response_model=Page[schemas.ReportOut], tags=["billing"])
def list_reports(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    month: Annotated[str | None, Query(examples=["2026-11"])] = None,
    contract_id: str | None = None,
) -> object:
    """Issued monthly reports (every version, corrections included), newest first."""
    items, total = views.list_reports(
        session,
        principal,
        month=month,
        contract_id=contract_id,
        page=paging.page,
        per_page=paging.per_page,
    )
    return page_of(items, total, paging.page, paging.per_page)


@router.post(
    "/sla/reports/{report_id}/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.CreditOut,
    tags=["billing"],
)
def claim_credit(
    report_id: str, body: schemas.ClaimCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Claim a report's credit (002 §6 "sur demande"), once, within the claim window."""
    return credits.claim(session, principal, report_id, body.note)
