"""How a bank-statement line is booked against invoices and prepaid accounts (issue 15):
the reconciler ``payments.statements.import_statement`` is handed by its edges (API,
CLI, portal). In this order, each line in its own transaction:

1. a **returned invoice debit** (return information naming an invoice collection's
   end-to-end id): its payment is returned with the reason code (``AM04``, ``MD06`` …)
   and the invoice reopens; a collection returned before settlement is dropped from its
   batch (the batch's settlement skips it);
2. an **invoice reference** in the remittance (the invoice number ``F-2026-000042`` or
   its ISO 11649 creditor reference ``RF…``, ``payments.references``): the transfer
   pays that invoice, under the key ``bank:<AcctSvcrRef>`` (once, whatever reimport);
   a partial payment where the offer refuses them (003 §14.5) is refused whole and left
   for staff with the reason;
3. the **prepaid side** (``billing.camt``): collections settled by end-to-end id, their
   returns reversed, transfers credited by the account's RF reference;
4. **amount and debtor**: a credit without a reference that matches exactly one open
   invoice of the debtor named on the line (same amount outstanding) pays it; matching
   two or more, or only by amount, is left for staff with the candidates as a
   suggestion — never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iso11649

from nuages.accounts.models import Client
from nuages.billing import camt
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import documents, payments, schemas
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Invoice, Payment, SepaItem
from nuages.kernel.clock import utc_now
from nuages.payments.references import invoice_reference
from nuages.payments.statements import Line, Outcome

INVOICE_NUMBER = re.compile(r"\b[A-Z0-9]{1,8}-\d{4}-\d{6}\b")


def reconcile(session: Session, registry: OfferRegistry, who: Actor, line: Line) -> Outcome:
    """Book one statement line (in the caller's transaction): see the module."""
    p = line.parsed
    if p.return_reason is not None or (not p.credit and p.end_to_end_id):
        returned = _invoice_return(session, who, p)
        if returned is not None:
            return returned
    elif p.credit:
        paid = _by_invoice_reference(session, registry, who, line)
        if paid is not None:
            return paid
    kind, _, why = camt.reconcile_line(session, registry, p, who).partition(": ")
    if kind != "unmatched":
        if kind == "credited":
            return "credited", "transfer credited to the prepaid account", why, ""
        names = {"settled": "settled", "returns": "returned"}
        return names.get(kind, "duplicate"), why or kind, "", ""
    if p.credit and p.amount > 0 and not p.end_to_end_ids:
        return _by_amount_and_debtor(session, registry, who, line, why)
    return "unmatched", why, "", ""


def _invoice_return(session: Session, who: Actor, p: camt.StatementLine) -> Outcome | None:
    if p.end_to_end_id is None:
        return None
    items = list(
        session.execute(
            select(SepaItem)
            .where(SepaItem.end_to_end_id == p.end_to_end_id)
            .order_by(SepaItem.id)
            .with_for_update()
        ).scalars()
    )
    if not items:
        return None
    reason = p.return_reason or "RTRN"
    settled = [i for i in items if i.state == "settled" and i.payment_id]
    if settled:
        item = settled[-1]
        payment = session.get(Payment, item.payment_id)
        assert payment is not None
        payments.return_payment(session, who, payment, reason)
        invoice = session.get(Invoice, item.invoice_id)
        assert invoice is not None
        return "returned", f"direct debit returned ({reason}): invoice reopened", invoice.number, ""
    pending = [i for i in items if i.state == "pending"]
    if pending:
        # Returned before the batch was settled: never a payment; the batch skips it.
        item = pending[-1]
        item.state = "returned"
        history.record(
            session,
            who,
            object_type="sepa_item",
            object_id=item.id,
            action="payments.debit.return",
            params={"reason": reason, "settled": False},
            client_id=item.client_id,
        )
        return (
            "returned",
            f"direct debit returned ({reason}) before settlement",
            p.end_to_end_id,
            "",
        )
    return "duplicate", "return already recorded", p.end_to_end_id, ""


def _open_invoice(session: Session, number: str) -> Invoice | None:
    return session.execute(
        select(Invoice).where(Invoice.number == number, Invoice.kind == "invoice")
    ).scalar_one_or_none()


def _invoices_named(session: Session, remittance: str) -> list[Invoice]:
    text = remittance.upper()
    found: list[Invoice] = []
    for number in INVOICE_NUMBER.findall(text):
        invoice = _open_invoice(session, number)
        if invoice is not None and invoice not in found:
            found.append(invoice)
    for reference in camt.payment_references_in(text):
        if not iso11649.is_valid(reference):
            continue
        body = reference[4:]
        match = re.fullmatch(r"([A-Z0-9]{1,8}?)(\d{4})(\d{6})", body)
        if match is None:
            continue
        invoice = _open_invoice(session, f"{match[1]}-{match[2]}-{match[3]}")
        if invoice is not None and invoice_reference(invoice.number) == reference:
            if invoice not in found:
                found.append(invoice)
    return found


def _pay(
    session: Session, registry: OfferRegistry, who: Actor, p: camt.StatementLine, invoice: Invoice
) -> Outcome:
    if not p.bank_reference:
        return "unmatched", "no bank reference (AcctSvcrRef)", "", f"invoice {invoice.number}"
    if p.currency != invoice.currency:
        return "unmatched", f"paid in {p.currency}, invoiced in {invoice.currency}", "", ""
    booked = dt.date.fromisoformat(p.booking_date[:10]) if p.booking_date else utc_now().date()
    _payment, created = payments.record(
        session,
        who,
        registry,
        schemas.PaymentCreate(
            client_id=invoice.client_id,
            means="transfer",
            amount=p.amount,
            received_on=min(booked, utc_now().date()),
            reference=p.remittance[:140],
            idempotency_key=f"bank:{p.bank_reference}",
            allocations=[schemas.Allocation(invoice_id=invoice.id, amount=p.amount)],
        ),
    )
    if not created:
        return "duplicate", "already booked", invoice.number, ""
    return "paid", f"transfer paid invoice {invoice.number}", invoice.number, ""


def _by_invoice_reference(
    session: Session, registry: OfferRegistry, who: Actor, line: Line
) -> Outcome | None:
    named = _invoices_named(session, line.parsed.remittance)
    if not named:
        return None
    if len(named) > 1:
        numbers = ", ".join(i.number for i in named)
        return "unmatched", "the remittance names several invoices", "", f"split over {numbers}"
    return _pay(session, registry, who, line.parsed, named[0])


def _norm(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.lower()).split())


def _by_amount_and_debtor(
    session: Session, registry: OfferRegistry, who: Actor, line: Line, why: str
) -> Outcome:
    p = line.parsed
    same_amount = [
        (invoice, client)
        for invoice, client in session.execute(
            select(Invoice, Client)
            .join(Client, Client.id == Invoice.client_id)
            .where(
                Invoice.kind == "invoice",
                Invoice.state == InvoiceState.ISSUED,
                Invoice.currency == p.currency,
            )
            .order_by(Invoice.due_date, Invoice.number)
        ).all()
        if documents.outstanding(session, invoice) == p.amount
    ]
    debtor = _norm(line.debtor)
    theirs = [x for x in same_amount if debtor and _norm(x[1].legal_name) == debtor]
    if len(theirs) == 1:
        return _pay(session, registry, who, p, theirs[0][0])
    candidates = theirs or same_amount
    if not candidates:
        return "unmatched", why, "", ""
    listed = ", ".join(f"{i.number} ({c.legal_name})" for i, c in candidates[:5])
    if len(theirs) > 1:
        detail = f"the amount matches {len(theirs)} open invoices of {line.debtor}"
    else:
        detail = f"{why}; no invoice of {line.debtor or 'this debtor'} with this amount"
    return "unmatched", detail, "", f"open for {p.amount}: {listed}"
