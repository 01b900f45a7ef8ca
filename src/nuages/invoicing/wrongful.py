"""000 §11.1 for invoiced contracts: a manifestly wrongful suspension is not billed.

When staff lift a hold as wrongful (``contracts.holds.lift(…, wrongful=True)``) on a
contract billed by invoice, what its invoices charged for the held time is given back
as **one credit note on the contract's next invoice** (the first invoice issued since
the hold was lifted), as SLA credits are (``sla/credits.py``):

- the held time is ``[placed_at, lifted_at)``; every line of the contract's issued
  invoices (up to that next one) with a period ``[period_start, period_end)`` (local
  dates of the contract's calendar, half-open) overlapping it gives back its VAT-included
  amount in proportion to the overlap, counted in seconds (a 30-day line held 3 days
  gives back 3/30 of it); lines without a period (one-off fees) and credit lines give
  nothing back;
- until that next invoice exists the credit waits: the job at the lift and every
  invoicing run (``apply_waiting``) look again;
- exactly once: the credit note's line names the hold (``KEY`` + hold id), and it is
  looked for after the invoice is locked, so two passes at once issue one note.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.net import cut_holds
from nuages.contracts.holds import NETWORK_SCOPE
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import credits, documents
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.kernel.db import Database
from nuages.kernel.money import round_cents
from nuages.terms import apply

CLAUSE = "000 §11.1"
KEY = "wrongful-hold:"  # written in the credit note's line: the hold it gives back for


def key_of(hold_id: str) -> str:
    """The idempotency key of a hold's credit note."""
    return f"{KEY}{hold_id}"


def _next_invoice(session: Session, contract_id: str, since: dt.datetime) -> Invoice | None:
    return session.execute(
        select(Invoice)
        .where(
            Invoice.contract_id == contract_id,
            Invoice.kind == "invoice",
            Invoice.state != InvoiceState.CANCELLED,
            Invoice.issued_at >= since,
        )
        .order_by(Invoice.issued_at, Invoice.id)
        .limit(1)
    ).scalar_one_or_none()


def held_amount(
    session: Session, registry: OfferRegistry, hold: ContractHold, until: Invoice
) -> Decimal:
    """What the contract's invoices up to ``until`` charged (VAT included) for the hold's
    time, pro rata of each line's period (see the module's docstring)."""
    assert hold.lifted_at is not None
    contract = session.get(Contract, hold.contract_id)
    assert contract is not None
    calendar = apply.calendar_for(registry.for_contract(session, contract))
    start, end = hold.placed_at, hold.lifted_at
    query = (
        select(InvoiceLine)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.contract_id == hold.contract_id,
            Invoice.kind == "invoice",
            Invoice.state != InvoiceState.CANCELLED,
            Invoice.issued_at <= until.issued_at,
            InvoiceLine.period_start.is_not(None),
            InvoiceLine.period_end.is_not(None),
            InvoiceLine.net_amount > 0,
        )
    )
    if hold.scope == NETWORK_SCOPE:
        # A network cut's hold suspended only its cut VMs: only their lines give back.
        query = query.where(InvoiceLine.vm_id.in_(cut_holds.vms_of(session, hold.id)))
    rows = session.execute(query).scalars()
    total = Decimal(0)
    for line in rows:
        assert line.period_start is not None and line.period_end is not None
        lo = calendar.start_of_day(line.period_start)
        hi = calendar.start_of_day(line.period_end)
        inside = (min(hi, end) - max(lo, start)).total_seconds()
        if hi <= lo or inside <= 0:
            continue
        with_vat = line.gross_amount
        if with_vat is None:
            with_vat = line.net_amount * (1 + line.vat_rate / 100)
        total += with_vat * Decimal(str(inside)) / Decimal(str((hi - lo).total_seconds()))
    return round_cents(total)


def _already(session: Session, contract_id: str, hold_id: str) -> Invoice | None:
    return session.execute(
        select(Invoice)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(
            Invoice.contract_id == contract_id,
            Invoice.kind == "credit_note",
            InvoiceLine.description.contains(key_of(hold_id)),
        )
        .limit(1)
    ).scalar_one_or_none()


def credit_wrongful_hold(
    session: Session, who: Actor, registry: OfferRegistry, hold_id: str
) -> Invoice | None:
    """The credit note giving back an invoiced contract's wrongfully held time (issued
    once; the same note when asked again); None when there is nothing to give back
    (not wrongful, not lifted, prepaid, nothing invoiced for that time) or the next
    invoice is not issued yet (asked again by ``apply_waiting``)."""
    hold = session.get(ContractHold, hold_id)
    if hold is None or not hold.wrongful or hold.lifted_at is None:
        return None
    contract = session.get(Contract, hold.contract_id)
    if contract is None:
        return None
    if registry.for_contract(session, contract).billing.mode == "prepaid":
        return None  # billing's ledger credits it (billing/wrongful.py)
    found = _already(session, contract.id, hold.id)
    if found is not None:
        return found
    invoice = _next_invoice(session, contract.id, hold.lifted_at)
    if invoice is None:
        return None
    invoice = credits.lock_invoice(session, invoice.id)
    found = _already(session, contract.id, hold.id)  # issued meanwhile (lock taken)
    if found is not None:
        return found
    amount = held_amount(session, registry, hold, invoice)
    remaining = invoice.grand_total - documents.credited_amount(session, invoice.id)
    amount = min(amount, remaining)
    if amount <= 0:
        return None
    note = credits.credit_note(
        session,
        who,
        registry,
        invoice.id,
        f"suspension injustifiée ({hold.ground}), temps suspendu non facturé ({CLAUSE}) "
        f"[{key_of(hold.id)}]",
        amount,
    )
    history.record(
        session,
        who,
        object_type="contract_hold",
        object_id=hold.id,
        action="invoicing.credit.wrongful_hold",
        params={
            "hold_id": hold.id,
            "invoice": invoice.number,
            "credit_note": note.number,
            "amount": str(amount),
            "clause": CLAUSE,
        },
        client_id=hold.client_id,
        scope="billing",
    )
    return note


def apply_waiting(session: Session, who: Actor, registry: OfferRegistry) -> list[str]:
    """Issue the credit notes of wrongful holds whose next invoice now exists; the
    numbers issued."""
    ids = list(
        session.execute(
            select(ContractHold.id)
            .where(ContractHold.wrongful.is_(True), ContractHold.lifted_at.is_not(None))
            .order_by(ContractHold.lifted_at, ContractHold.id)
        ).scalars()
    )
    issued = []
    for hold_id in ids:
        hold = session.get(ContractHold, hold_id)
        assert hold is not None
        if _already(session, hold.contract_id, hold_id) is not None:
            continue
        note = credit_wrongful_hold(session, who, registry, hold_id)
        if note is not None:
            issued.append(note.number)
    return issued


def run_job(
    database: Database, who: Actor, registry: OfferRegistry, hold_id: str | None = None
) -> list[str]:
    """The job edge: one hold's credit note (at its lift), or every waiting one (after
    an invoicing run); the numbers issued."""
    with database.unit() as session:
        if hold_id is None:
            return apply_waiting(session, who, registry)
        note = credit_wrongful_hold(session, who, registry, hold_id)
        return [note.number] if note is not None else []
