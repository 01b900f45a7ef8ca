"""The staff's service-level page (issue 22): declared outages and maintenance windows
with whom they affect; declaring and scheduling go through the API and CLI."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.portal.web import Staff
from nuages.sla import maintenance, outages

router = APIRouter()


@router.get("/admin/sla")
def admin_sla(visit: Staff) -> Response:
    """The latest declared outages and maintenance windows."""
    with visit.read() as session:
        incidents, total = outages.list_incidents(session, visit.me, 1, 50)
        windows = maintenance.list_windows(
            session, visit.me, visit.request.app.state.offers, limit=50
        )
        return visit.render(
            "admin/sla.html",
            incidents=[(i, outages.vms_of(session, i.id)) for i in incidents],
            incident_total=total,
            windows=windows,
        )
