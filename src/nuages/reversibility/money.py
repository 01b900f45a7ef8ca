"""The money side of an exit: what the contract still owes (001 §7, 003 §13.2: data
only once everything is paid; 002 §10: none after a payment default), the fees
(001 §7 EUR 250 per transfer, 004 §17.2 EUR 360 per VM) written exactly once, on the
prepaid ledger or as a charge of the contract's final invoice, and the 000 §13.2
refund of a prepaid balance. Also the invoices and payments the liability caps are
measured on (SPEC §15)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.billing import ledger
from nuages.billing.models import EntryKind
from nuages.contracts.models import Contract
from nuages.history.service import Actor
from nuages.invoicing import documents, lines
from nuages.invoicing.models import Invoice, Payment, PaymentAllocation
from nuages.kernel.calendar import ContractCalendar
from nuages.kernel.money import round_cents
from nuages.terms.calc.liability import InvoiceRecord, PaymentRecord
from nuages.terms.schema import Offer

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Unpaid:
    """An invoice of the contract with something still due."""

    number: str
    outstanding: Decimal
    due_date: dt.date | None


def unpaid(session: Session, contract_id: str) -> list[Unpaid]:
    """The contract's invoices not fully paid (credited ones excluded), oldest first."""
    rows = session.execute(
        select(Invoice)
        .where(
            Invoice.contract_id == contract_id,
            Invoice.kind == "invoice",
            Invoice.state == documents.InvoiceState.ISSUED,
        )
        .order_by(Invoice.issued_at, Invoice.id)
    ).scalars()
    found = []
    for invoice in rows:
        left = documents.outstanding(session, invoice)
        if left > 0:
            found.append(Unpaid(invoice.number, left, invoice.due_date))
    return found


def not_invoiced_yet(session: Session, contract_id: str) -> Decimal:
    """Charges of the contract no invoice has billed yet that are owed for the
    subscribed duration (003 §13.2.1, written when the contract ended early)."""
    from nuages.invoicing.early_end import KIND
    from nuages.invoicing.models import PendingCharge

    total = session.execute(
        select(func.sum(PendingCharge.amount)).where(
            PendingCharge.contract_id == contract_id,
            PendingCharge.kind == KIND,
            PendingCharge.invoice_id.is_(None),
        )
    ).scalar_one()
    return Decimal(total or 0)


def overdue(session: Session, contract_id: str, on: dt.date) -> list[Unpaid]:
    """The unpaid invoices whose due date passed before ``on`` (a payment default)."""
    return [u for u in unpaid(session, contract_id) if u.due_date is not None and u.due_date < on]


def charge_fee(
    session: Session,
    who: Actor,
    contract: Contract,
    offer: Offer,
    *,
    amount: Decimal,
    key: str,
    description: str,
) -> None:
    """Charge an exit fee once under ``key``: a fee entry on a prepaid account (000
    §13.2), else a charge billed by the contract's next (final) invoice."""
    amount = round_cents(amount)
    if amount <= 0:
        return
    if offer.billing.mode == "prepaid":
        account = ledger.ensure_account(session, contract, offer)
        ledger.post(
            session,
            account,
            kind=EntryKind.FEE,
            amount=-amount,
            key=key,
            description=description[:200],
            actor_id=who.id,
        )
        return
    lines.add_charge(
        session,
        who,
        contract,
        kind="reversibility",
        description=description,
        amount=amount,
        idempotency_key=key,
    )


def refund(
    session: Session, who: Actor, contract: Contract, offer: Offer, amount: Decimal, key: str
) -> None:
    """Write the 000 §13.2 refund of the credit balance as a ledger entry, once."""
    if amount <= 0:
        return
    account = ledger.ensure_account(session, contract, offer)
    ledger.post(
        session,
        account,
        kind=EntryKind.REFUND,
        amount=-amount,
        key=key,
        description="Remboursement du solde créditeur en fin de contrat (000 §13.2)",
        actor_id=who.id,
    )


def balance(session: Session, contract_id: str) -> Decimal:
    """The prepaid account's balance now (0 without an account)."""
    return ledger.balance(session, contract_id)


def invoice_records(
    session: Session, contract_id: str, calendar: ContractCalendar
) -> list[InvoiceRecord]:
    """The contract's invoices as the caps read them: issue date, amount (less credit
    notes), and payment date once paid, in the contract's calendar."""
    rows = session.execute(
        select(Invoice)
        .where(Invoice.contract_id == contract_id, Invoice.kind == "invoice")
        .order_by(Invoice.issued_at)
    ).scalars()
    out = []
    for invoice in rows:
        amount = invoice.grand_total - documents.credited_amount(session, invoice.id)
        if amount <= 0:
            continue
        paid_on = None
        if invoice.state == documents.InvoiceState.PAID:
            # Paid on the day the last payment settling it was received (not when it
            # was recorded): the clause reads the client's act.
            received = session.execute(
                select(func.max(Payment.received_on))
                .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
                .where(PaymentAllocation.invoice_id == invoice.id)
            ).scalar_one()
            paid_on = received or (
                calendar.local_date(invoice.paid_at) if invoice.paid_at else None
            )
        out.append(InvoiceRecord(invoice.issue_date, amount, paid_on))
    return out


def payment_records(session: Session, contract_id: str) -> list[PaymentRecord]:
    """What the provider received for this contract: each payment's share allocated to
    the contract's invoices, on the day it was received (returned debits netted out)."""
    rows = session.execute(
        select(Payment.received_on, PaymentAllocation.amount)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(Invoice.contract_id == contract_id)
        .order_by(Payment.received_on)
    ).tuples()
    return [PaymentRecord(day, amount) for day, amount in rows if amount != 0]


def ledger_usage(
    session: Session, contract_id: str, start: dt.datetime, end: dt.datetime
) -> Decimal:
    """What a prepaid account was debited for services in ``[start, end)`` (positive)."""
    from nuages.billing.models import LedgerEntry

    value = session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.contract_id == contract_id,
            LedgerEntry.kind == EntryKind.USAGE.value,
            LedgerEntry.at >= start,
            LedgerEntry.at < end,
        )
    ).scalar_one()
    return round_cents(-Decimal(value or 0))
