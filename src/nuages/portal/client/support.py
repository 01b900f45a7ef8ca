"""Support and data-protection pages: the tickets (list, opening, a page per ticket with
its business-hours deadlines and replies, 001 §10, 003 §5.1.3) and the client's register
of processing (GDPR Art. 30.2, 001 §16.4), as HTML and PDF."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.compute.api import registry
from nuages.compute.services import vms
from nuages.contracts import service as contracts
from nuages.gdpr import register
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors
from nuages.support import schemas, tickets

router = APIRouter()
TICKET_FIELDS = ("category", "severity", "vm_id", "contract_id", "subject", "body")


@router.get("/tickets")
def ticket_list(visit: SignedIn) -> Response:
    """The visitor's tickets (staff: every client's), newest first."""
    with visit.read() as session:
        rows = list(session.execute(tickets.list_tickets(visit.me).limit(200)).scalars())
        return visit.render("client/tickets.html", tickets=rows)


def _form(visit: Visit, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        shown, _ = contracts.list_contracts(session, visit.me, 1, 200)
        machines, _ = vms.list_vms(session, visit.me, 1, 200)
        return visit.render(
            "client/ticket_new.html",
            status=status,
            values=values,
            errors=errors,
            once=values.get("_once") or visit.once(),
            contracts=[(c.id, f"{c.offer_id} · {c.id[:8]}") for c in shown],
            vms=[("", "—")] + [(v.id, v.name) for v in machines],
        )


@router.get("/tickets/new")
def ticket_new(visit: SignedIn) -> Response:
    """The form to open a ticket."""
    return _form(visit, {}, {}, 200)


@router.post("/tickets/new")
def ticket_open(posted: PostedForm) -> Response:
    """Open the ticket once however often the form is sent; show its page."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name) for name in TICKET_FIELDS}
    values["_once"] = posted.once
    try:
        body = schemas.TicketCreate(
            category=values["category"],
            severity=values["severity"] or "normal",
            vm_id=values["vm_id"] or None,
            contract_id=None if values["vm_id"] else (values["contract_id"] or None),
            subject=values["subject"],
            body=values["body"],
        )
    except ValidationError as exc:
        return _form(visit, values, field_errors(exc, TICKET_FIELDS), 422)
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            ticket = tickets.open_ticket(session, visit.me, registry(visit.request), body)
            portal.set_result(use, f"/tickets/{ticket.id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/tickets", "already_sent")
    except NuagesError as exc:
        return _form(visit, values, field_errors(exc, TICKET_FIELDS), exc.status)
    return visit.redirect(f"/tickets/{ticket.id}", "ticket_opened")


def _ticket_page(
    visit: Visit, ticket_id: str, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    with visit.read() as session:
        ticket = tickets.get_ticket(session, visit.me, ticket_id)
        return visit.render(
            "client/ticket.html",
            status=status,
            ticket=ticket,
            timers=tickets.detail(session, registry(visit.request), ticket),
            messages=tickets.messages_of(session, ticket.id),
            values=values,
            errors=errors,
            once=visit.once(),
        )


@router.get("/tickets/{ticket_id}")
def ticket_page(visit: SignedIn, ticket_id: str) -> Response:
    """One ticket: its support hours, deadlines in those hours, messages, a reply form."""
    return _ticket_page(visit, ticket_id, {}, {}, 200)


@router.post("/tickets/{ticket_id}/messages")
def ticket_reply(posted: PostedForm, ticket_id: str) -> Response:
    """Add a reply (and close the ticket when asked)."""
    visit = posted.visit
    values = {"body": posted.get("body"), "close": posted.get("close")}
    try:
        body = schemas.MessageCreate(body=values["body"], close=values["close"] == "on")
    except ValidationError as exc:
        return _ticket_page(visit, ticket_id, values, field_errors(exc, ("body",)), 422)
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            tickets.add_message(session, visit.me, registry(visit.request), ticket_id, body)
            portal.set_result(use, f"/tickets/{ticket_id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or f"/tickets/{ticket_id}", "already_sent")
    except NotFound:
        raise
    except NuagesError as exc:
        return _ticket_page(visit, ticket_id, values, field_errors(exc, ("body",)), exc.status)
    return visit.redirect(f"/tickets/{ticket_id}", "ticket_replied")


def _register(visit: Visit) -> dict[str, Any]:
    client_id = visit.me.client_id
    if client_id is None:  # staff read a client's register through the API or the CLI
        raise NotFound("no such client")
    with visit.read() as session:
        return register.build(session, visit.me, registry(visit.request), client_id)


@router.get("/gdpr/register")
def register_page(visit: SignedIn) -> Response:
    """The register of processing kept for the visitor's client."""
    return visit.render("client/register.html", register=_register(visit))


@router.get("/gdpr/register.pdf")
def register_pdf(visit: SignedIn) -> Response:
    """The same register as a PDF."""
    data = register.to_pdf(_register(visit))
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="register.pdf"'},
    )
