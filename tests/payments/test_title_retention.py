"""001 §4.6 (ii): "les Produits vendus demeurent la propriété exclusive du prestataire
jusqu'au complet paiement du prix de vente par le Client" — an invoice that includes
hardware says so (XML note and PDF); one without hardware does not."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import pdf
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.invoicing.factories import Billing, run_at, utc


def _issued(database: Database, offers: OfferRegistry, billing: Billing, hardware: bool) -> Invoice:
    client = billing.client("Matériel SPRL", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2026, 2, 28, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 3, 1), quantity=Decimal(2))
    if hardware:
        billing.line(contract, "hardware", dt.date(2026, 3, 1), unit_price=Decimal("1200.00"))
    run_at(database, offers, utc(2026, 3, 1, 6))
    with database.unit() as session:
        invoice = session.execute(
            select(Invoice).where(Invoice.contract_id == contract)
        ).scalar_one()
        session.expunge(invoice)
        return invoice


def test_001_s4_6_ii_title_retained_until_paid_on_hardware_invoices(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The cloudbizz offer retains title ([billing.deposit] title_retained_until_paid):
    the invoice with a hardware line carries the retention note in its EN 16931 notes
    and prints it; the invoice of users only carries none."""
    set_now(utc(2026, 3, 1, 7))
    with_hardware = _issued(database, offers, billing, hardware=True)
    notes = [text for _code, text in json.loads(with_hardware.notes)["notes"]]
    retention = [n for n in notes if n.startswith("Réserve de propriété (001 §4.6 (ii))")]
    assert len(retention) == 1, notes
    assert "complet paiement du prix" in retention[0]
    assert "Réserve de propriété" in with_hardware.xml
    text = PdfReader(io.BytesIO(pdf.render_stored(database, with_hardware.id))).pages[0]
    assert "Réserve de propriété" in text.extract_text()

    users_only = _issued(database, offers, billing, hardware=False)
    assert "Réserve de propriété" not in users_only.notes
    assert "Réserve de propriété" not in users_only.xml


def test_001_s4_6_hardware_billed_once_at_its_quoted_price(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The hardware (a one_off option on quote, 1,200.00) is billed on the invoice of
    the month it was delivered, once: the next month's invoice bills users only and
    says nothing of title."""
    set_now(utc(2026, 3, 1, 7))
    first = _issued(database, offers, billing, hardware=True)
    with database.unit() as session:
        from nuages.invoicing.models import InvoiceLine

        def hardware_lines(invoice_id: str) -> list[Decimal]:
            return [
                x.net_amount
                for x in session.execute(
                    select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                ).scalars()
                if "Matériel" in x.description
            ]

        assert hardware_lines(first.id) == [Decimal("1200.00")]
    set_now(utc(2026, 4, 1, 7))
    run_at(database, offers, utc(2026, 4, 1, 6))
    with database.unit() as session:
        later = [
            i
            for i in session.execute(
                select(Invoice).where(Invoice.contract_id == first.contract_id)
            ).scalars()
            if i.id != first.id and i.kind == "invoice"
        ]
        assert len(later) == 1
        assert hardware_lines(later[0].id) == []
        assert "Réserve de propriété" not in later[0].notes
