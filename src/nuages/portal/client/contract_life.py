"""The contract's deadlines and notice to quit in the client area (issue #21): what is
coming (term end, last day for a notice, refusal windows, penalty-free exits, revisions)
and the notice to quit, shown with its effective date before it is given (001 §3.2,
003 §13.1.4, 004 §5; the Responsable only, 000 §1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.contracts import deadlines, termination
from nuages.contracts import service as contracts
from nuages.contracts.ending import EndCause
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError
from nuages.portal import service as portal
from nuages.portal.errors import of as error_text
from nuages.portal.web import PostedForm, SignedIn, Visit

router = APIRouter()


def _context(visit: Visit, session: Session, contract_id: str) -> dict[str, Any]:
    contract = contracts.get_contract(session, visit.me, contract_id)
    coming = deadlines.for_contract(session, visit.me, contract.id, utc_now())
    return {
        "contract": contract,
        "deadlines": coming,
        "going": termination.pending(session, contract.id),
    }


@router.get("/contracts/{contract_id}/life")
def life_page(visit: SignedIn, contract_id: str) -> Response:
    """The contract's coming deadlines and its notice-to-quit form."""
    with visit.read() as session:
        return visit.render("client/contract_life.html", **_context(visit, session, contract_id))


@router.post("/contracts/{contract_id}/termination")
def give_notice(posted: PostedForm, contract_id: str) -> Response:
    """First the effective date, said plainly (nothing written); then, confirmed, the
    notice is given once however often the form is sent."""
    visit = posted.visit
    back = f"/contracts/{contract_id}/life"
    try:
        if posted.get("confirm") != "yes":
            with visit.read() as session:
                plan, _row = termination.terminate(
                    session, visit.me, contract_id, EndCause.CLIENT_NOTICE, confirm=False
                )
                contract = contracts.get_contract(session, visit.me, contract_id)
                return visit.render(
                    "client/contract_notice.html", contract=contract, plan=plan, once=visit.once()
                )
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, back)
            termination.terminate(
                session, visit.me, contract_id, EndCause.CLIENT_NOTICE, confirm=True,
                reason=posted.get("reason")[:500],
            )  # fmt: skip
            portal.set_result(use, back)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NuagesError as exc:
        if exc.status == 404:
            raise
        with visit.read() as session:
            return visit.render(
                "client/contract_life.html",
                status=exc.status,
                errors={"_": error_text(exc)},
                **_context(visit, session, contract_id),
            )
    return visit.redirect(back, "notice_given")
