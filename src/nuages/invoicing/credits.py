"""Corrections: an issued invoice never changes; a credit note (type 381) referencing it
takes all or part of it back, with its own gapless number (series ``AV``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import documents, dunning
from nuages.invoicing.documents import FinalLine, InvoiceState
from nuages.invoicing.models import Invoice, InvoiceLine, InvoicingProfile
from nuages.invoicing.pricing import DraftLine
from nuages.invoicing.vat import (
    EXEMPT,
    REVERSE_CHARGE,
    net_for_gross,
    net_for_gross_credit,
    total_with_vat,
)
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.settings import Settings


def get_invoice(session: Session, actor: Principal, invoice_id: str) -> Invoice:
    """A document the caller may see on the billing side: 403 without the billing
    permission (members, 000 §5), 404 for another client's."""
    actor.require(Scope.BILLING)
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or not actor.can_see_client(invoice.client_id):
        raise NotFound("no such invoice")
    return invoice


def lock_invoice(session: Session, invoice_id: str) -> Invoice:
    """The invoice, locked until the transaction ends (PostgreSQL row lock; SQLite
    transactions hold the write lock already), so balances cannot race."""
    invoice = session.execute(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound("no such invoice")
    return invoice


def _copy(line: InvoiceLine) -> FinalLine:
    draft = DraftLine(
        kind=line.kind,
        description=line.description,
        quantity=line.quantity,
        amount=line.net_amount,
        item_id=line.item_id,
        period_start=line.period_start,
        period_end=line.period_end,
        vm_id=line.vm_id,
        unit_code=line.unit_code,
    )
    return FinalLine(
        draft=draft,
        net=line.net_amount,
        gross=line.gross_amount,
        category=line.vat_category,
        rate=line.vat_rate,
        quantity=line.quantity,
        unit_price=line.unit_price,
    )


def _partial(
    invoice: Invoice, lines: list[InvoiceLine], amount: Decimal, reason: str, remaining: Decimal
) -> FinalLine:
    """One credit line for ``amount`` VAT included, at the invoice's main rate.

    9.7: the amount asked is credited exactly when the VAT of one line allows it
    (EN 16931 BR-CO-17: the tax is rounded on the category's net); otherwise the next
    reachable total above it, so the rounding favours the client, and the line says so.
    Only when that would credit more than is left on the invoice is the largest total
    below taken, with the same mention."""
    taxable = [x for x in lines if x.vat_category != EXEMPT] or lines
    basis: dict[tuple[str, Decimal], Decimal] = {}
    for x in taxable:
        basis[(x.vat_category, x.vat_rate)] = basis.get(
            (x.vat_category, x.vat_rate), Decimal(0)
        ) + (x.net_amount)
    category, rate = max(basis, key=lambda k: basis[k])
    description = f"Avoir sur la facture {invoice.number} : {reason}"
    if category in (EXEMPT, REVERSE_CHARGE):
        net = amount
    else:
        net = net_for_gross_credit(amount, rate)
        if total_with_vat(net, rate) > remaining:
            net = net_for_gross(amount, rate)
        credited = total_with_vat(net, rate)
        if credited != amount:
            description += (
                f" — {amount} € demandés, {credited} € crédités : la TVA de la ligne "
                f"({rate.normalize():f} %) est arrondie au centime (EN 16931 BR-CO-17)"
            )
    draft = DraftLine(
        kind="credit",
        description=description[:300],
        quantity=Decimal(1),
        amount=net,
    )
    return FinalLine(
        draft=draft,
        net=net,
        gross=total_with_vat(net, rate) if invoice.prices_include_vat else None,
        category=category,
        rate=rate,
        quantity=Decimal(1),
        unit_price=net,
    )


def credit_note(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    invoice_id: str,
    reason: str,
    amount: Decimal | None = None,
    settings: Settings | None = None,
) -> Invoice:
    """Issue a credit note on an invoice: in full (every line taken back, so invoice
    and credit note net to zero) or for ``amount`` VAT included."""
    invoice = lock_invoice(session, invoice_id)
    if invoice.kind != "invoice":
        raise ValidationFailed("only an invoice can be credited")
    if invoice.state == InvoiceState.CANCELLED:
        raise Conflict(f"invoice {invoice.number} is already fully credited")
    credited = documents.credited_amount(session, invoice.id)
    remaining = invoice.grand_total - credited
    lines = list(
        session.execute(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        ).scalars()
    )
    if amount is None and credited == 0:
        final = [_copy(x) for x in lines]
    else:
        wanted = remaining if amount is None else amount
        if wanted > remaining:
            raise ValidationFailed(
                f"amount: {wanted} is more than the {remaining} left to credit on {invoice.number}"
            )
        final = [_partial(invoice, lines, wanted, reason, remaining)]
    contract = session.get(Contract, invoice.contract_id)
    client = session.get(Client, invoice.client_id)
    assert contract is not None and client is not None
    note = documents.issue(
        session,
        who,
        kind="credit_note",
        contract=contract,
        client=client,
        offer=registry.for_contract(session, contract),
        lines=final,
        profile=session.get(InvoicingProfile, contract.id),
        payment_means=None,
        corrects=invoice,
        settings=settings,
    )
    documents.refresh_state(session, invoice)
    dunning.lift_if_settled(session, who, contract, note.issue_date)
    return note


def staff_credit_note(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    invoice_id: str,
    reason: str,
    amount: Decimal | None,
) -> Invoice:
    """Staff correct an invoice by a credit note."""
    get_invoice(session, actor, invoice_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff issue credit notes")
    return credit_note(session, actor.actor, registry, invoice_id, reason, amount)
