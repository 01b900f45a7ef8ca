"""Where an issued document stands: what was paid and credited on it, what is still
due, and the state that follows (its amounts never move)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nuages.invoicing.models import Invoice, PaymentAllocation
from nuages.kernel.clock import utc_now

ZERO = Decimal("0.00")


class InvoiceState:
    """Where an issued document stands (its amounts never move)."""

    ISSUED = "issued"  # open: something is still due
    PAID = "paid"  # nothing left due
    CANCELLED = "cancelled"  # fully credited by credit notes


def as_amount(value: Any) -> Decimal:
    """A summed ``Cents`` column: already a Decimal amount, or raw cents (0 default)."""
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


def paid_amount(session: Session, invoice_id: str) -> Decimal:
    """What payments settled on the invoice (returned debits already netted out)."""
    value = session.execute(
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).where(
            PaymentAllocation.invoice_id == invoice_id
        )
    ).scalar_one()
    return as_amount(value)


def credited_amount(session: Session, invoice_id: str) -> Decimal:
    """What credit notes took off the invoice."""
    value = session.execute(
        select(func.coalesce(func.sum(Invoice.grand_total), 0)).where(
            Invoice.corrects_id == invoice_id, Invoice.kind == "credit_note"
        )
    ).scalar_one()
    return as_amount(value)


def outstanding(session: Session, invoice: Invoice) -> Decimal:
    """What the client still owes on the invoice (never negative)."""
    if invoice.kind != "invoice":
        return ZERO
    left = (
        invoice.due_payable
        - paid_amount(session, invoice.id)
        - credited_amount(session, invoice.id)
    )
    return max(ZERO, left)


def refresh_state(session: Session, invoice: Invoice) -> str:
    """Set the invoice's state from its balance: paid, cancelled (fully credited) or
    issued (open again, e.g. after a returned debit); return it."""
    if invoice.kind != "invoice":
        return invoice.state
    credited = credited_amount(session, invoice.id)
    left = outstanding(session, invoice)
    if credited >= invoice.grand_total:
        state = InvoiceState.CANCELLED
    elif left == 0:
        state = InvoiceState.PAID
    else:
        state = InvoiceState.ISSUED
    if state != invoice.state:
        values: dict[str, Any] = {"state": state, "updated_at": utc_now()}
        values["paid_at"] = utc_now() if state == InvoiceState.PAID else None
        session.execute(
            update(Invoice)
            .where(Invoice.id == invoice.id, Invoice.state == invoice.state)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(invoice)
    return state
