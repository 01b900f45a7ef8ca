"""Issuing documents: draft lines → VAT → number → CII XML → immutable rows.

Everything about a document is computed before its number is taken, so the sequence
row stays locked for as short a time as possible; the number, the XML that states it
and the rows are then written in the caller's transaction (French CGI art. 242 nonies A:
numbers unique, chronological, without gaps).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session
from stdnum.eu import vat as eu_vat

from nuages.accounts.models import Client
from nuages.accounts.validators import check_postcode
from nuages.contracts.models import Contract
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import facturx

# The balances and the French mentions live in their own modules; the balances' names
# stay importable from here, where the other invoicing modules look for them.
from nuages.invoicing.balances import (
    ZERO,
    InvoiceState,
    as_amount,
    credited_amount,
    outstanding,
    paid_amount,
    refresh_state,
)
from nuages.invoicing.mentions import legal_notes, payment_terms_text
from nuages.invoicing.models import Invoice, InvoiceLine, InvoicingProfile
from nuages.invoicing.numbering import format_number, take_number
from nuages.invoicing.pricing import DraftLine, PricingProblem
from nuages.invoicing.vat import (
    EXEMPT,
    REVERSE_CHARGE,
    STANDARD,
    TaxableLine,
    Totals,
    compute_totals,
    nets_from_gross,
)
from nuages.kernel.clock import utc_now
from nuages.kernel.db import new_id
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.money import round_cents
from nuages.kernel.settings import Settings, get_settings
from nuages.notices import announce
from nuages.payments import mandates
from nuages.payments.models import Mandate
from nuages.sellers import identity as sellers
from nuages.sellers.identity import Seller, SellerNotConfigured, require_real
from nuages.terms.apply import invoice_received_at
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.schema import Offer
from nuages.terms.schema_catalogue import EU_COUNTRIES

MICRO = Decimal("0.000001")

__all__ = [
    "MICRO",
    "TITLE_RETENTION",
    "ZERO",
    "FinalLine",
    "InvoiceState",
    "MissingBuyerData",
    "as_amount",
    "buyer_party",
    "credited_amount",
    "deadlines_of",
    "finalize",
    "issue",
    "missing_buyer_data",
    "missing_text",
    "outstanding",
    "paid_amount",
    "refresh_state",
    "refusals",
    "reverse_charge_applies",
    "seller_party",
    "title_retention_notes",
    "vat_rate_for",
]


@dataclass(frozen=True)
class FinalLine:
    """A line with its VAT decided: net in cents, category, rate, net unit price."""

    draft: DraftLine
    net: Decimal
    gross: Decimal | None
    category: str
    rate: Decimal
    quantity: Decimal
    unit_price: Decimal


def seller_party(seller: Seller) -> dict[str, Any]:
    """The seller as the document stores it (legal mentions, SEPA creditor)."""
    return seller.party()


def buyer_party(client: Client, profile: InvoicingProfile | None) -> dict[str, Any]:
    """The client as invoiced: legal name, country, VAT number and postal address — the
    contract's invoicing profile address where one is set, else the client's."""
    own = profile is not None and any((profile.address, profile.postcode, profile.city))
    return {
        "name": client.legal_name,
        "kind": client.kind,
        "country": client.country,
        "vat_number": client.vat_number or None,
        "email": client.billing_email,
        "address": profile.address if profile and own else client.address_line1,
        "line2": "" if own else client.address_line2,
        "postcode": profile.postcode if profile and own else client.postcode,
        "city": profile.city if profile and own else client.city,
        "region": "" if own else client.region,
        "client_id": client.id,
    }


class MissingBuyerData(ValidationFailed):
    """The buyer lacks what an invoice must state (EN 16931 BR-10/BR-11, C. com. L441-9)."""

    slug = "missing-buyer-data"
    title = "The invoice lacks mandatory buyer data"


def missing_buyer_data(buyer: dict[str, Any]) -> list[str]:
    """What the document would lack of the buyer: EN 16931 requires the name (BT-44) and
    country (BT-55, BR-11); French law the address (line, postcode, city)."""
    missing = []
    if not buyer.get("name"):
        missing.append("name (BT-44)")
    if not buyer.get("country"):
        missing.append("country (BT-55)")
    if not buyer.get("address"):
        missing.append("address line (BT-50)")
    try:
        check_postcode(str(buyer.get("country") or ""), str(buyer.get("postcode") or ""))
    except ValueError as exc:
        missing.append(f"postcode (BT-53): {exc}")
    if not buyer.get("city"):
        missing.append("city (BT-52)")
    return missing


def refusals(seller: Seller, offer: Offer, buyer: dict[str, Any], folder: Path) -> list[str]:
    """Why a real document may not be issued now (empty: it may): the example seller
    identity, or mandatory buyer data missing."""
    out = []
    try:
        require_real(seller, offer, folder)
    except SellerNotConfigured as exc:
        out.append(exc.detail)
    missing = missing_buyer_data(buyer)
    if missing:
        out.append(missing_text(buyer, missing))
    return out


def missing_text(buyer: dict[str, Any], missing: list[str]) -> str:
    """The refusal for missing buyer data: the list, and where to fill it in."""
    return (
        f"client {buyer.get('client_id')}: missing buyer data: "
        + "; ".join(missing)
        + " — set the client's address (PATCH /api/v1/clients/{id}) or the contract's "
        "invoicing profile (PUT /api/v1/contracts/{id}/invoicing/profile)"
    )


def vat_rate_for(offer: Offer, seller: Seller) -> Decimal:
    """The VAT rate charged: the seller's (its country's standard rate unless its file
    says otherwise), which must be the rate the offer states (``catalogue.vat_rate``) —
    a contradiction is a problem for staff, never a silent choice."""
    rate = offer.catalogue.vat_rate
    if seller.example or seller.vat_rate == rate:
        return rate
    raise PricingProblem(
        f"VAT: offer {offer.id} states catalogue.vat_rate = {rate} but its seller "
        f"{seller.id} ({seller.country}, {seller.source}) charges {seller.vat_rate} %: "
        "correct the terms file or the seller file's vat_rate"
    )


def _vat_country(number: str) -> str:
    prefix = number[:2].upper()
    return "GR" if prefix == "EL" else prefix


def reverse_charge_applies(seller_country: str, buyer: dict[str, Any]) -> bool:
    """Intra-EU B2B services: a business buyer with a valid VAT number of another
    member state accounts for the VAT itself (Directive 2006/112/EC art. 44, 196)."""
    number = buyer.get("vat_number")
    if buyer.get("kind") != "business" or not number:
        return False
    if not eu_vat.is_valid(number):
        return False
    country = _vat_country(eu_vat.compact(number))
    return country in EU_COUNTRIES and seller_country in EU_COUNTRIES and country != seller_country


def finalize(
    lines: Sequence[DraftLine], offer: Offer, reverse_charge: bool, seller: Seller | None = None
) -> list[FinalLine]:
    """Decide each line's VAT and net: prices quoted VAT included (003 §14.1) become
    exact nets (``vat.nets_from_gross``); reverse-charged lines carry no VAT (AE); the
    rate is the seller's (``vat_rate_for``)."""
    rate = offer.catalogue.vat_rate if seller is None else vat_rate_for(offer, seller)
    gross_index = [i for i, line in enumerate(lines) if line.gross and line.taxable]
    nets: dict[int, Decimal] = dict(
        zip(gross_index, nets_from_gross([lines[i].amount for i in gross_index], rate), strict=True)
    )
    out: list[FinalLine] = []
    for i, line in enumerate(lines):
        net = nets.get(i, round_cents(line.amount))
        if not line.taxable:
            category, line_rate = EXEMPT, Decimal(0)
        elif reverse_charge:
            category, line_rate = REVERSE_CHARGE, Decimal(0)
        else:
            category, line_rate = STANDARD, rate
        # BR-27: a net price is never negative; a credit line has a negative quantity.
        quantity = line.quantity if line.quantity != 0 else Decimal(1)
        if net < 0 < quantity or net > 0 > quantity:
            quantity = -quantity
        unit_price = (net / quantity).quantize(MICRO) if quantity else net
        out.append(
            FinalLine(
                draft=line,
                net=net,
                gross=round_cents(line.amount) if i in nets else None,
                category=category,
                rate=line_rate,
                quantity=quantity,
                unit_price=unit_price,
            )
        )
    return out


TITLE_RETENTION = (
    "Réserve de propriété ({clause} (ii)) : le matériel facturé demeure la propriété "
    "exclusive du prestataire jusqu'au complet paiement du prix ; à défaut de paiement à "
    "l'échéance, le prestataire peut le reprendre sans mise en demeure préalable."
)


def title_retention_notes(offer: Offer, lines: Sequence[FinalLine]) -> list[tuple[str, str]]:
    """001 §4.6 (ii): an invoice including hardware (a catalogue option of kind
    ``hardware``) says the hardware stays the provider's until paid in full, when the
    offer's ``[billing.deposit]`` retains title."""
    deposit = offer.billing.deposit
    if deposit is None or not deposit.title_retained_until_paid:
        return []
    hardware = {o.id for o in offer.catalogue.options if o.kind == "hardware"}
    if not any(x.draft.item_id in hardware for x in lines):
        return []
    return [("AAI", TITLE_RETENTION.format(clause=deposit.clause or "001 §4.6"))]


def deadlines_of(offer: Offer, issued_at: dt.datetime) -> tuple[dt.date | None, dt.datetime | None]:
    """(due date, end of the dispute window) of a document issued at ``issued_at``.

    Invoices are e-mailed (001 §23.3, 004 §8.2). Windows counted from receipt (001 §4.1,
    §4.4) start when the client's mail server accepted the e-mail; until the notices
    slice records that, at the issue date plus the offer's assumed delay (SPEC §17: one
    day, ``terms.apply.invoice_received_at``).
    """
    received_at = invoice_received_at(offer, issued_at)
    found = {
        d.name: d
        for event, at in ((Event.invoice_issued, issued_at), (Event.invoice_received, received_at))
        for d in deadlines_for(offer, event, at)
    }
    due = found.get("payment-due")
    dispute = found.get("invoice-dispute")
    return (due.last_day if due else None, dispute.ends_at if dispute else None)


_LINES_TABLE: Table = InvoiceLine.__table__  # type: ignore[assignment]
_INSERT_LINES = insert(_LINES_TABLE)


def issue(
    session: Session,
    who: Actor,
    *,
    kind: str,
    contract: Contract,
    client: Client,
    offer: Offer,
    lines: Sequence[FinalLine],
    profile: InvoicingProfile | None,
    payment_means: str | None,
    period: tuple[dt.date, dt.date, str] | None = None,
    prepaid: Decimal = ZERO,
    prepaid_all: bool = False,
    corrects: Invoice | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
    type_code: str | None = None,
    deposits: Sequence[Invoice] = (),
    extra_notes: Sequence[tuple[str, str]] = (),
    mandate: Mandate | Literal["read"] | None = "read",
) -> Invoice:
    """Number and write one document in the caller's transaction; return it.

    ``type_code`` overrides BT-3 (386: a deposit invoice, 001 §4.6 (i)); ``deposits``
    are the deposit invoices whose total ``prepaid`` deducts (BT-113), referenced in
    BG-3 (``invoicing.deposits``); ``mandate``: the contract's live mandate when the
    caller has read it (a run reads it with its chunk), else read here."""
    settings = settings or get_settings()
    folder = sellers.directory_of(settings)
    identity = sellers.book(folder).for_offer(offer)
    buyer = buyer_party(client, profile)
    # The debtor's account and mandate reference printed on a direct-debit invoice.
    if payment_means != "direct_debit":
        mandate = None
    elif mandate == "read":
        mandate = mandates.active_mandate(session, contract.id)
    require_real(identity, offer, folder)  # 409 seller-not-configured, saying how to set it
    missing = missing_buyer_data(buyer)
    if missing:
        raise MissingBuyerData(missing_text(buyer, missing), missing=missing)
    seller = seller_party(identity)
    reverse = any(line.category == REVERSE_CHARGE for line in lines)
    taxable = [TaxableLine(x.net, x.category, x.rate) for x in lines]
    totals: Totals = compute_totals(taxable, prepaid=prepaid)
    if prepaid_all:
        # A prepaid account pays the whole document (000 §13.2).
        totals = compute_totals(taxable, prepaid=totals.grand_total)
    now = utc_now()
    issue_date = now.astimezone(ZoneInfo(identity.timezone)).date()
    due_date, dispute_until = (None, None) if kind != "invoice" else deadlines_of(offer, now)
    if totals.due_payable <= 0:
        due_date = None
    # A deposit deducted leaves the rest due like any invoice: the late-payment mentions
    # stay; only a document paid before it is issued (000 §13.2) drops them.
    notes = legal_notes(
        offer, buyer, seller, reverse, (prepaid > 0 and not deposits) or prepaid_all
    )
    if kind == "invoice":
        notes.extend(title_retention_notes(offer, lines))
    notes.extend(extra_notes)
    terms = payment_terms_text(offer, payment_means, due_date)
    if kind == "credit_note" and corrects is not None:
        terms = f"Avoir sur la facture {corrects.number} : montant déduit de cette facture."
        payment_means = None
    # Each seller numbers its own documents (its series are its own: sellers.load_sellers).
    series = identity.invoice_series if kind == "invoice" else identity.credit_note_series
    # Everything is ready: take the number last, so the sequence is locked briefly.
    seq_no = take_number(session, series, issue_date.year)
    number = format_number(series, issue_date.year, seq_no)
    xml = facturx.build_xml(
        facturx.XmlDocument(
            kind=kind,
            number=number,
            issue_date=issue_date,
            currency=offer.offer.currency,
            seller=facturx.Party.from_dict(seller),
            buyer=facturx.Party.from_dict(buyer),
            lines=[
                facturx.XmlLine(
                    position=i,
                    item_id=x.draft.item_id,
                    description=x.draft.description,
                    quantity=x.quantity,
                    unit_code=x.draft.unit_code,
                    unit_price=x.unit_price,
                    net_amount=x.net,
                    vat_category=x.category,
                    vat_rate=x.rate,
                    period_start=x.draft.period_start,
                    period_end=x.draft.period_end,
                )
                for i, x in enumerate(lines, start=1)
            ],
            totals=totals,
            notes=notes,
            payment_terms=terms,
            due_date=due_date,
            payment_means=payment_means if totals.due_payable > 0 else None,
            seller_iban=identity.iban,
            debtor_iban=mandate.iban if mandate else None,
            mandate_id=mandate.reference if mandate else None,
            creditor_id=identity.creditor_id,
            contract_reference=contract.id,
            buyer_reference=(profile.buyer_reference or None) if profile else None,
            period_start=period[0] if period else None,
            period_end=period[1] if period else None,
            preceding_number=corrects.number if corrects else None,
            preceding_date=corrects.issue_date if corrects else None,
            type_code=type_code,
            deposits=[(d.number, d.issue_date) for d in deposits],
        )
    ).decode("utf-8")
    invoice = Invoice(
        id=new_id(),
        kind=kind,
        number=number,
        series=series,
        year=issue_date.year,
        seq_no=seq_no,
        client_id=client.id,
        contract_id=contract.id,
        offer_id=offer.id,
        offer_hash=contract.offer_hash,
        corrects_id=corrects.id if corrects else None,
        run_id=run_id,
        billing_period=period[2] if period else None,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        issue_date=issue_date,
        issued_at=now,
        due_date=due_date,
        dispute_until=dispute_until,
        currency=offer.offer.currency,
        vat_regime="reverse_charge" if reverse else "standard",
        prices_include_vat=offer.catalogue.prices_include_vat,
        payment_means=payment_means or "none",
        total_net=totals.line_total,
        tax_basis=totals.tax_basis,
        tax_total=totals.tax_total,
        grand_total=totals.grand_total,
        prepaid_amount=totals.prepaid,
        due_payable=totals.due_payable,
        parties=json.dumps({"seller": seller, "buyer": buyer}, ensure_ascii=False),
        notes=json.dumps({"notes": notes, "payment_terms": terms}, ensure_ascii=False),
        xml=xml,
        state=InvoiceState.ISSUED if totals.due_payable > 0 else InvoiceState.PAID,
        paid_at=None if totals.due_payable > 0 else now,
    )
    session.add(invoice)
    history.record(
        session,
        who,
        object_type="invoice",
        object_id=invoice.id,
        action=f"{kind}.issue",
        params={
            "number": number,
            "contract_id": contract.id,
            "period": period[2] if period else None,
            "grand_total": str(totals.grand_total),
            "corrects": corrects.number if corrects else None,
            **({"type_code": type_code} if type_code else {}),
            **({"deposits": [d.number for d in deposits]} if deposits else {}),
        },
        client_id=client.id,
        flush=False,  # written with its notice's entry, below
    )
    # 004 §8.2: e-mailed, PDF attached. The notice's entry flushes the invoice with the
    # notice (one flush for both); the lines follow, on the row written.
    announce.document_issued(session, who, invoice)
    session.flush()  # nothing left to write unless the notice's flush changes
    # One Core INSERT of plain rows on the transaction's connection (the columns' Python
    # defaults and types apply there; the ORM's bulk path cost about as much again): the
    # lines are written once and never changed (append-only), so they need no
    # unit-of-work objects; readers query them.
    if lines:
        session.connection().execute(
            _INSERT_LINES,
            [
                dict(
                    invoice_id=invoice.id,
                    position=i,
                    kind=x.draft.kind,
                    item_id=x.draft.item_id,
                    description=x.draft.description[:300],
                    quantity=x.quantity,
                    unit_code=x.draft.unit_code,
                    unit_price=x.unit_price,
                    gross_amount=x.gross,
                    net_amount=x.net,
                    vat_category=x.category,
                    vat_rate=x.rate,
                    period_start=x.draft.period_start,
                    period_end=x.draft.period_end,
                    vm_id=x.draft.vm_id,
                    meta=json.dumps(x.draft.meta, default=str),
                )
                for i, x in enumerate(lines, start=1)
            ],
        )
    return invoice
