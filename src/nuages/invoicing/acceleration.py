"""003 §13.2.1: "Dès la résiliation du contrat … le Client s'engage à régler tous les
montants impayés": on an early termination through the client's doing
(``early_end.binds``), the invoices already issued and not yet paid fall due at once.

Their *effective* due date becomes the termination date (the contract's local end
day); the invoice keeps its printed due date (a frozen document). ``accelerate`` writes
it once per invoice (``invoicing_accelerations``, an ``invoicing.invoice.accelerated``
history entry), when the exit opens and at the next invoicing run if it was missed;
``receipts.due_date`` gives the earlier of it and the printed/receipt date, so dunning
and late interest count from it. An invoice already overdue keeps its earlier date; one
paid in full, disputed or credited is not accelerated.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.contracts.models import Contract
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import documents, early_end, receipts
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Dispute, Invoice, InvoiceAcceleration
from nuages.terms import apply
from nuages.terms.schema import Offer

CLAUSE = "003 §13.2.1"


def accelerate(session: Session, who: Actor, contract: Contract, offer: Offer) -> list[str]:
    """Make the contract's issued, unpaid invoices due on its termination day (once
    each); the numbers of those newly accelerated (none where the clause does not bind)."""
    if not early_end.binds(session, contract, offer):
        return []
    assert contract.ended_at is not None
    ended_on = apply.calendar_for(offer).local_date(contract.ended_at)
    disputed = select(Dispute.invoice_id).where(Dispute.state == "open")
    issued = session.execute(
        select(Invoice)
        .where(
            Invoice.contract_id == contract.id,
            Invoice.kind == "invoice",
            Invoice.state == InvoiceState.ISSUED,
            Invoice.issue_date <= ended_on,
            Invoice.id.not_in(disputed),  # a contested invoice waits for its answer
        )
        .order_by(Invoice.seq_no)
    ).scalars()
    done = []
    for invoice in list(issued):
        if session.get(InvoiceAcceleration, invoice.id) is not None:
            continue
        if documents.outstanding(session, invoice) <= 0:
            continue
        before = receipts.due_date(session, invoice)
        if before is not None and before <= ended_on:
            continue  # already due by then: nothing comes earlier
        session.add(
            InvoiceAcceleration(
                invoice_id=invoice.id, contract_id=contract.id, due_date=ended_on, clause=CLAUSE
            )
        )
        session.flush()
        history.record(
            session,
            who,
            object_type="invoice",
            object_id=invoice.id,
            action="invoicing.invoice.accelerated",
            params={
                "number": invoice.number,
                "clause": CLAUSE,
                "printed_due_date": str(invoice.due_date),
                "due_date_before": str(before),
                "due_date": str(ended_on),
                "ended_at": contract.ended_at.isoformat(),
            },
            client_id=invoice.client_id,
        )
        done.append(invoice.number)
    return done
