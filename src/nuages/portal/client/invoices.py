"""Invoices and credit notes (billing permission: members never see them, 000 §5): the
list with filters, a page per document with its lines and what is still due, the
Factur-X PDF, and a dispute within the offer's window (001 §4.4: 8 days; 004 §8.2: 15).

Both show the *effective* due date (``receipts.due_dates``), which is what dunning and
late interest count from: the printed one moved later by a late receipt (001 §4.4),
earlier by an early termination through the client's doing (003 §13.2.1), or none yet
for an invoice never received (SPEC §17); the page says why when it differs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.invoicing import (
    credits,
    deposits,
    disputes,
    documents,
    pdf,
    reading,
    receipts,
    schemas,
)
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
STATES = ["issued", "paid", "cancelled"]


@router.get("/invoices")
def invoice_list(visit: SignedIn, state: str = "", contract: str = "") -> Response:
    """Invoices and credit notes, newest first, by state and contract."""
    paging = Paging.of(visit.request)
    state = state if state in STATES else ""
    contract = contract[:36]
    with visit.read() as session:
        shown, total = reading.list_invoices(
            session, visit.me, paging.page, paging.per_page, contract or None, state or None
        )
        return visit.render(
            "client/invoices.html",
            invoices=shown,
            due=receipts.due_dates(session, shown),  # effective dates, 3 queries a page
            # 001 §4.6 (i): deposit invoices are labelled "facture d'acompte".
            deposit_ids={i.id for i in shown if deposits.is_deposit(i)},
            total=total,
            paging=paging,
            pages=paging.pages(total),
            state=state,
            states=STATES,
            filters={"state": state, "contract": contract},
        )


def _page(visit: Visit, invoice_id: str, errors: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        invoice = credits.get_invoice(session, visit.me, invoice_id)
        return visit.render(
            "client/invoice.html",
            status=status,
            invoice=invoice,
            title=deposits.title(invoice),
            lines=reading.invoice_lines(session, invoice.id),
            outstanding=documents.outstanding(session, invoice),
            # The effective deadlines, not the printed ones (003 §13.2.1, 001 §4.4).
            due=receipts.due_dates(session, [invoice])[invoice.id],
            dispute_until=receipts.dispute_until(session, invoice),
            errors=errors,
            once=visit.once(),
        )


@router.get("/invoices/{invoice_id}")
def invoice_page(visit: SignedIn, invoice_id: str) -> Response:
    """One document: lines, totals, what is still due, the dispute form in its window."""
    return _page(visit, invoice_id, {}, 200)


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(visit: SignedIn, invoice_id: str) -> Response:
    """The Factur-X PDF/A-3, rendered once and kept (the same bytes as the API's)."""
    with visit.read() as session:
        number = credits.get_invoice(session, visit.me, invoice_id).number
    # Rendered outside the read unit: the first rendering stores the file.
    data = pdf.render_stored(visit.database, invoice_id)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
    )


@router.post("/invoices/{invoice_id}/dispute")
def dispute(posted: PostedForm, invoice_id: str) -> Response:
    """Contest the invoice, with the reason (refused once the window has closed)."""
    visit = posted.visit
    try:
        body = schemas.DisputeCreate(reason=posted.get("reason"))
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, f"/invoices/{invoice_id}")
            disputes.open_dispute(session, visit.me, invoice_id, body.reason)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or f"/invoices/{invoice_id}", "already_sent")
    except (NuagesError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            raise
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _page(visit, invoice_id, field_errors(exc, ("reason",)), status)
    return visit.redirect(f"/invoices/{invoice_id}", "disputed")
