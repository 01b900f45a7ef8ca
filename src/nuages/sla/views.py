"""What the API and CLI show of SLA reports: issued ones, or the month as it stands."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.access import visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NotFound, ValidationFailed
from nuages.sla import maintenance, reports
from nuages.sla.credits import credit_of
from nuages.sla.models import SlaReport
from nuages.sla.schemas import ContractSlaOut, CreditOut, ReportOut
from nuages.terms import apply


def report_out(session: Session, row: SlaReport) -> ReportOut:
    credit = credit_of(session, row.id)
    return ReportOut(
        id=row.id,
        contract_id=row.contract_id,
        offer_id=row.offer_id,
        month=f"{row.year:04d}-{row.month:02d}",
        version=row.version,
        supersedes_id=row.supersedes_id,
        changes=row.changes,
        denominator=row.denominator,
        objective_pct=row.objective_pct,
        availability_pct=row.availability_pct,
        objective_met=row.objective_met,
        counted_minutes=row.counted_minutes,
        credit_amount=row.credit_amount,
        credit_mode=row.credit_mode,
        issued_at=row.issued_at,
        lines=json.loads(row.lines),
        credit=CreditOut.model_validate(credit) if credit is not None else None,
    )


def measured_out(measured: reports.ContractMonth) -> ReportOut:
    return ReportOut(
        id=None,
        contract_id=measured.contract.id,
        offer_id=measured.offer.id,
        month=f"{measured.year:04d}-{measured.month:02d}",
        version=0,
        supersedes_id=None,
        changes="",
        denominator=measured.offer.sla.denominator,
        objective_pct=measured.offer.sla.objective_pct,
        availability_pct=measured.availability_pct,
        objective_met=measured.objective_met,
        counted_minutes=measured.counted_minutes,
        credit_amount=measured.credit_amount,
        credit_mode=reports.credit_mode(measured.offer),
        issued_at=None,
        lines=measured.lines,
    )


def contract_sla(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    month: str | None,
) -> ContractSlaOut:
    """A contract's month (``YYYY-MM``; none: the current one so far): the issued report's
    newest version, else the figures as they stand; and its upcoming maintenance."""
    actor.require(Scope.BILLING)
    contract = session.get(Contract, contract_id)
    if contract is None or not actor.can_see_client(contract.client_id):
        raise NotFound("no such contract")
    offer = registry.for_contract(session, contract)
    calendar = apply.calendar_for(offer)
    if month is None:
        today = calendar.local_date(utc_now())
        year, mon = today.year, today.month
    else:
        year, mon = reports.parse_month(month)
    reports.check_month(year, mon)
    start, _ = calendar.month_bounds(year, mon)
    if start > utc_now():
        raise ValidationFailed(f"month: {year:04d}-{mon:02d} has not started")
    issued = reports.latest(session, contract.id, year, mon)
    report = (
        report_out(session, issued)
        if issued is not None
        else measured_out(reports.measure(session, registry, contract, year, mon))
    )
    upcoming = maintenance.list_windows(
        session, actor, registry, upcoming=True, contract_id=contract.id
    )
    return ContractSlaOut(report=report, issued=issued is not None, upcoming_maintenance=upcoming)


def list_reports(
    session: Session,
    actor: Principal,
    *,
    month: str | None,
    contract_id: str | None,
    page: int,
    per_page: int,
) -> tuple[list[ReportOut], int]:
    """Issued reports the caller may see (every version), newest first."""
    actor.require(Scope.BILLING)
    stmt = visible(actor, select(SlaReport), SlaReport.client_id)
    if month is not None:
        year, mon = reports.parse_month(month)
        stmt = stmt.where(SlaReport.year == year, SlaReport.month == mon)
    if contract_id is not None:
        stmt = stmt.where(SlaReport.contract_id == contract_id)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(
            SlaReport.year.desc(),
            SlaReport.month.desc(),
            SlaReport.contract_id,
            SlaReport.version.desc(),
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).scalars()
    return [report_out(session, r) for r in rows], total
