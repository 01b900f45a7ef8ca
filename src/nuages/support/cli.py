"""``nuages tickets``: support tickets, support agreements and managed-service change
requests as the provider's staff handle them. Every command takes ``--json``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import typer

import nuages.models  # noqa: F401 - every table, for the foreign keys of a fresh process
from nuages import cli_output as out
from nuages.accounts.principal import Principal
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings
from nuages.managed import agreements
from nuages.support import changes, schemas, tickets

tickets_app = typer.Typer(help="Support tickets, support agreements and change requests.")

# The operator at the console, named in the history (``cli:<login>``).
CLI = Principal.operator()


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _registry() -> OfferRegistry:
    return OfferRegistry.from_directory(get_settings().offers_dir)


def _money(option: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation:
        out.fail(f"{option}: {value!r} is not an amount", out.EXIT_USAGE)


@tickets_app.command("list")
def list_cmd(
    state: str | None = typer.Option(None, help="open, answered or closed"),
    as_json: bool = out.JSON,
) -> None:
    """Tickets, newest first.

    Example: nuages tickets list --state open --json
    """
    if state is not None and state not in ("open", "answered", "closed"):
        out.fail("--state must be open, answered or closed", out.EXIT_USAGE)
    with _database().unit(readonly=True) as session:
        rows = [
            schemas.TicketOut.model_validate(t).model_dump()
            for t in session.execute(tickets.list_tickets(CLI, state=state).limit(500)).scalars()
        ]
    out.emit(rows, as_json)


@tickets_app.command("show")
def show(ticket_id: str, as_json: bool = out.JSON) -> None:
    """One ticket: its support hours, deadlines in those hours and messages.

    Example: nuages tickets show TICKET_ID --json
    """
    try:
        with _database().unit(readonly=True) as session:
            ticket = tickets.get_ticket(session, CLI, ticket_id)
            data: dict[str, Any] = schemas.TicketOut.model_validate(ticket).model_dump()
            data |= tickets.detail(session, _registry(), ticket)
            data["messages"] = [
                schemas.MessageOut.model_validate(m).model_dump()
                for m in tickets.messages_of(session, ticket.id)
            ]
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(data, as_json)


@tickets_app.command("answer")
def answer(
    ticket_id: str,
    body: str = typer.Option(..., help="the answer"),
    minutes: int | None = typer.Option(None, help="intervention minutes (out of hours: billed)"),
    provider_fault: bool = typer.Option(False, help="the provider caused it: not billed"),
    close: bool = typer.Option(False, help="close the ticket"),
    as_json: bool = out.JSON,
) -> None:
    """Answer a ticket as staff; an intervention outside support hours is billed on the
    next invoice (001 §10.3) unless the provider was at fault.

    Example: nuages tickets answer TICKET_ID --body 'Restarted nginx' --minutes 45
    """
    intervention = (
        schemas.Intervention(minutes=minutes, provider_at_fault=provider_fault)
        if minutes is not None
        else None
    )
    data = schemas.MessageCreate(body=body, intervention=intervention, close=close)
    try:
        with _database().unit() as session:
            message = tickets.add_message(session, CLI, _registry(), ticket_id, data)
            row = schemas.MessageOut.model_validate(message).model_dump()
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(row, as_json)


@tickets_app.command("agreement")
def agreement(
    contract_id: str,
    hourly_rate: str | None = typer.Option(None, help="normal hourly rate, EUR (001 §10.3)"),
    maintenance: bool | None = typer.Option(None, help="maintenance offer (003 §5.1.3)"),
    managed: bool | None = typer.Option(None, help="managed service (002 §3.8)"),
    standard_quota: int | None = typer.Option(None, help="free standard changes per month"),
    standard_price: str | None = typer.Option(None, help="price of a standard change beyond"),
    significant_price: str | None = typer.Option(None, help="catalogue price, significant"),
    footprint_audit_end: str | None = typer.Option(None, help="ISO 8601 with zone (002 §4)"),
    as_json: bool = out.JSON,
) -> None:
    """Show or set a contract's support agreement (only the options given change).

    Example: nuages tickets agreement CONTRACT_ID --managed --standard-quota 4
    """
    values: dict[str, object] = {}
    for name, value in (
        ("hourly_rate", _money("--hourly-rate", hourly_rate)),
        ("standard_change_price", _money("--standard-price", standard_price)),
        ("significant_change_price", _money("--significant-price", significant_price)),
        ("maintenance_offer", maintenance),
        ("managed", managed),
        ("standard_changes_per_month", standard_quota),
    ):
        if value is not None:
            values[name] = value
    if footprint_audit_end is not None:
        try:
            moment = dt.datetime.fromisoformat(footprint_audit_end)
        except ValueError:
            out.fail(f"--footprint-audit-end: {footprint_audit_end!r} is not ISO 8601", 2)
        if moment.tzinfo is None:
            out.fail("--footprint-audit-end: give a time zone, e.g. 2026-11-15T10:00:00+01:00", 2)
        values["footprint_audit_end"] = moment.astimezone(dt.UTC)
    try:
        with _database().unit() as session:
            row = (
                agreements.set_agreement(session, CLI, contract_id, values)
                if values
                else agreements.get_agreement(session, CLI, contract_id)
            )
            data = {name: getattr(row, name) for name in ("contract_id", *agreements.FIELDS)}
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(data, as_json)


@tickets_app.command("changes")
def changes_cmd(contract_id: str, as_json: bool = out.JSON) -> None:
    """A contract's change requests and this month's standard quota (002 §3.8.4).

    Example: nuages tickets changes CONTRACT_ID --json
    """
    try:
        with _database().unit(readonly=True) as session:
            data = changes.list_changes(session, CLI, _registry(), contract_id)
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(data, as_json)


@tickets_app.command("change-quote")
def change_quote(
    change_id: str,
    amount: str = typer.Option(..., help="the quote, EUR"),
    accepted: bool = typer.Option(False, help="the client accepted it in writing: bill it"),
    as_json: bool = out.JSON,
) -> None:
    """Record a major change's quote (and its acceptance: on the next invoice).

    Example: nuages tickets change-quote CHANGE_ID --amount 2400 --accepted
    """
    price = _money("--amount", amount)
    assert price is not None
    try:
        with _database().unit() as session:
            row = schemas.ChangeRequestOut.model_validate(
                changes.quote_major(session, CLI, change_id, price, accepted)
            ).model_dump()
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(row, as_json)


@tickets_app.command("change-accept")
def change_accept(change_id: str, as_json: bool = out.JSON) -> None:
    """Record the client's written acceptance of a quoted major change at its quoted
    price: on the next invoice, once (002 §3.8.4). Owners accept in the portal or API.

    Example: nuages tickets change-accept CHANGE_ID --json
    """
    try:
        with _database().unit() as session:
            row = schemas.ChangeRequestOut.model_validate(
                changes.accept_in_writing(session, CLI, change_id)
            ).model_dump()
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(row, as_json)


@tickets_app.command("update-report")
def update_report(
    contract_id: str,
    month: str = typer.Option(..., help="YYYY-MM"),
    as_json: bool = out.JSON,
) -> None:
    """002 §3.8.3: the month's average update delay in working hours against 72.

    Example: nuages tickets update-report CONTRACT_ID --month 2026-11 --json
    """
    try:
        year, mon = (int(p) for p in month.split("-"))
        if not 1 <= mon <= 12:
            raise ValueError
    except ValueError:
        out.fail(f"--month: {month!r} is not YYYY-MM", out.EXIT_USAGE)
    try:
        with _database().unit(readonly=True) as session:
            data = tickets.update_report(session, CLI, _registry(), contract_id, year, mon)
    except NuagesError as exc:
        out.fail(exc.detail)
    out.emit(data, as_json)
