"""New terms announced to a contract, and the Responsable's refusal (000 §4, 004 §3,
003 §14.4; 001 §19 forbids unilateral changes).

The page shows the change (summary, entry into force, the refusal window and how a
refusal is made: 000 §4 by registered letter within a month of the e-mail, 004 §3
within 30 days of the entry into force); a Responsable (owner) refuses it, giving the
registered letter's date where the terms require one, or withdraws a refusal while the
window is open. A change imposed by law cannot be refused (000 §4). The pages call
``contracts.terms_changes``, the same rules as ``POST …/terms-refusal``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.accounts.roles import Role
from nuages.contracts import service as contracts
from nuages.contracts import terms_changes
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
FIELDS = ("letter_date", "reason")


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _context(visit: Visit, session: Session, contract_id: str) -> dict[str, Any]:
    contract = contracts.get_contract(session, visit.me, contract_id)
    change = terms_changes.open_change(session, contract.id)
    new = None
    if change is not None:
        new = _registry(visit).version(session, contract.offer_id, change.to_hash)
    now = utc_now()
    return {
        "contract": contract,
        "change": change,
        "changes": new.changes if new is not None else None,
        "window_open": bool(
            change is not None and change.refusable_until and now < change.refusable_until
        ),
        "may_answer": visit.me.is_staff or visit.me.role == Role.CLIENT_OWNER,
    }


def _page(
    visit: Visit,
    contract_id: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with visit.read() as session:
        return visit.render(
            "client/terms_refusal.html",
            status=status,
            values=values or {},
            errors=errors or {},
            once=visit.once(),
            **_context(visit, session, contract_id),
        )


@router.get("/contracts/{contract_id}/terms")
def terms_page(visit: SignedIn, contract_id: str) -> Response:
    """The announced change and the refusal form."""
    return _page(visit, contract_id)


@router.post("/contracts/{contract_id}/terms/refuse")
def terms_refuse(posted: PostedForm, contract_id: str) -> Response:
    """Refuse the announced terms within the window; refused refusals say why."""
    visit = posted.visit
    values = {name: posted.get(name).strip() for name in FIELDS}
    back = f"/contracts/{contract_id}/terms"
    try:
        letter = dt.date.fromisoformat(values["letter_date"]) if values["letter_date"] else None
    except ValueError:
        errors = {"letter_date": visit._("Saisissez une date valide.")}
        return _page(visit, contract_id, values, errors, 422)
    try:
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, back)
            terms_changes.refuse(
                session, visit.me, _registry(visit), contract_id,
                letter_date=letter, reason=values["reason"][:500],
            )  # fmt: skip
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NuagesError as exc:
        if isinstance(exc, NotFound):
            raise
        return _page(visit, contract_id, values, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(back, "terms_refused")


@router.post("/contracts/{contract_id}/terms/withdraw")
def terms_withdraw(posted: PostedForm, contract_id: str) -> Response:
    """Withdraw a refusal (past the window, the new terms apply at once)."""
    visit = posted.visit
    back = f"/contracts/{contract_id}/terms"
    try:
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, back)
            terms_changes.withdraw_refusal(session, visit.me, _registry(visit), contract_id)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NuagesError as exc:
        if isinstance(exc, NotFound):
            raise
        return _page(visit, contract_id, None, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(back, "refusal_withdrawn")
