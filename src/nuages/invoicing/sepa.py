"""SEPA Core direct debits of invoices due (003 §14.2, 004 §8.2): the invoices' debits
handed to the payments slice's one pain.008.001.02 builder (``payments.batches``, the
mandate being ``payments.models.Mandate``); settled batches become payments; a debit the
debtor's bank returns reopens its invoice (``payments.return_payment``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import documents, payments, schemas
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Invoice, SepaItem
from nuages.kernel import pain008
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate
from nuages.kernel.settings import Settings, get_settings
from nuages.payments import batches, mandates
from nuages.payments.models import DirectDebitBatch, Mandate
from nuages.sellers import identity as sellers
from nuages.sellers.identity import Seller


class _Prenotified:
    """An invoice's debit as the pre-notification states it (the notice reads the same
    attributes from a prepaid top-up's ``DirectDebit``)."""

    def __init__(self, item: SepaItem, invoice: Invoice, collection_date: dt.date) -> None:
        self.id = item.id
        self.client_id = item.client_id
        self.contract_id = invoice.contract_id
        self.amount = item.amount
        self.currency = invoice.currency
        self.collection_date = collection_date


def _staff(actor: Principal) -> None:
    actor.require(Scope.BILLING)
    if not actor.is_staff:
        # Batches mix clients: to a client they do not exist.
        raise NotFound("no such batch")


def _creditor(
    session: Session,
    registry: OfferRegistry,
    settings: Settings,
    invoice: Invoice,
    seen: dict[str, Seller],
) -> Seller:
    """The seller of the invoice's contract's offer's provider: the SEPA creditor."""
    contract = session.get(Contract, invoice.contract_id)
    assert contract is not None
    offer = registry.for_contract(session, contract)
    key = f"{offer.id}:{offer.content_hash}"
    if key not in seen:
        seen[key] = sellers.real_seller_for(offer, settings)
    return seen[key]


def create_batch(
    session: Session,
    who: Actor,
    collection_date: dt.date,
    due_by: dt.date | None = None,
    settings: Settings | None = None,
    *,
    registry: OfferRegistry,
    seller: str | None = None,
) -> tuple[DirectDebitBatch, list[dict[str, str]]]:
    """A pain.008 batch collecting every open direct-debit invoice due by ``due_by``
    whose contract has a mandate and which is not already being collected; return it
    and the invoices left out (no mandate, or a debit the file cannot hold: 17.2).

    The creditor (name, IBAN, BIC, creditor id) is the seller of each contract's
    offer's provider; one file has one creditor, so when the invoices due belong to
    several sellers, ``seller`` names the one to collect for. The example identity is
    refused (``SellerNotConfigured``)."""
    settings = settings or get_settings()
    if collection_date < utc_now().date():
        raise ValidationFailed("collection_date: a collection date cannot be in the past")
    due_by = due_by or collection_date
    pending = select(SepaItem.invoice_id).where(SepaItem.state == "pending")
    candidates = session.execute(
        select(Invoice)
        .where(
            Invoice.kind == "invoice",
            Invoice.state == InvoiceState.ISSUED,
            Invoice.payment_means == "direct_debit",
            Invoice.due_date <= due_by,
            Invoice.id.not_in(pending),
        )
        .order_by(Invoice.due_date, Invoice.seq_no)
    ).scalars()
    skipped: list[dict[str, str]] = []
    found: list[tuple[Invoice, Mandate, Seller]] = []
    by_offer: dict[str, Seller] = {}
    today = utc_now().date()
    for invoice in candidates:
        mandate = mandates.active_mandate(session, invoice.contract_id)
        if mandate is None:
            skipped.append({"invoice": invoice.number, "problem": "no SEPA mandate on file"})
            continue
        # The debtor is pre-notified 14 calendar days ahead unless the mandate agreed
        # less (SEPA rulebook): a collection date that cuts it short leaves the invoice
        # for a later batch.
        early = pain008.lead_problem(today, collection_date, mandate.prenotice_days)
        if early is not None:
            skipped.append({"invoice": invoice.number, "problem": early})
            continue
        found.append((invoice, mandate, _creditor(session, registry, settings, invoice, by_offer)))
    ids = sorted({s.id for _, _, s in found})
    if seller is None and len(ids) > 1:
        raise ValidationFailed(
            f"seller: the invoices due belong to sellers {', '.join(ids)}; "
            "a SEPA file has one creditor: name one"
        )
    if seller is not None:
        sellers.book(sellers.directory_of(settings)).get(seller)  # 422 for an unknown id
        found = [x for x in found if x[2].id == seller]
    if not found:
        raise Conflict(
            "no open direct-debit invoice with a mandate is due by then"
            + "".join(f"; {x['invoice']}: {x['problem']}" for x in skipped)
        )
    creditor = found[0][2]

    collections: list[batches.Collection[tuple[Invoice, Decimal]]] = []
    for invoice, mandate, _seller in found:
        amount = documents.outstanding(session, invoice)
        if amount <= 0:
            continue
        client = session.get(Client, invoice.client_id)
        assert client is not None
        collections.append(
            batches.Collection(
                key=(invoice, amount),
                mandate=mandate,
                amount=amount,
                end_to_end_id=batches.sepa_text(invoice.number, 35),
                description=batches.sepa_text(f"Facture {invoice.number}", 140),
                debtor_name=client.legal_name,
            )
        )
    # 17.2: a debit that cannot go into the file (a legacy client name with a control
    # character) is left out and reported; the others are collected.
    written = batches.write(
        session,
        who,
        kind="invoice",
        creditor=creditor,
        collection_date=collection_date,
        collections=collections,
    )
    for item, problem in written.refused:
        skipped.append({"invoice": item.key[0].number, "problem": problem})
    batch = written.batch
    if batch is None:
        raise Conflict(
            "no open direct-debit invoice with a mandate is due by then"
            + "".join(f"; {x['invoice']}: {x['problem']}" for x in skipped)
        )
    items: list[SepaItem] = []
    for item in written.collected:
        invoice, amount = item.key
        row = SepaItem(
            batch_id=batch.id,
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            amount=amount,
            end_to_end_id=item.end_to_end_id,
            sequence_type=item.sequence_type,
            mandate_id=item.mandate.reference,
            state="pending",
        )
        items.append(row)
        session.add(row)
        session.flush()
        item.notice = _Prenotified(row, invoice, collection_date)
    batches.prenotify(session, who, creditor, written, today)
    history.record(
        session,
        who,
        object_type="sepa_batch",
        object_id=batch.id,
        action="sepa.batch.create",
        params={
            "count": batch.count,
            "total": str(batch.total),
            "skipped": skipped,
            "seller": creditor.id,
        },
    )
    return batch, skipped


def staff_create(
    session: Session, actor: Principal, registry: OfferRegistry, data: schemas.SepaBatchCreate
) -> tuple[DirectDebitBatch, list[dict[str, str]]]:
    """Staff build a direct-debit batch."""
    actor.require(Scope.BILLING)
    if not actor.is_staff:
        raise Forbidden("only provider staff collect direct debits")
    return create_batch(
        session,
        actor.actor,
        data.collection_date,
        data.due_by,
        registry=registry,
        seller=data.seller,
    )


def get_batch(session: Session, actor: Principal, batch_id: str) -> DirectDebitBatch:
    """An invoice batch (staff only)."""
    _staff(actor)
    batch = session.get(DirectDebitBatch, batch_id)
    if batch is None or batch.kind != "invoice":
        raise NotFound("no such batch")
    return batch


def batch_items(session: Session, batch_id: str) -> list[SepaItem]:
    """The debits of a batch."""
    return list(
        session.execute(
            select(SepaItem).where(SepaItem.batch_id == batch_id).order_by(SepaItem.end_to_end_id)
        ).scalars()
    )


def settle(
    session: Session, who: Actor, registry: OfferRegistry, batch: DirectDebitBatch
) -> DirectDebitBatch:
    """The bank collected the batch: each debit becomes a payment of its invoice."""
    if batch.state != "created":
        raise Conflict("this batch was already settled")
    if batch.collection_date > utc_now().date():
        # 9.3: its payments are received on the collection date, never in the future.
        raise ValidationFailed(
            f"the batch is collected on {batch.collection_date.isoformat()}: it can be "
            "settled from that day, not before"
        )
    for item in batch_items(session, batch.id):
        if item.state != "pending":
            continue
        invoice = session.get(Invoice, item.invoice_id)
        assert invoice is not None
        amount = min(item.amount, documents.outstanding(session, invoice))
        if amount <= 0:
            item.state = "failed"  # paid by other means meanwhile: nothing to take
            continue
        payment, _ = payments.record(
            session,
            who,
            registry,
            schemas.PaymentCreate(
                client_id=item.client_id,
                means="direct_debit",
                amount=amount,
                received_on=batch.collection_date,
                reference=item.end_to_end_id,
                idempotency_key=f"sepa:{item.id}",
                allocations=[schemas.Allocation(invoice_id=item.invoice_id, amount=amount)],
            ),
            provider_ref=batch.message_id,
        )
        item.state = "settled"
        item.payment_id = payment.id
    batch.state = "settled"
    batch.settled_at = utc_now()
    session.flush()
    history.record(
        session,
        who,
        object_type="sepa_batch",
        object_id=batch.id,
        action="sepa.batch.settle",
        params={"count": batch.count, "total": str(batch.total)},
    )
    return batch


def list_batches(
    session: Session, actor: Principal, page: int, per_page: int, state: str | None = None
) -> tuple[list[DirectDebitBatch], int]:
    """The invoices' direct-debit batches, newest first, optionally in one state (staff
    only)."""
    _staff(actor)
    stmt = (
        select(DirectDebitBatch)
        .where(DirectDebitBatch.kind == "invoice")
        .order_by(DirectDebitBatch.created_at.desc(), DirectDebitBatch.id)
    )
    if state:
        stmt = stmt.where(DirectDebitBatch.state == state)
    return paginate(session, stmt, page, per_page)
