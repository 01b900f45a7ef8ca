"""The staff's service-level pages (issue 22, issue 12): declared outages and
maintenance windows with whom they affect, a page at a time (newest first); and the
issued monthly reports per contract and month with their credits (002 §6, 000 §5,
001 §6). Declaring, scheduling and issuing go through the API and CLI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select

from nuages.kernel.errors import ValidationFailed
from nuages.portal.admin.common import Column, Filter, Table, page
from nuages.portal.web import Paging, Staff
from nuages.sla import maintenance, outages, reports, views
from nuages.sla.models import Maintenance

router = APIRouter()


@router.get("/admin/sla")
def admin_sla(visit: Staff) -> Response:
    """The declared outages (``?page=``) and maintenance windows (``?win_page=``), 50
    a page, newest first."""
    paging = Paging.of(visit.request, per_page=50)
    win_paging = Paging.of(visit.request, per_page=50, prefix="win_")
    with visit.read() as session:
        incidents, total = outages.list_incidents(session, visit.me, paging.page, paging.per_page)
        windows = maintenance.list_windows(
            session, visit.me, visit.request.app.state.offers,
            limit=win_paging.per_page, offset=(win_paging.page - 1) * win_paging.per_page,
        )  # fmt: skip
        windows_total = session.execute(
            select(func.count()).select_from(Maintenance)
        ).scalar_one()  # the page is staff-only: every window is visible
        return visit.render(
            "admin/sla.html",
            incidents=[(i, outages.vms_of(session, i.id)) for i in incidents],
            incident_total=total,
            paging=paging,
            pages=paging.pages(total),
            windows=windows,
            windows_total=windows_total,
            win_paging=win_paging,
            win_pages=win_paging.pages(windows_total),
        )


def _row(report: Any) -> dict[str, Any]:
    credit = report.credit
    return {
        "id": report.contract_id,
        "contract_id": report.contract_id,
        "offer_id": report.offer_id,
        "month": report.month,
        "version": report.version,
        "availability_pct": f"{report.availability_pct.normalize():f} %",
        "objective_met": report.objective_met,
        "credit_amount": report.credit_amount,
        "credit_mode": report.credit_mode,
        "credit_state": credit.state if credit is not None else None,
        "issued_at": report.issued_at,
    }


@router.get("/admin/sla/reports")
def admin_sla_reports(visit: Staff) -> Response:
    """Issued SLA reports per contract and month, every version, with their credit
    (filters: month ``YYYY-MM``, contract id), 50 a page."""
    paging = Paging.of(visit.request, per_page=50)
    query = visit.request.query_params
    month = query.get("month", "").strip()[:7]
    contract_id = query.get("contract_id", "").strip()[:36]
    errors: dict[str, str] = {}
    if month:
        try:
            reports.check_month(*reports.parse_month(month))
        except (ValidationFailed, ValueError):
            errors["_"] = visit._("Mois attendu au format AAAA-MM.")
            month = ""
    with visit.read() as session:
        found, total = views.list_reports(
            session, visit.me, month=month or None, contract_id=contract_id or None,
            page=paging.page, per_page=paging.per_page,
        )  # fmt: skip
    columns = [
        Column("Contrat", "contract_id", "link", "/admin/contracts/{id}"),
        Column("Offre", "offer_id"),
        Column("Mois", "month"),
        Column("Version", "version"),
        Column("Disponibilité", "availability_pct"),
        Column("Objectif atteint", "objective_met", "bool"),
        Column("Crédit", "credit_amount", "money"),
        Column("Mode du crédit", "credit_mode", "state"),
        Column("État du crédit", "credit_state", "state"),
        Column("Émis le", "issued_at", "when"),
    ]
    filters = {"month": month, "contract_id": contract_id}
    table = Table(
        "Rapports mensuels", columns, [_row(r) for r in found], empty="Aucun rapport émis.",
        total=total, paging=paging, base="/admin/sla/reports", filters=filters,
    )  # fmt: skip
    return page(
        visit, "Rapports de niveau de service", tables=[table],
        filters=[Filter("month", "Mois (AAAA-MM)", value=month),
                 Filter("contract_id", "Contrat", value=contract_id)],
        errors=errors, base="/admin/sla/reports",
    )  # fmt: skip
