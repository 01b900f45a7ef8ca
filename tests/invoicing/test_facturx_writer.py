"""The CII XML is written as text (``facturx._Writer``), not built as an lxml tree: what
it writes must be what lxml would have written for the same document, byte for byte,
whatever the parties' names hold, and text XML cannot hold must still be refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from nuages.invoicing import facturx
from nuages.invoicing.vat import TaxableLine, compute_totals

D = Decimal
NS = {"rsm": facturx.RSM, "ram": facturx.RAM}
# Any character XML 1.0 holds (the markup ones and \r \n \t among them), none empty:
# lxml writes an empty text as a self-closed element once it has read it back.
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
        lambda c: c in "\t\n\r" or c >= " "
    )
    | st.sampled_from("&<>\"'\r\n\t é€"),
    min_size=1,
    max_size=30,
)


def _document(name: str, description: str, unit: str, note: str) -> facturx.XmlDocument:
    totals = compute_totals([TaxableLine(D("10.00"), "S", D(20))])
    return facturx.XmlDocument(
        kind="invoice",
        number="T-2026-000001",
        issue_date=dt.date(2026, 3, 1),
        currency="EUR",
        seller=facturx.Party(
            name, "FR", address=name, vat_number="FR11123456782", company_id="123456782",
            company_scheme=unit, email="facturation@example.com",
        ),
        buyer=facturx.Party(name, "BE", city=name, line2=name, region=name),
        lines=[
            facturx.XmlLine(
                1, "srv-m", description, D(1), unit, D(10), D("10.00"), "S", D(20),
                dt.date(2026, 2, 1), dt.date(2026, 3, 1),
            )
        ],
        totals=totals,
        notes=[("AAB", note), ("", note)],
        payment_terms=note,
        due_date=dt.date(2026, 3, 31),
        payment_means="direct_debit",
        debtor_iban="FR7630006000011234567890189",
        mandate_id=name,
        creditor_id="FR12ZZZ123456",
        contract_reference=name,
        buyer_reference=name,
        period_start=dt.date(2026, 2, 1),
        period_end=dt.date(2026, 3, 1),
        preceding_number="T-2026-000000",
        preceding_date=dt.date(2026, 2, 1),
        deposits=[("T-2026-000002", dt.date(2026, 1, 5))],
    )  # fmt: skip


@given(XML_TEXT, XML_TEXT, XML_TEXT, XML_TEXT)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_written_as_lxml_writes_it_and_every_value_reads_back(
    name: str, description: str, unit: str, note: str
) -> None:
    """Markup characters, line breaks and tabs in texts and attributes: lxml reads the
    document and writes it again to the same bytes, and reads back every value given."""
    xml = facturx.build_xml(_document(name, description, unit, note))
    root = etree.fromstring(xml)
    again = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    assert again == xml
    seller = root.find(".//ram:SellerTradeParty", NS)
    assert seller is not None
    assert seller.findtext("ram:Name", namespaces=NS) == name
    assert seller.find(".//ram:SpecifiedLegalOrganization/ram:ID", NS).get("schemeID") == unit
    assert root.findtext(".//ram:SpecifiedTradeProduct/ram:Name", namespaces=NS) == description
    assert root.find(".//ram:BilledQuantity", NS).get("unitCode") == unit
    assert [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)] == [note] * 2
    assert root.findtext(".//ram:DirectDebitMandateID", namespaces=NS) == name


def test_a_plain_document_passes_the_xsd_and_keeps_lxml_layout() -> None:
    """The layout lxml gives (two spaces an indent, empty delivery element self-closed,
    the declaration in single quotes), and the EN16931 XSD accepts the document."""
    xml = facturx.build_xml(_document("Client SARL", "Serveur M", "C62", "Pas d'escompte"))
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<rsm:CrossIndustryInvoice")
    assert b"\n      <ram:ApplicableHeaderTradeDelivery/>\n" not in xml
    assert b"\n    <ram:ApplicableHeaderTradeDelivery/>\n" in xml
    assert xml.endswith(b"</rsm:CrossIndustryInvoice>\n")
    assert facturx.check(xml)


def test_an_empty_name_is_an_empty_element_as_lxml_wrote_it() -> None:
    """An empty text stays an open and a close tag (what lxml wrote for ``text = ""``)."""
    xml = facturx.build_xml(_document("", "Serveur M", "C62", "n"))
    assert b"<ram:Name></ram:Name>" in xml


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\ud800"])
def test_text_xml_cannot_hold_is_refused_like_lxml_refused_it(bad: str) -> None:
    """17.2: a legacy name with a control character fails its document with the error
    lxml gave (the run reports that contract and goes on), never broken XML."""
    with pytest.raises(ValueError, match="XML compatible"):
        facturx.build_xml(_document(f"Client{bad}SARL", "Serveur M", "C62", "n"))
    with pytest.raises(ValueError, match="XML compatible"):
        facturx.build_xml(_document("Client", "Serveur M", f"C{bad}", "n"))
