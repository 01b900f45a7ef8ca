"""REST endpoints of invoicing, all tagged "billing" (members get 403: 000 §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.billing import topups
from nuages.billing.schemas import CardTopupOut
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import (
    credits,
    deposits,
    disputes,
    documents,
    dunning,
    lines,
    payments,
    pdf,
    reading,
    receipts,
    reconcile,
    runs,
    schemas,
    sepa,
)
from nuages.invoicing.models import (
    Invoice,
    Payment,
)
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.validation import Page, page_of
from nuages.payments import statements

router = APIRouter(prefix="/api/v1", tags=["billing"])


def _registry(request: Request) -> OfferRegistry:
    loaded: OfferRegistry = request.app.state.offers
    return loaded


_staff = reading.require_staff


def _invoice_out(session: Any, invoice: Invoice, with_lines: bool = True) -> dict[str, Any]:
    out = schemas.InvoiceOut.model_validate(invoice).model_dump()
    out["document_type"] = "deposit" if deposits.is_deposit(invoice) else invoice.kind
    out["outstanding"] = documents.outstanding(session, invoice)
    out.update(receipts.status(session, invoice))
    if with_lines:
        rows = reading.invoice_lines(session, invoice.id)
        out["lines"] = [schemas.InvoiceLineOut.model_validate(r) for r in rows]
    return out


# ---------------------------------------------------------------- invoices


@router.get("/invoices", response_model=Page[schemas.InvoiceOut])
def list_invoices(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    contract_id: Annotated[str | None, Query(max_length=36)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> object:
    """Invoices and credit notes the caller may see, newest first."""
    items, total = reading.list_invoices(
        session, principal, paging.page, paging.per_page, contract_id, state
    )
    return page_of(
        [_invoice_out(session, i, with_lines=False) for i in items],
        total,
        paging.page,
        paging.per_page,
    )


@router.get("/invoices/{invoice_id}", response_model=schemas.InvoiceOut)
def get_invoice(invoice_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One document with its lines and what is still due."""
    return _invoice_out(session, credits.get_invoice(session, principal, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "Factur-X PDF/A-3"}},
)
def invoice_pdf(
    invoice_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """The Factur-X PDF/A-3 (EN 16931 XML embedded), rendered once and kept."""
    invoice = credits.get_invoice(session, principal, invoice_id)
    number = invoice.number
    # Lay the document out outside this request's transaction (it would hold SQLite's
    # write lock for the whole rendering).
    session.commit()
    database: Database = request.app.state.database
    data = pdf.render_stored(database, invoice_id)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
    )


@router.get(
    "/invoices/{invoice_id}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "CII XML (EN 16931)"}},
)
def invoice_xml(invoice_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    """The document's Cross Industry Invoice XML, as issued."""
    invoice = credits.get_invoice(session, principal, invoice_id)
    return Response(
        invoice.xml.encode("utf-8"),
        media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.xml"'},
    )


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.InvoiceOut,
)
def create_credit_note(
    invoice_id: str,
    body: schemas.CreditNoteCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff correct an invoice by a credit note (in full, or an amount VAT included)."""
    note = credits.staff_credit_note(
        session, principal, _registry(request), invoice_id, body.reason, body.amount
    )
    return _invoice_out(session, note)


@router.post("/invoices/{invoice_id}/receipt", response_model=schemas.InvoiceOut)
def record_receipt(
    invoice_id: str,
    body: schemas.ReceiptCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff record the invoice's receipt another way than its e-mail (001 §4.1, §4.4):
    the due date and dispute window then run from it."""
    invoice = receipts.staff_record(
        session,
        principal,
        _registry(request),
        invoice_id,
        body.received_at,
        body.means,
        body.evidence,
    )
    return _invoice_out(session, invoice)


@router.post(
    "/invoices/{invoice_id}/disputes",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DisputeOut,
)
def create_dispute(
    invoice_id: str, body: schemas.DisputeCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Contest an invoice within the offer's window (001 §4.4: 8 days; 004 §8.2: 15)."""
    return disputes.open_dispute(session, principal, invoice_id, body.reason)


# ---------------------------------------------------------------- runs


@router.post("/invoicing/runs", response_model=schemas.RunOut)
def create_run(
    body: schemas.RunCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff run invoicing: every contract due on ``run_on`` (each in its own
    transaction); a dry run shows what would be issued and writes nothing."""
    _staff(principal)
    # The run commits contract by contract in units of its own; release this one first.
    session.commit()
    database: Database = request.app.state.database
    run_on = body.run_on or utc_now().date()
    report = runs.run(
        database,
        principal.actor,
        _registry(request),
        run_on,
        dry_run=body.dry_run,
        contract_ids=body.contract_ids,
        settings=request.app.state.settings,
    )
    return report.as_dict()


# ---------------------------------------------------------------- contract side


@router.get("/contracts/{contract_id}/invoicing/lines", response_model=list[schemas.LineOut])
def list_lines(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The items ordered on a contract."""
    return lines.list_lines(session, principal, contract_id)


@router.post(
    "/contracts/{contract_id}/invoicing/lines",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.LineOut,
)
def add_line(
    contract_id: str,
    body: schemas.LineCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff record an ordered item (an upgrade replaces a line: 003 §14.3)."""
    return lines.add_line(session, principal, _registry(request), contract_id, body)


@router.post(
    "/contracts/{contract_id}/invoicing/lines/{line_id}/end", response_model=schemas.LineOut
)
def end_line(
    contract_id: str,
    line_id: str,
    body: schemas.LineEnd,
    principal: PrincipalDep,
    session: SessionDep,
    request: Request,
) -> object:
    """Staff end an ordered item. A user count ended before its seats' 12 months leaves
    committed seat lines billed to their end (001 §4.1–4.3; listed with the lines)."""
    return lines.end_line(session, principal, _registry(request), contract_id, line_id, body.until)


@router.post(
    "/contracts/{contract_id}/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DepositOut,
)
def request_deposit(
    contract_id: str,
    body: schemas.DepositCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff ask for the deposit of a hardware order (001 §4.6 (i)): a deposit invoice
    (type 386) of the offer's percentage of the order's total, VAT added."""
    done = deposits.request(session, principal, _registry(request), contract_id, body)
    return {
        "invoice": _invoice_out(session, done.invoice),
        "lines": done.line_ids,
        "order_total": done.order_total,
        "pct": done.pct,
    }


@router.get("/contracts/{contract_id}/invoicing/profile", response_model=schemas.ProfileOut)
def get_profile(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """How the contract is invoiced."""
    return lines.get_profile(session, principal, contract_id)


@router.put("/contracts/{contract_id}/invoicing/profile", response_model=schemas.ProfileOut)
def set_profile(
    contract_id: str,
    body: schemas.ProfileSet,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Set the billing address, the period (003 §14.1) and the SEPA mandate."""
    return lines.set_profile(session, principal, _registry(request), contract_id, body)


@router.get("/contracts/{contract_id}/invoicing/charges", response_model=list[schemas.ChargeOut])
def list_charges(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Fees, reminder fees and interest put on the contract's invoices."""
    contract = lines.billing_contract(session, principal, contract_id)
    return lines.charges_of(session, contract.id)


@router.post(
    "/contracts/{contract_id}/invoicing/charges",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ChargeOut,
)
def add_charge(
    contract_id: str, body: schemas.ChargeCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff put a fee on the contract's next invoice (written once per key)."""
    return lines.staff_charge(session, principal, contract_id, body)


# ---------------------------------------------------------------- payments


def _payment_out(session: Any, payment: Payment) -> dict[str, Any]:
    out = schemas.PaymentOut.model_validate(payment).model_dump()
    out["allocations"] = [
        schemas.AllocationOut.model_validate(a) for a in payments.allocations(session, payment.id)
    ]
    return out


@router.post("/payments", status_code=status.HTTP_201_CREATED, response_model=schemas.PaymentOut)
def record_payment(
    body: schemas.PaymentCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff record money received and allocate it (all or nothing; 003 §14.5)."""
    payment, _ = payments.staff_record(session, principal, _registry(request), body)
    return _payment_out(session, payment)


@router.get("/payments", response_model=Page[schemas.PaymentOut])
def list_payments(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """Payments the caller may see, newest first."""
    items, total = reading.list_payments(session, principal, paging.page, paging.per_page)
    return page_of([_payment_out(session, p) for p in items], total, paging.page, paging.per_page)


@router.get("/payments/{payment_id}", response_model=schemas.PaymentOut)
def get_payment(payment_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One payment and its allocations."""
    return _payment_out(session, payments.get_payment(session, principal, payment_id))


@router.post("/payments/{payment_id}/return", response_model=schemas.PaymentOut)
def return_payment(
    payment_id: str, body: schemas.PaymentReturn, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff record a returned direct debit: its invoices open again."""
    payment = payments.staff_return(session, principal, payment_id, body.reason)
    return _payment_out(session, payment)


# ---------------------------------------------------------------- SEPA


def _batch_out(session: Any, batch: Any) -> dict[str, Any]:
    out = schemas.SepaBatchOut.model_validate(batch).model_dump()
    out["items"] = [
        schemas.SepaItemOut.model_validate(i) for i in sepa.batch_items(session, batch.id)
    ]
    return out


@router.post(
    "/sepa-batches", status_code=status.HTTP_201_CREATED, response_model=schemas.SepaBatchOut
)
def create_batch(
    body: schemas.SepaBatchCreate, principal: PrincipalDep, session: SessionDep, request: Request
) -> object:
    """Staff build a pain.008 direct-debit file of the invoices due (004 §8.2), the
    creditor being the seller of the contracts' offers' provider."""
    batch, skipped = sepa.staff_create(session, principal, _registry(request), body)
    out = _batch_out(session, batch)
    out["left_out"] = skipped
    return out


@router.get("/sepa-batches/{batch_id}", response_model=schemas.SepaBatchOut)
def get_batch(batch_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """A direct-debit batch (staff)."""
    return _batch_out(session, sepa.get_batch(session, principal, batch_id))


@router.get(
    "/sepa-batches/{batch_id}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "pain.008.001.02"}},
)
def batch_xml(batch_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    """The pain.008 file to send to the bank."""
    batch = sepa.get_batch(session, principal, batch_id)
    return Response(batch.xml.encode("utf-8"), media_type="application/xml")


@router.post("/sepa-batches/{batch_id}/settle", response_model=schemas.SepaBatchOut)
def settle_batch(
    batch_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff record that the bank collected the batch: each debit pays its invoice."""
    batch = sepa.get_batch(session, principal, batch_id)
    sepa.settle(session, principal.actor, _registry(request), batch)
    return _batch_out(session, batch)


# ---------------------------------------------------------------- bank statements


async def _statement_bytes(request: Request) -> bytes:
    # The file is the request body as sent (``curl --data-binary @statement.xml``); the
    # body-size guard (``max_body_bytes``) applies before this runs.
    return await request.body()


@router.post(
    "/bank-statements",
    response_model=schemas.StatementOut,
    responses={200: {"description": "the statement's report, line by line"}},
)
def import_statement(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    data: Annotated[bytes, Depends(_statement_bytes)],
) -> object:
    """Staff import a bank statement (CAMT.053, or CAMT.054), sent as the request body:
    transfers pay invoices (number or RF reference, else amount and debtor) or credit
    prepaid accounts, collections are settled, returned debits reopen invoices or
    reverse top-ups; unmatched lines are left for staff with a suggestion. The same
    file sent again books nothing (``already_imported``); each line is its own
    transaction. 422 for anything that is not a CAMT.053/054."""
    _staff(principal)
    session.commit()  # each line commits in a unit of its own
    database: Database = request.app.state.database
    report = statements.import_statement(
        database.unit,
        _registry(request),
        data,
        principal.actor,
        reconcile.reconcile,
        max_bytes=request.app.state.settings.max_statement_bytes,
    )
    return report.as_dict()


@router.post("/card-webhooks", response_model=schemas.PaymentOut | CardTopupOut)
def card_webhook(
    request: Request, session: SessionDep, data: Annotated[bytes, Depends(_statement_bytes)]
) -> object:
    """The card provider confirms a captured payment (000 §3.1, §13.2), signed in the
    ``Nuages-Signature`` header (HMAC-SHA256 over ``t.body``, Stripe-compatible): it
    pays the invoice its ``metadata.invoice`` names (the payment comes back) or tops up
    the prepaid account of the contract its ``metadata.topup_contract`` names (the
    top-up comes back, ``target`` = ``topup``), once per event id. No token: the
    signature is the proof. 422 on a bad or stale signature, an event naming both or
    neither, an unknown invoice or contract, another currency; 409 for a contract that
    takes no card top-ups; 404 unless ``webhook`` is the provider."""
    booked = payments.card_webhook(
        session, _registry(request), data, request.headers.get("nuages-signature")
    )
    if isinstance(booked, topups.CardTopup):
        return _card_topup_out(booked)
    payment, _created = booked
    return _payment_out(session, payment)


def _card_topup_out(done: topups.CardTopup) -> CardTopupOut:
    entry = done.entry
    said = "already recorded" if not done.created else "credited to the prepaid account"
    return CardTopupOut(
        contract_id=done.contract.id,
        contract_state=done.contract.state,
        seq=entry.seq,
        amount=entry.amount,
        currency=entry.currency,
        balance=done.account.balance,
        provider_ref=entry.reference,
        already_recorded=not done.created,
        detail=f"card payment {entry.reference} {said} (entry #{entry.seq})",
    )


# ---------------------------------------------------------------- dunning


@router.post("/dunning/runs", response_model=schemas.DunningOut)
def run_dunning(
    body: schemas.DunningRunCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff take every dunning step due (reminders, fees, suspension)."""
    _staff(principal)
    report = dunning.run(session, principal.actor, _registry(request), body.on or utc_now().date())
    return {"on": report.on, "notices": report.notices, "problems": report.problems}


@router.get("/dunning/notices", response_model=Page[schemas.NoticeOut])
def list_notices(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """Dunning notices the caller may see, newest first."""
    items, total = reading.list_notices(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


# ---------------------------------------------------------------- disputes


@router.get("/disputes", response_model=Page[schemas.DisputeOut])
def list_disputes(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """Disputes the caller may see."""
    items, total = disputes.list_disputes(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/disputes/{dispute_id}", response_model=schemas.DisputeOut)
def get_dispute(dispute_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One dispute."""
    return disputes.get_dispute(session, principal, dispute_id)


@router.post("/disputes/{dispute_id}/resolve", response_model=schemas.DisputeOut)
def resolve_dispute(
    dispute_id: str,
    body: schemas.DisputeResolve,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff answer a dispute; accepting it issues a credit note."""
    return disputes.resolve(
        session,
        principal,
        _registry(request),
        dispute_id,
        body.accept,
        body.resolution,
        body.credit_amount,
    )


# ---------------------------------------------------------------- indices, legal rates


@router.get("/indices", response_model=list[schemas.IndexOut])
def list_indices(
    principal: PrincipalDep,
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=32)] = None,
) -> object:
    """Index values entered for revisions (000 §13.3, 004 §8.1)."""
    return reading.list_indices(session, principal, name)


@router.post("/indices", status_code=status.HTTP_201_CREATED, response_model=schemas.IndexOut)
def set_index(body: schemas.IndexSet, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff enter a published index value (final once entered)."""
    _staff(principal)
    return lines.set_index(session, principal.actor, body.name, body.first_day, body.value)


@router.get("/legal-rates", response_model=list[schemas.LegalRateOut])
def list_legal_rates(principal: PrincipalDep, session: SessionDep) -> object:
    """Legal interest rates entered (SPEC §17)."""
    return reading.list_legal_rates(session, principal)


@router.post(
    "/legal-rates", status_code=status.HTTP_201_CREATED, response_model=schemas.LegalRateOut
)
def set_legal_rate(
    body: schemas.LegalRateSet, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff enter the legal interest rate of a half-year."""
    _staff(principal)
    return lines.set_legal_rate(
        session, principal.actor, body.valid_from, body.valid_to, body.rate_pct, body.series
    )
