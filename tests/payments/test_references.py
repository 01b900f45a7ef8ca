"""ISO 11649 creditor references (issue 15): an invoice states its RF reference as the
Factur-X payment reference (BT-83) and prints it on the PDF beside the seller's IBAN;
the statement import matches it back (``test_statements_api``)."""

from __future__ import annotations

import io

import pytest
from facturx import get_xml_from_pdf
from lxml import etree
from pypdf import PdfReader
from stdnum import iso11649

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import pdf
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.payments import references
from tests.invoicing.factories import Billing, utc
from tests.payments.test_statements import _invoice

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


def test_iso11649_reference_of_an_invoice_number() -> None:
    """ISO 11649: RF + check digits (mod 97-10 over the body followed by "RF00") + the
    number's letters and digits: F-2026-000042 → RF42F2026000042 (hand-checked: the
    body F2026000042RF00 as digits is 152026000042271500, mod 97 = 56, 98 − 56 = 42)."""
    reference = references.invoice_reference("F-2026-000042")
    assert reference == "RF42F2026000042" and iso11649.is_valid(reference)
    assert references.grouped(reference) == "RF42 F202 6000 042"
    with pytest.raises(ValueError):
        references.creditor_reference("--")


def test_invoice_states_and_prints_its_rf_reference(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A transfer-paid invoice: BT-83 (ram:PaymentReference) in the embedded Factur-X XML
    is the RF reference of its number, and the PDF prints it in groups of four."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    expected = references.invoice_reference(invoice.number)
    data = pdf.render_stored(database, invoice.id)
    _name, xml = get_xml_from_pdf(data, check_xsd=False)
    stated = etree.fromstring(xml).findtext(f".//{{{RAM}}}PaymentReference")
    assert stated == expected and iso11649.is_valid(stated)
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert references.grouped(expected) in text, text
