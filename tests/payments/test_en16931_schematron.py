"""EN 16931 business rules on the Factur-X XML (issue 15): each kind of invoice this
platform issues passes the CEN/TC 434 schematron for CII (the ConnectingEurope
eInvoicing-EN16931 1.3.16 XSLT, ``data/en16931``, EUPL-1.2), run with Saxon-HE
(``saxonche``, XSLT 2.0). A failed assertion flagged ``fatal`` fails the test."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from saxonche import PySaxonProcessor

from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.invoicing.factories import Billing, utc
from tests.payments.test_statements import MANDATE, _invoice

XSLT = Path(__file__).parent / "data" / "en16931" / "EN16931-CII-validation.xslt"
FAILED = re.compile(r"<svrl:failed-assert\b(.*?)</svrl:failed-assert>", re.S)


def en16931_errors(xml: str) -> list[str]:
    """The fatal failed assertions of the EN 16931 CII schematron on ``xml``."""
    with PySaxonProcessor(license=False) as proc:
        executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(XSLT))
        report = executable.transform_to_string(xdm_node=proc.parse_xml(xml_text=xml))
    assert report and "schematron-output" in report
    errors = []
    for body in FAILED.findall(report):
        if 'flag="fatal"' in body:
            rule = re.search(r'id="([^"]+)"', body)
            text = re.search(r"<svrl:text>(.*?)</svrl:text>", body, re.S)
            errors.append(f"{rule[1] if rule else '?'}: {text[1].strip() if text else body}")
    return errors


def test_en16931_schematron_catches_a_broken_invoice(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The check is real: the same invoice with its grand total off by 1.00 fails
    BR-CO-15 (total with VAT = total without VAT + VAT)."""
    set_now(utc(2026, 3, 1, 7))
    xml = _invoice(database, offers, billing).xml
    total = re.search(r"<ram:GrandTotalAmount>([0-9.]+)<", xml)
    assert total is not None
    broken = xml.replace(
        f"<ram:GrandTotalAmount>{total[1]}<",
        f"<ram:GrandTotalAmount>{Decimal(total[1]) + 1}<",
    )
    assert any(e.startswith("BR-CO-15") for e in en16931_errors(broken))


@pytest.mark.parametrize("means", ["transfer", "direct_debit"])
def test_en16931_schematron_passes_on_issued_invoices(
    database: Database, offers: OfferRegistry, billing: Billing, means: str
) -> None:
    """A Belgian client's invoice paid by transfer (reverse charge, RF reference) and a
    French client's paid by SEPA direct debit (mandate, debtor IBAN): no fatal rule
    fails."""
    set_now(utc(2026, 3, 1, 7))
    kw = {"mandate": MANDATE} if means == "direct_debit" else {}
    invoice = _invoice(database, offers, billing, **kw)
    assert invoice.payment_means == means
    assert en16931_errors(invoice.xml) == []
