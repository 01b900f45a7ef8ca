"""Deposit invoices on hardware orders and their deduction (001 §4.6).

001 §4.6 (i): "un acompte de 30% sur la totalité des montants à facturer pourra être
demandé au moment de la commande". The deposit is the provider's choice ("pourra"):
staff ask for it (``POST /api/v1/contracts/{id}/deposits``, ``nuages invoices deposit``)
when the order is taken; nothing asks for it by itself. The order is the contract's
hardware lines (catalogue options of kind ``hardware``) not invoiced yet.

The deposit invoice is an invoice like the others (same number series, payment terms,
e-mail, dunning) whose Factur-X type code is 386 (prepayment invoice, BT-3); its one
line is the percentage of the order's total before VAT, with VAT at the hardware's
category and rate (VAT is due on an advance payment: CGI art. 269-2-a, dir. 2006/112
art. 65), and it carries the title retention note (001 §4.6 (ii)).

The invoice that later bills the hardware deducts the deposit invoice's total with VAT
(BT-113, referenced in BG-3), whether the deposit was paid or not: the client then owes
the final invoice's rest and, separately, the deposit invoice while it is unpaid — the
sum is the price once, never twice (SPEC §17). A deposit cancelled by a credit note
deducts only what the credit note left due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import documents, facturx, schemas
from nuages.invoicing.documents import FinalLine
from nuages.invoicing.lines import _staff, billing_contract
from nuages.invoicing.models import ContractLine, Deposit, Invoice, InvoiceLine, InvoicingProfile
from nuages.invoicing.pricing import DraftLine, Item, PricingProblem, price_of
from nuages.kernel.errors import Conflict, ValidationFailed
from nuages.kernel.money import round_cents
from nuages.kernel.settings import Settings, get_settings
from nuages.payments import mandates
from nuages.sellers import identity as sellers
from nuages.terms.schema import Offer

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def hardware_ids(offer: Offer) -> set[str]:
    """The catalogue options that are hardware (001 §4.6)."""
    return {o.id for o in offer.catalogue.options if o.kind == "hardware"}


def is_deposit(invoice: Invoice) -> bool:
    """A deposit invoice (its BT-3 is 386)."""
    return facturx.is_prepayment(invoice.kind, invoice.xml)


def title(invoice: Invoice) -> str:
    """The document's printed title: Facture, Facture d'acompte or Avoir."""
    return facturx.document_title(invoice.kind, invoice.xml)


def _billed(session: Session, line_id: str) -> bool:
    """Whether an issued invoice already billed the ordered line (its lines name it)."""
    return bool(
        session.execute(
            select(exists().where(InvoiceLine.meta.like(f'%"line:{line_id}"%')))
        ).scalar_one()
    )


@dataclass(frozen=True)
class DepositResult:
    """A deposit asked: its invoice and the ordered lines it covers."""

    invoice: Invoice
    line_ids: list[str]
    order_total: Decimal
    pct: Decimal


def _order_lines(
    session: Session, contract_id: str, offer: Offer, wanted: Sequence[str]
) -> list[ContractLine]:
    hardware = hardware_ids(offer)
    rows = list(
        session.execute(
            select(ContractLine)
            .where(ContractLine.contract_id == contract_id)
            .order_by(ContractLine.since, ContractLine.created_at)
        ).scalars()
    )
    ordered = [r for r in rows if r.item_id in hardware]
    if wanted:
        by_id = {r.id: r for r in rows}
        unknown = [x for x in wanted if x not in by_id]
        if unknown:
            raise ValidationFailed(f"lines: no such line on this contract: {', '.join(unknown)}")
        other = [x for x in wanted if by_id[x].item_id not in hardware]
        if other:
            raise ValidationFailed(
                f"lines: not hardware (001 §4.6 deposits are on hardware): {', '.join(other)}"
            )
        return [by_id[x] for x in dict.fromkeys(wanted)]
    covered = set(
        session.execute(
            select(Deposit.contract_line_id).where(Deposit.contract_id == contract_id)
        ).scalars()
    )
    pending = [r for r in ordered if r.id not in covered and not _billed(session, r.id)]
    if not pending:
        raise ValidationFailed(
            "the contract has no hardware ordered that is not invoiced or under a deposit "
            "yet (001 §4.6 (i): the deposit is asked at the order): record the order with "
            "POST /api/v1/contracts/{id}/invoicing/lines first"
        )
    return pending


def pending_lines(session: Session, contract_id: str, offer: Offer) -> list[ContractLine]:
    """The hardware ordered on the contract a deposit may still be asked for: not under
    a deposit, not invoiced (what the back-office offers); [] when the offer asks for
    no deposit."""
    if offer.billing.deposit is None or offer.billing.mode != "invoiced":
        return []
    try:
        return _order_lines(session, contract_id, offer, ())
    except ValidationFailed:
        return []


def request(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DepositCreate,
    settings: Settings | None = None,
) -> DepositResult:
    """Staff ask for the deposit of a hardware order (001 §4.6 (i)): one deposit
    invoice of the offer's percentage of the order's total, issued in the caller's
    transaction. Refused (nothing written): an offer without ``[billing.deposit]``
    (422), no hardware ordered (422), a line already under a deposit or already
    invoiced (409); clients get 403."""
    from nuages.invoicing.runs import payment_means_for  # runs imports this module

    settings = settings or get_settings()
    contract = billing_contract(session, actor, contract_id)
    _staff(actor)
    offer = registry.for_contract(session, contract)
    deposit = offer.billing.deposit
    if deposit is None or offer.billing.mode != "invoiced":
        raise ValidationFailed(
            f"offer {offer.id} asks for no deposit (it has no [billing.deposit] table)"
        )
    order = _order_lines(session, contract.id, offer, data.lines)
    taken = [r.id for r in order if session.execute(
        select(Deposit.id).where(Deposit.contract_line_id == r.id)
    ).first() is not None]  # fmt: skip
    if taken:
        raise Conflict(f"a deposit was already asked for line(s) {', '.join(taken)}")
    billed = [r.id for r in order if _billed(session, r.id)]
    if billed:
        raise Conflict(
            f"line(s) {', '.join(billed)} already invoiced: a deposit is asked at the "
            "order, before the hardware is invoiced (001 §4.6 (i))"
        )
    total = ZERO
    labels = []
    for row in order:
        item = Item(row.item_id, row.quantity, row.since, unit_price=row.unit_price)
        try:
            price, _unit, name = price_of(offer, item)
        except PricingProblem as exc:
            raise ValidationFailed(f"lines: {exc}") from None
        total += round_cents(price * row.quantity)
        labels.append(row.description or name)
    if total <= 0:
        raise ValidationFailed("the hardware ordered has no price: no deposit to ask")
    pct = deposit.hardware_pct
    amount = round_cents(total * pct / HUNDRED)
    clause = deposit.clause or "001 §4.6"
    ht = " TTC" if offer.catalogue.prices_include_vat else " HT"
    description = (
        f"Acompte {pct.normalize():f} % — commande matériel : {' ; '.join(labels)} "
        f"(total de la commande {total:f} {offer.offer.currency}{ht}, {clause} (i))"
    )[:300]
    draft = DraftLine(
        kind="deposit",
        description=description,
        quantity=Decimal(1),
        amount=amount,
        # The hardware option's id: the line says what it is an advance on, and the
        # title retention note of invoices including hardware applies (001 §4.6 (ii)).
        item_id=order[0].item_id,
        gross=offer.catalogue.prices_include_vat,
        meta={"deposit": [r.id for r in order], "order_total": str(total), "pct": str(pct)},
    )
    client = session.get(Client, contract.client_id)
    assert client is not None
    profile = session.get(InvoicingProfile, contract.id)
    seller = sellers.seller_for(offer, settings)
    reverse = documents.reverse_charge_applies(
        seller.country, documents.buyer_party(client, profile)
    )
    final = documents.finalize([draft], offer, reverse, seller)
    first = (
        session.execute(
            select(Invoice.id).where(Invoice.contract_id == contract.id, Invoice.kind == "invoice")
        ).first()
        is None
    )
    has_mandate = mandates.active_mandate(session, contract.id) is not None
    note = (
        "",
        f"Facture d'acompte ({clause} (i)) : son montant sera déduit de la facture du "
        "matériel livré.",
    )
    invoice = documents.issue(
        session,
        actor.actor,
        kind="invoice",
        contract=contract,
        client=client,
        offer=offer,
        lines=final,
        profile=profile,
        payment_means=payment_means_for(offer, has_mandate, first),
        settings=settings,
        type_code=facturx.PREPAYMENT_INVOICE,
        extra_notes=[note],
    )
    session.add_all(
        Deposit(contract_id=contract.id, contract_line_id=r.id, invoice_id=invoice.id)
        for r in order
    )
    session.flush()
    return DepositResult(invoice, [r.id for r in order], total, pct)


@dataclass(frozen=True)
class Deduction:
    """What a final invoice deducts: the deposit invoices and their amount (BT-113)."""

    invoices: list[Invoice]
    amount: Decimal
    rows: list[str]  # Deposit ids to mark deducted

    def note(self) -> tuple[str, str]:
        """The printed mention of the deposits deducted."""
        named = ", ".join(
            f"{i.number} du {i.issue_date.strftime('%d/%m/%Y')}" for i in self.invoices
        )
        return (
            "",
            f"Acompte déduit (001 §4.6 (i)) : facture d'acompte {named}, "
            f"{self.amount:f} {self.invoices[0].currency} TTC.",
        )


# Asked of every invoice an invoicing run issues: built once, bound per call.
_UNDEDUCTED = select(Deposit).where(
    Deposit.contract_id == bindparam("contract_id"),
    Deposit.contract_line_id.in_(bindparam("lines", expanding=True)),
    Deposit.deducted_by_id.is_(None),
)


def deduction(session: Session, contract_id: str, lines: Sequence[FinalLine]) -> Deduction | None:
    """The deposits a final invoice with ``lines`` deducts: those asked for the ordered
    lines it bills and not deducted yet, each at its invoice's total with VAT less what
    credit notes took off it (paid or not: the unpaid deposit invoice stays due on its
    own, so the price is paid once — SPEC §17); None when it deducts none."""
    keys = {
        str(x.draft.meta["src"])[5:]
        for x in lines
        if str(x.draft.meta.get("src", "")).startswith("line:")
    }
    if not keys:
        return None
    rows = list(
        session.execute(_UNDEDUCTED, {"contract_id": contract_id, "lines": sorted(keys)}).scalars()
    )
    if not rows:
        return None
    ids = sorted({r.invoice_id for r in rows})
    # Every line of a deposit goes with it: the deposit is deducted whole, once.
    rows = list(
        session.execute(
            select(Deposit).where(Deposit.invoice_id.in_(ids), Deposit.deducted_by_id.is_(None))
        ).scalars()
    )
    invoices = sorted(
        session.execute(select(Invoice).where(Invoice.id.in_(ids))).scalars(),
        key=lambda i: (i.issue_date, i.number),
    )
    amount = sum(
        (max(ZERO, i.grand_total - documents.credited_amount(session, i.id)) for i in invoices),
        ZERO,
    )
    if amount <= 0:
        return None
    return Deduction(invoices, amount, [r.id for r in rows])


def mark_deducted(session: Session, found: Deduction, invoice: Invoice) -> None:
    """Record that ``invoice`` deducted the deposits (compare-and-swap: once)."""
    done = session.execute(
        update(Deposit)
        .where(Deposit.id.in_(found.rows), Deposit.deducted_by_id.is_(None))
        .values(deducted_by_id=invoice.id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != len(found.rows):  # type: ignore[attr-defined]
        raise PricingProblem("a deposit was deducted meanwhile by another run")


def of_contract(session: Session, contract_id: str) -> list[Deposit]:
    """The contract's deposit rows, oldest first."""
    return list(
        session.execute(
            select(Deposit)
            .where(Deposit.contract_id == contract_id)
            .order_by(Deposit.created_at, Deposit.id)
        ).scalars()
    )


def deposit_invoice_ids(session: Session, invoice_ids: Sequence[str]) -> set[str]:
    """Which of ``invoice_ids`` are deposit invoices (the portal's labels)."""
    if not invoice_ids:
        return set()
    return set(
        session.execute(
            select(Deposit.invoice_id).where(Deposit.invoice_id.in_(list(invoice_ids)))
        ).scalars()
    )
