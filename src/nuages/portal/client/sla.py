"""A contract's service level (issue 22): the month's availability, credit and claim
state (002 §6, 000 §5, 001 §6), and the upcoming maintenance of its VMs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from nuages.portal.web import SignedIn
from nuages.sla import views

router = APIRouter()


@router.get("/contracts/{contract_id}/sla")
def contract_sla(
    contract_id: str,
    visit: SignedIn,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    """The month's report (issued, or as it stands) and the maintenance to come."""
    with visit.read() as session:
        shown = views.contract_sla(
            session, visit.me, visit.request.app.state.offers, contract_id, month
        )
        return visit.render("client/sla.html", sla=shown, contract_id=contract_id)
