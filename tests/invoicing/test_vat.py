"""EN 16931 totals over random invoices with mixed VAT rates (BR-CO-10/13/14/15/16/17),
VAT-included prices turned into exact nets (003 §14.1), and full credit notes that
net to zero — checked on the numbers, in the XML, and on issued documents."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from nuages.accounts.models import Client
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import credits, documents, facturx
from nuages.invoicing.models import Invoice
from nuages.invoicing.pricing import DraftLine
from nuages.invoicing.vat import (
    TaxableLine,
    compute_totals,
    nets_from_gross,
    total_with_vat,
)
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database

from .factories import Billing, utc

D = Decimal
CENT = D("0.01")
RATES = [
    ("S", D("20")),
    ("S", D("10")),
    ("S", D("5.5")),
    ("S", D("2.1")),
    ("S", D("21")),
    ("S", D("6")),
    ("AE", D("0")),
    ("E", D("0")),
]
NS = {"ram": facturx.RAM, "rsm": facturx.RSM}

cents = st.integers(min_value=-50_000, max_value=5_000_000).map(lambda c: D(c) / 100)
line = st.tuples(cents, st.sampled_from(RATES))
invoice_lines = st.lists(line, min_size=1, max_size=25).filter(
    lambda ls: sum((n for n, _ in ls), D(0)) > 0
)


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@given(invoice_lines, cents.filter(lambda c: c >= 0))
@settings(max_examples=300, deadline=None)
def test_en16931_br_co_totals_hold_exactly(lines: list, prepaid: Decimal) -> None:
    """BR-CO-10/13/14/15/16 hold to the cent and BR-CO-17 is the VAT of each category's
    sum of nets, rounded half-up — never a sum of per-line VATs."""
    taxable = [TaxableLine(net, cat, rate) for net, (cat, rate) in lines]
    totals = compute_totals(taxable, prepaid=min(prepaid, D(10)))
    assert totals.line_total == sum((n for n, _ in lines), D(0))  # BR-CO-10
    assert totals.tax_basis == totals.line_total - totals.allowances + totals.charges  # BR-CO-13
    assert totals.tax_total == sum((g.tax for g in totals.groups), D(0))  # BR-CO-14
    assert totals.grand_total == totals.tax_basis + totals.tax_total  # BR-CO-15
    assert totals.due_payable == totals.grand_total - totals.prepaid + totals.rounding  # BR-CO-16
    assert sum((g.basis for g in totals.groups), D(0)) == totals.tax_basis
    for group in totals.groups:  # BR-CO-17, recomputed independently
        basis = sum((n for n, (c, r) in lines if (c, r) == (group.category, group.rate)), D(0))
        assert group.basis == basis
        assert group.tax == _half_up(basis * group.rate / 100)
        if group.category != "S":
            assert group.tax == 0 and group.exemption is not None


@given(
    st.lists(st.integers(min_value=1, max_value=2_000_000), min_size=1, max_size=12),
    st.sampled_from([D("20"), D("10"), D("5.5"), D("21"), D("2.1")]),
)
@settings(max_examples=300, deadline=None)
def test_003_s14_1_nets_from_vat_included_prices(grosses: list[int], rate: Decimal) -> None:
    """003 §14.1: prices quoted VAT included give nets whose total with VAT (BR-CO-17)
    is the quoted total, or one cent less where no net reaches it — never more."""
    gross = [D(g) / 100 for g in grosses]
    nets = nets_from_gross(gross, rate)
    total = total_with_vat(sum(nets, D(0)), rate)
    assert total in (sum(gross, D(0)), sum(gross, D(0)) - CENT)
    if total != sum(gross, D(0)):
        # Unreachable: the next cent of net would overshoot.
        assert total_with_vat(sum(nets, D(0)) + CENT, rate) > sum(gross, D(0))
    for g, n in zip(gross, nets, strict=True):
        assert n == _half_up(n)
        assert abs(n - g * 100 / (100 + rate)) <= D("0.02")


def _xml_amount(root: etree._Element, path: str) -> Decimal:
    return D(root.findtext(path, namespaces=NS) or "nan")


@given(invoice_lines)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_xml_states_the_same_totals_and_passes_the_xsd(lines: list) -> None:
    """The CII XML carries the same breakdown and totals, and the facturx library's
    EN16931 XSD accepts it."""
    taxable = [TaxableLine(net, cat, rate) for net, (cat, rate) in lines]
    totals = compute_totals(taxable)
    doc = facturx.XmlDocument(
        kind="invoice",
        number="T-2026-000001",
        issue_date=dt.date(2026, 3, 1),
        currency="EUR",
        seller=facturx.Party("Vendeur", "FR", vat_number="FR11123456782", siren="123456782"),
        buyer=facturx.Party("Acheteur", "DE", vat_number="DE136695976"),
        lines=[
            facturx.XmlLine(i, None, "ligne", D(1) if n >= 0 else D(-1), "C62", abs(n), n, c, r)
            for i, (n, (c, r)) in enumerate(lines, start=1)
        ],
        totals=totals,
        notes=[("AAB", "Pas d'escompte")],
        payment_terms="30 jours",
        due_date=dt.date(2026, 3, 31),
        payment_means="transfer",
        seller_iban="FR7630006000011234567890189",
    )
    xml = facturx.build_xml(doc)
    assert facturx.check(xml)
    root = etree.fromstring(xml)
    summary = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert _xml_amount(root, summary + "LineTotalAmount") == totals.line_total
    assert _xml_amount(root, summary + "TaxTotalAmount") == totals.tax_total
    assert _xml_amount(root, summary + "GrandTotalAmount") == totals.grand_total
    line_sum = (
        sum((D(x.text) for x in root.iterfind(".//ram:LineTotalAmount", NS)), D(0))
        - totals.line_total
    )  # the header total is also a LineTotalAmount
    assert line_sum == totals.line_total
    taxes = [
        (
            D(t.findtext("ram:BasisAmount", namespaces=NS)),
            D(t.findtext("ram:CalculatedAmount", namespaces=NS)),
        )
        for t in root.iterfind(
            "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
            "ram:ApplicableTradeTax",
            NS,
        )
    ]
    assert taxes == [(g.basis, g.tax) for g in totals.groups]


def test_full_credit_note_nets_to_zero(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Random invoices with mixed VAT rates, each fully credited: the credit note takes
    back every line and every total, so invoice − credit note = 0 on every amount, and
    the invoice is cancelled."""
    client = billing.client("Client Mixte")
    contract_id = billing.contract("optima-cloud-azure", client, utc(2026, 1, 5))
    who = Actor.system("test")

    @given(invoice_lines)
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def check(lines: list) -> None:
        with frozen_at(utc(2026, 3, 2, 9)), database.unit() as session:
            contract = session.get(Contract, contract_id)
            client_row = session.get(Client, client)
            assert contract is not None and client_row is not None
            offer = offers.for_contract(session, contract)
            final = [
                documents.FinalLine(
                    draft=DraftLine(kind="item", description="ligne", quantity=D(1), amount=n),
                    net=n,
                    gross=None,
                    category=c,
                    rate=r,
                    quantity=D(1) if n >= 0 else D(-1),
                    unit_price=abs(n),
                )
                for n, (c, r) in lines
            ]
            invoice = documents.issue(
                session,
                who,
                kind="invoice",
                contract=contract,
                client=client_row,
                offer=offer,
                lines=final,
                profile=None,
                payment_means="transfer",
            )
            note = credits.credit_note(session, who, offers, invoice.id, "annulation")
            for field in ("total_net", "tax_basis", "tax_total", "grand_total"):
                assert getattr(invoice, field) - getattr(note, field) == 0, field
            assert documents.outstanding(session, invoice) == 0
            assert session.get(Invoice, invoice.id).state == "cancelled"  # type: ignore[union-attr]
            assert note.kind == "credit_note" and note.corrects_id == invoice.id
            assert "<ram:TypeCode>381</ram:TypeCode>" in note.xml
            assert f"<ram:IssuerAssignedID>{invoice.number}</ram:IssuerAssignedID>" in note.xml
            assert facturx.check(note.xml)

    check()
