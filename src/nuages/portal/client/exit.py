"""A contract's exit (issue 21.6): the state of the data's return and erasure, the
deadline with its clause, the copies with their SHA-256 and download links, and the
erasure record (000 §18, 001 §7, 002 §10, 003 §13.2, 004 §17.2, §5)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.accounts.roles import Scope
from nuages.portal.web import SignedIn
from nuages.reversibility import service
from nuages.reversibility.api import exit_out

router = APIRouter()


@router.get("/contracts/{contract_id}/exit")
def exit_page(contract_id: str, visit: SignedIn) -> Response:
    """The exit of one of the visitor's contracts (another client's: 404)."""
    with visit.read() as session:
        view = service.get_exit(session, visit.me, visit.request.app.state.offers, contract_id)
        return visit.render("client/exit.html", exit=exit_out(view, visit.me.has(Scope.BILLING)))
