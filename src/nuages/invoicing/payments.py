"""Payments: money received, allocated to invoices, written once; returned debits.

A payment is refused whole, never half-written, when it is larger than what the
client owes, goes to a cancelled invoice, or pays part of an invoice under an offer
that rejects partial payments (003 §14.5). Settling an invoice late puts its late
interest on the next invoice (000 §13.1, 001 §4.4) and, once nothing is overdue, lifts
a suspension dunning imposed (004 §7: restored once the cause is remedied).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.billing import topups
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import documents, dunning, schemas
from nuages.invoicing.credits import lock_invoice
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Invoice, Payment, PaymentAllocation, SepaItem
from nuages.kernel.clock import not_in_future, utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.settings import get_settings
from nuages.notices import announce
from nuages.payments import cards
from nuages.payments.cards import card_provider

ZERO = Decimal("0.00")


class PaymentState:
    """Where a payment stands."""

    RECEIVED = "received"
    RETURNED = "returned"  # a direct debit or cheque the bank sent back


def card_webhook(
    session: Session, registry: OfferRegistry, body: bytes, signature: str | None
) -> tuple[Payment, bool] | topups.CardTopup:
    """Book a card payment the provider confirms (000 §3.1, §13.2: formed on the
    provider's confirmation): the event's signature and age are checked
    (``payments.cards.verify``), then it pays the invoice its metadata names, or tops
    up the prepaid account of the contract it names (``billing.topups.card_event``,
    which forms a pending contract once its minimum amount is in), once per event id
    (a redelivered event books nothing). 404 unless the settings choose the
    ``webhook`` provider; 422 on a bad signature, a stale event, an event naming both
    or neither, or an unknown invoice or contract."""
    settings = get_settings()
    if settings.seller_card_provider != "webhook":
        raise NotFound("no card webhook: the card provider is not a webhook provider")
    event = cards.verify(settings.card_webhook_secret, body, signature)
    if event.kind != "payment.succeeded":
        raise ValidationFailed(f"event: {event.kind} is not a captured payment")
    if event.topup_contract is not None:
        return topups.card_event(session, registry, event)
    invoice = session.execute(
        select(Invoice).where(Invoice.number == event.invoice_number, Invoice.kind == "invoice")
    ).scalar_one_or_none()
    if invoice is None:
        raise ValidationFailed(f"event: no invoice {event.invoice_number}")
    if event.currency != invoice.currency:
        raise ValidationFailed(f"event: paid in {event.currency}, invoiced in {invoice.currency}")
    return record(
        session,
        Actor.system("card-webhook"),
        registry,
        schemas.PaymentCreate(
            client_id=invoice.client_id,
            means="card",
            amount=event.amount,
            received_on=min(event.occurred_at.date(), utc_now().date()),
            reference=event.provider_ref,
            idempotency_key=f"card:{event.event_id}",
            allocations=[schemas.Allocation(invoice_id=invoice.id, amount=event.amount)],
        ),
        provider_ref=event.provider_ref,
    )


def _open_invoices(session: Session, client_id: str) -> list[Invoice]:
    """The client's invoices with something due, oldest due date first."""
    rows = session.execute(
        select(Invoice)
        .where(
            Invoice.client_id == client_id,
            Invoice.kind == "invoice",
            Invoice.state == InvoiceState.ISSUED,
        )
        .order_by(Invoice.due_date, Invoice.issue_date, Invoice.seq_no)
    ).scalars()
    return list(rows)


def _plan(
    session: Session, registry: OfferRegistry, client_id: str, data: schemas.PaymentCreate
) -> list[tuple[Invoice, Decimal]]:
    """Where the payment goes; refuses anything that would leave it half-allocated."""
    out: list[tuple[Invoice, Decimal]] = []
    if data.allocations:
        total = sum((a.amount for a in data.allocations), ZERO)
        if total != data.amount:
            raise ValidationFailed(
                f"allocations: they add up to {total}, the payment is {data.amount}"
            )
        for allocation in data.allocations:
            invoice = session.get(Invoice, allocation.invoice_id)
            if invoice is None or invoice.client_id != client_id:
                raise NotFound(f"no invoice {allocation.invoice_id} of this client")
            out.append((lock_invoice(session, invoice.id), allocation.amount))
    else:
        left = data.amount
        for invoice in _open_invoices(session, client_id):
            if left <= 0:
                break
            locked = lock_invoice(session, invoice.id)
            share = min(left, documents.outstanding(session, locked))
            if share > 0:
                out.append((locked, share))
                left -= share
        if left > 0:
            owed = data.amount - left
            raise ValidationFailed(
                f"amount: {data.amount} is more than the {owed} this client owes; "
                "nothing was recorded"
            )
    for invoice, amount in out:
        if invoice.kind != "invoice":
            raise ValidationFailed(f"{invoice.number} is a credit note, not an invoice")
        if invoice.state == InvoiceState.CANCELLED:
            raise Conflict(f"invoice {invoice.number} is cancelled (fully credited)")
        due = documents.outstanding(session, invoice)
        if amount > due:
            raise ValidationFailed(
                f"amount: {amount} is more than the {due} due on {invoice.number}"
            )
        contract = session.get(Contract, invoice.contract_id)
        assert contract is not None
        invoiced = registry.for_contract(session, contract).billing.invoiced
        if amount < due and invoiced is not None and not invoiced.partial_payments_accepted:
            raise ValidationFailed(
                f"amount: {amount} pays only part of the {due} due on {invoice.number}, and "
                "partial payments are rejected (003 §14.5)"
            )
    return out


def record(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    data: schemas.PaymentCreate,
    provider_ref: str = "",
) -> tuple[Payment, bool]:
    """Write a payment and its allocations once per idempotency key; return it and
    whether this call wrote it (the same key with another payment is a 409).

    A payment is received today or earlier, never later (9.3): a future date would
    lift a suspension or stop interest for money not yet received."""
    not_in_future("received_on", data.received_on)
    existing = session.execute(
        select(Payment).where(Payment.idempotency_key == data.idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        same = (existing.client_id, existing.amount, existing.means) == (
            data.client_id,
            data.amount,
            data.means,
        )
        if not same:
            raise Conflict(f"idempotency key {data.idempotency_key!r} names another payment")
        return existing, False
    client = session.get(Client, data.client_id)
    if client is None:
        raise NotFound("no such client")
    plan = _plan(session, registry, client.id, data)
    payment = Payment(
        client_id=client.id,
        means=data.means,
        amount=data.amount,
        received_on=data.received_on,
        reference=data.reference,
        provider_ref=provider_ref,
        idempotency_key=data.idempotency_key,
        state=PaymentState.RECEIVED,
    )
    session.add(payment)
    session.flush()
    for invoice, amount in plan:
        session.add(PaymentAllocation(payment_id=payment.id, invoice_id=invoice.id, amount=amount))
    session.flush()
    history.record(
        session,
        who,
        object_type="payment",
        object_id=payment.id,
        action="payment.record",
        params={
            "amount": str(data.amount),
            "means": data.means,
            "invoices": [i.number for i, _ in plan],
            "key": data.idempotency_key,
        },
        client_id=client.id,
    )
    announce.payment_received(session, who, payment)
    touched: dict[str, Contract] = {}
    for invoice, _amount in plan:
        if documents.refresh_state(session, invoice) == InvoiceState.PAID:
            dunning.charge_late_interest(session, who, registry, invoice)
        contract = session.get(Contract, invoice.contract_id)
        assert contract is not None
        touched[contract.id] = contract
    for contract in touched.values():
        dunning.lift_if_settled(session, who, contract, data.received_on)
    return payment, True


def staff_record(
    session: Session, actor: Principal, registry: OfferRegistry, data: schemas.PaymentCreate
) -> tuple[Payment, bool]:
    """Staff record money received (bank statement, cheque, card terminal)."""
    actor.require(Scope.BILLING)
    if not actor.is_staff:
        raise Forbidden("only provider staff record payments")
    provider_ref = ""
    if data.means == "card":
        capture = card_provider().capture(
            amount=data.amount,
            currency="EUR",
            reference=data.reference,
            idempotency_key=data.idempotency_key,
        )
        provider_ref = capture.provider_ref
    return record(session, actor.actor, registry, data, provider_ref)


def get_payment(session: Session, actor: Principal, payment_id: str) -> Payment:
    """A payment the caller may see (403 without billing, 404 for another client's)."""
    actor.require(Scope.BILLING)
    payment = session.get(Payment, payment_id)
    if payment is None or not actor.can_see_client(payment.client_id):
        raise NotFound("no such payment")
    return payment


def allocations(session: Session, payment_id: str) -> list[PaymentAllocation]:
    """The payment's allocations (returns included, as negative amounts)."""
    return list(
        session.execute(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment_id)
            .order_by(PaymentAllocation.created_at, PaymentAllocation.id)
        ).scalars()
    )


def return_payment(session: Session, who: Actor, payment: Payment, reason: str) -> Payment:
    """A direct debit (or cheque) the bank sent back: the payment is marked returned,
    its allocations are reversed by opposite rows, and its invoices open again."""
    if payment.means not in ("direct_debit", "cheque"):
        raise ValidationFailed(f"a {payment.means} payment cannot be returned by the bank")
    if payment.state != PaymentState.RECEIVED:
        raise Conflict("this payment was already returned")
    rows = allocations(session, payment.id)
    for row in rows:
        lock_invoice(session, row.invoice_id)
        session.add(
            PaymentAllocation(payment_id=payment.id, invoice_id=row.invoice_id, amount=-row.amount)
        )
    payment.state = PaymentState.RETURNED
    payment.returned_at = utc_now()
    payment.return_reason = reason
    for item in session.execute(
        select(SepaItem).where(SepaItem.payment_id == payment.id)
    ).scalars():
        item.state = "returned"
    session.flush()
    for row in rows:
        invoice = session.get(Invoice, row.invoice_id)
        assert invoice is not None
        documents.refresh_state(session, invoice)
    history.record(
        session,
        who,
        object_type="payment",
        object_id=payment.id,
        action="payment.return",
        params={"reason": reason, "amount": str(payment.amount)},
        client_id=payment.client_id,
    )
    return payment


def staff_return(session: Session, actor: Principal, payment_id: str, reason: str) -> Payment:
    """Staff record a returned debit (R-transaction)."""
    payment = get_payment(session, actor, payment_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff record returned debits")
    return return_payment(session, actor.actor, payment, reason)
