"""The client's managed-service change requests (002 §3.8.4): a contract's requests
with this month's standard-change quota, and the form to ask for one. A priced one
(over the quota, or significant) is refused until its price is accepted, the price
said next to the field, nothing written; same rules as
``POST /contracts/{id}/change-requests`` (``support.changes``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.compute.api import registry
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors
from nuages.support import changes
from nuages.support.schemas import ChangeRequestCreate

router = APIRouter()
FIELDS = ("kind", "description", "vm_id", "accept_price")


def _page(
    visit: Visit, contract_id: str, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    with visit.read() as session:
        listed = changes.list_changes(session, visit.me, registry(visit.request), contract_id)
        return visit.render(
            "client/changes.html", status=status, contract_id=contract_id, listed=listed,
            values=values, errors=errors, once=values.get("_once") or visit.once(),
        )  # fmt: skip


@router.get("/contracts/{contract_id}/changes")
def changes_page(visit: SignedIn, contract_id: str) -> Response:
    """The contract's change requests and the month's quota."""
    return _page(visit, contract_id, {}, {}, 200)


@router.post("/contracts/{contract_id}/changes")
def change_request(posted: PostedForm, contract_id: str) -> Response:
    """Ask for the change once however often the form is sent."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name).strip() for name in FIELDS}
    values["_once"] = posted.once
    back = f"/contracts/{contract_id}/changes"
    try:
        body = ChangeRequestCreate(
            kind=values["kind"], description=values["description"],
            vm_id=values["vm_id"] or None, accept_price=values["accept_price"] == "yes",
        )  # fmt: skip
    except ValidationError as exc:
        return _page(visit, contract_id, values, field_errors(exc, FIELDS), 422)
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            changes.request_change(session, visit.me, registry(visit.request), contract_id, body)
            portal.set_result(use, back)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NotFound:
        raise
    except NuagesError as exc:
        return _page(visit, contract_id, values, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(back, "change_requested")


def _decide(posted: PostedForm, contract_id: str, change_id: str, accept: bool) -> Response:
    visit = posted.visit
    back = f"/contracts/{contract_id}/changes"
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            decide = changes.accept_quote if accept else changes.decline_quote
            if decide(session, visit.me, change_id).contract_id != contract_id:
                raise NotFound("no such change request")  # rolled back with the unit
            portal.set_result(use, back)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NotFound:
        raise
    except NuagesError as exc:
        return _page(visit, contract_id, {}, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(back, "quote_accepted" if accept else "quote_declined")


@router.post("/contracts/{contract_id}/changes/{change_id}/accept")
def quote_accept(posted: PostedForm, contract_id: str, change_id: str) -> Response:
    """An owner accepts a major change's quote: on the next invoice (002 §3.8.4)."""
    return _decide(posted, contract_id, change_id, True)


@router.post("/contracts/{contract_id}/changes/{change_id}/decline")
def quote_decline(posted: PostedForm, contract_id: str, change_id: str) -> Response:
    """An owner declines a major change's quote: nothing billed."""
    return _decide(posted, contract_id, change_id, False)
