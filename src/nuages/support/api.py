"""REST endpoints of support tickets and managed-service change requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed
from nuages.support import changes, schemas, tickets

router = APIRouter(prefix="/api/v1", tags=["support"])


def _offers(request: Request) -> OfferRegistry:
    registry: OfferRegistry = request.app.state.offers
    return registry


def _detail(session: Any, registry: OfferRegistry, ticket: Any) -> dict[str, Any]:
    base = schemas.TicketOut.model_validate(ticket).model_dump()
    messages = [
        schemas.MessageOut.model_validate(m) for m in tickets.messages_of(session, ticket.id)
    ]
    return schemas.TicketDetail(
        **base,
        **tickets.detail(session, registry, ticket),
        messages=messages,
    ).model_dump(mode="json")


@router.get("/tickets", response_model=list[schemas.TicketOut])
def list_tickets(
    principal: PrincipalDep,
    session: SessionDep,
    state: Annotated[Literal["open", "answered", "closed"] | None, Query()] = None,
) -> Any:
    """The caller's tickets (staff: all), newest first."""
    return list(session.execute(tickets.list_tickets(principal, state=state).limit(500)).scalars())


@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=schemas.TicketDetail)
def open_ticket(
    body: schemas.TicketCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Open a ticket (001 §10); an incident on a VM is also its failure notice (001 §10.1)."""
    ticket = tickets.open_ticket(session, principal, _offers(request), body)
    return _detail(session, _offers(request), ticket)


@router.get("/tickets/{ticket_id}", response_model=schemas.TicketDetail)
def get_ticket(
    ticket_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> Any:
    """A ticket with its support hours, deadlines in those hours and messages (a staff
    read is written to the client's history, 001 §15.3)."""
    ticket = tickets.read_ticket(session, principal, ticket_id)
    return _detail(session, _offers(request), ticket)


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MessageOut,
)
def add_message(
    ticket_id: str,
    body: schemas.MessageCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> Any:
    """Answer or follow up a ticket; staff log interventions (out of hours: billed, 001 §10.3)."""
    return tickets.add_message(session, principal, _offers(request), ticket_id, body)


@router.get("/contracts/{contract_id}/change-requests", response_model=schemas.ChangeRequestList)
def list_changes(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> Any:
    """The contract's change requests and this month's standard quota (002 §3.8.4)."""
    return changes.list_changes(session, principal, _offers(request), contract_id)


@router.post(
    "/contracts/{contract_id}/change-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ChangeRequestOut,
)
def request_change(
    contract_id: str,
    body: schemas.ChangeRequestCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> Any:
    """Ask for a change to a managed service: standard within the quota is free;
    beyond it, or significant, needs ``accept_price``; major awaits a quote."""
    return changes.request_change(session, principal, _offers(request), contract_id, body)


@router.post("/changes/{change_id}/accept", response_model=schemas.ChangeRequestOut)
def accept_quote(change_id: str, principal: PrincipalDep, session: SessionDep) -> Any:
    """An owner accepts a quoted major change (no body): billed once at the quoted price
    on the next invoice (002 §3.8.4); not quoted, or already accepted: 409."""
    return changes.accept_quote(session, principal, change_id)


@router.post("/changes/{change_id}/decline", response_model=schemas.ChangeRequestOut)
def decline_quote(change_id: str, principal: PrincipalDep, session: SessionDep) -> Any:
    """An owner declines a quoted major change (no body): nothing billed (002 §3.8.4)."""
    return changes.decline_quote(session, principal, change_id)


@router.get("/contracts/{contract_id}/update-report", response_model=schemas.UpdateReport)
def update_report(
    contract_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    month: Annotated[str | None, Query(examples=["2026-11"])] = None,
) -> Any:
    """002 §3.8.3: the month's average update delay in working hours against 72 (by
    default the current UTC month)."""
    if month is None:
        month = utc_now().strftime("%Y-%m")
    try:
        year, mon = (int(p) for p in month.split("-"))
        if not 1 <= mon <= 12:
            raise ValueError
    except ValueError:
        raise ValidationFailed(f"month: {month!r} is not YYYY-MM") from None
    return tickets.update_report(session, principal, _offers(request), contract_id, year, mon)
