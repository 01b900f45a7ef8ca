"""Credit notes never round against the client (issue 9.7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import credits, documents
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.invoicing.vat import net_for_gross_credit, total_with_vat
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed

from .factories import Billing, documents_of, run_at, utc

D = Decimal
WHO = Actor.system("test")


def _invoice(database: Database, offers: OfferRegistry, billing: Billing) -> str:
    """optima-cloud-azure azure-b2s for March: 55.00 net + 20 % = 66.00."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    return str(issued["invoice_id"])


@pytest.mark.parametrize(
    ("asked", "net", "tax", "credited"),
    [
        # 2.13 at 20 %: net 1.77 → 1.77 + 0.354→0.35 = 2.12; net 1.78 → 1.78 + 0.356→0.36
        # = 2.14. No net gives 2.13 (BR-CO-17 rounds the tax of the line's category); the
        # client gets 2.14, not 2.12, and the line says so.
        ("2.13", "1.78", "0.36", "2.14"),
        # Reachable amounts are credited exactly: 2.12 = 1.77 + 0.35; 2.40 = 2.00 + 0.40.
        ("2.12", "1.77", "0.35", "2.12"),
        ("2.40", "2.00", "0.40", "2.40"),
    ],
)
def test_regression_credit_notes_round_against_the_client(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    asked: str,
    net: str,
    tax: str,
    credited: str,
) -> None:
    """9.7: a credit of 2.13 asked in a dispute became 2.12 (the largest total below,
    the rule for *prices*, applied to a credit). A credit is the amount asked when the
    VAT allows it, else the next total above; the invoice's outstanding drops by it."""
    invoice_id = _invoice(database, offers, billing)
    with database.unit() as session:
        note = credits.credit_note(session, WHO, offers, invoice_id, "litige", D(asked))
        assert (note.total_net, note.tax_total, note.grand_total) == (D(net), D(tax), D(credited))
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        assert documents.outstanding(session, invoice) == D("66.00") - D(credited)
        [line] = session.query(InvoiceLine).filter(InvoiceLine.invoice_id == note.id).all()
        mentioned = f"{asked} € demandés, {credited} € crédités" in line.description
        assert mentioned == (asked != credited), line.description
    assert all(doc is not None for doc, _ in documents_of(database, note.contract_id))


def test_regression_credit_of_the_rest_never_exceeds_the_invoice(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.7, the bound: after a credit of 63.86 (net 53.22 + 10.64 VAT = 63.86, exact),
    2.14 is left; asking 2.14 credits it exactly (1.78 + 0.36) and the invoice is then
    fully credited (cancelled); asking more is refused."""
    invoice_id = _invoice(database, offers, billing)
    with database.unit() as session:
        first = credits.credit_note(session, WHO, offers, invoice_id, "litige", D("63.86"))
        assert first.grand_total == D("63.86")
    with database.unit() as session:
        with pytest.raises(ValidationFailed, match=r"more than the 2\.14 left"):
            credits.credit_note(session, WHO, offers, invoice_id, "trop", D("2.15"))
    with database.unit() as session:
        rest = credits.credit_note(session, WHO, offers, invoice_id, "reste", D("2.14"))
        assert rest.grand_total == D("2.14")
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.state == "cancelled"


@given(
    cents=st.integers(min_value=1, max_value=10_000_000),
    rate=st.sampled_from([D("20"), D("21"), D("5.5"), D("10"), D("17")]),
)
def test_credit_net_is_exact_or_the_next_total_above(cents: int, rate: Decimal) -> None:
    """For any amount asked: the credit's total is the amount itself or, when no net
    reaches it, the smallest reachable total above it (one net cent less falls below)."""
    asked = D(cents) / 100
    net = net_for_gross_credit(asked, rate)
    total = total_with_vat(net, rate)
    assert total >= asked
    assert total_with_vat(net - D("0.01"), rate) < asked
