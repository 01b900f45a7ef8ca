"""Disputes: a client contests an invoice within the offer's window (001 §4.4: 8 days
after receipt; 004 §8.2: 15 days after issue); after it, the invoice counts as accepted
and a dispute is refused. Staff answer; an accepted dispute is settled by a credit note.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.invoicing import credits, receipts
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Dispute, Invoice
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate


class DisputeWindowClosed(Conflict):
    """The dispute window is over: the invoice counts as accepted."""

    slug = "dispute-window-closed"
    title = "The invoice counts as accepted"


def open_dispute(session: Session, actor: Principal, invoice_id: str, reason: str) -> Dispute:
    """The client (an owner, or staff on its behalf) contests an invoice in time."""
    invoice = credits.get_invoice(session, actor, invoice_id)
    actor.require(Scope.WRITE)
    if invoice.kind != "invoice":
        raise ValidationFailed("only an invoice can be disputed")
    if invoice.state == InvoiceState.CANCELLED:
        raise Conflict(f"invoice {invoice.number} is cancelled (fully credited)")
    now = utc_now()
    until = receipts.dispute_until(session, invoice)  # 001 §4.4: 8 days from receipt
    if until is not None and now >= until:
        raise DisputeWindowClosed(
            f"invoice {invoice.number} could be disputed until "
            f"{until.isoformat()}; it now counts as accepted "
            f"(terms of offer {invoice.offer_id}: 001 §4.4, 004 §8.2)"
        )
    already = session.execute(
        select(Dispute.id).where(Dispute.invoice_id == invoice.id, Dispute.state == "open")
    ).first()
    if already is not None:
        raise Conflict(f"invoice {invoice.number} is already disputed")
    dispute = Dispute(
        invoice_id=invoice.id,
        client_id=invoice.client_id,
        opened_by=actor.email,
        opened_at=now,
        reason=reason,
        state="open",
    )
    session.add(dispute)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="invoice",
        object_id=invoice.id,
        action="invoice.dispute",
        params={"number": invoice.number, "dispute_id": dispute.id},
        client_id=invoice.client_id,
    )
    return dispute


def get_dispute(session: Session, actor: Principal, dispute_id: str) -> Dispute:
    """A dispute the caller may see (403 without billing, 404 for another client's)."""
    actor.require(Scope.BILLING)
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or not actor.can_see_client(dispute.client_id):
        raise NotFound("no such dispute")
    return dispute


def list_disputes(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Dispute], int]:
    """Disputes the caller may see, newest first."""
    actor.require(Scope.BILLING)
    stmt = select(Dispute).order_by(Dispute.opened_at.desc(), Dispute.id)
    if not actor.is_staff:
        stmt = stmt.where(Dispute.client_id == actor.client_id)
    return paginate(session, stmt, page, per_page)


def resolve(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    dispute_id: str,
    accept: bool,
    resolution: str,
    credit_amount: Decimal | None = None,
) -> Dispute:
    """Staff answer a dispute; accepting it credits the invoice (in full unless
    ``credit_amount``, VAT included, says otherwise)."""
    dispute = get_dispute(session, actor, dispute_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff resolve disputes")
    if dispute.state != "open":
        raise Conflict("this dispute is already resolved")
    if not accept and credit_amount is not None:
        raise ValidationFailed("credit_amount: only an accepted dispute is credited")
    invoice = session.get(Invoice, dispute.invoice_id)
    assert invoice is not None
    if accept:
        note = credits.credit_note(
            session,
            actor.actor,
            registry,
            invoice.id,
            f"contestation : {resolution}",
            credit_amount,
        )
        dispute.credit_note_id = note.id
    dispute.state = "accepted" if accept else "rejected"
    dispute.resolution = resolution
    dispute.resolved_at = utc_now()
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="invoice",
        object_id=invoice.id,
        action="invoice.dispute.resolve",
        params={"dispute_id": dispute.id, "accept": accept, "credit_note": dispute.credit_note_id},
        client_id=invoice.client_id,
    )
    return dispute
