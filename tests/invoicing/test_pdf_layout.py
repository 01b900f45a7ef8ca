"""The Typst layout of the Factur-X PDF: PDF/A-3b with the XML attached by Typst and
the Factur-X XMP of the EN 16931 profile appended (``invoicing.embedding``; compared
with the factur-x library's own embedding in test_pdf_embedding.py), client data
printed as text (never read as Typst markup), long invoices continued on numbered
pages."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import facturx as facturx_lib
from lxml import etree
from pypdf import PdfReader

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import facturx, pdf
from nuages.kernel.db import Database

from .factories import Billing, documents_of, run_at, utc


def _issue(database: Database, offers: OfferRegistry, billing: Billing, name: str, n: int) -> str:
    client_id = billing.client(name)
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    for k in range(n):
        billing.line(contract, "azure-b2s", dt.date(2026, 3, 1), quantity=Decimal(1 + k % 3))
    billing.profile(contract, address="3 avenue des Clients", postcode="69002", city="Lyon")
    run_at(database, offers, utc(2026, 3, 1, 6))
    [(invoice, _)] = documents_of(database, contract)
    return invoice.id


def test_facturx_pdf_passes_the_facturx_checks_xsd_and_pdfa_metadata(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """EN 16931 / Factur-X 1.0: the PDF is PDF/A-3 (part 3, conformance B, an sRGB
    output intent, fonts embedded) whose XMP declares the Factur-X extension schema with
    DocumentType INVOICE, DocumentFileName factur-x.xml and ConformanceLevel EN 16931,
    and whose factur-x.xml is attached as an associated file; the library reads the
    XML back XSD-valid and names its flavour and level."""
    data = pdf.render_stored(database, _issue(database, offers, billing, "Check SARL", 2))
    name, xml = facturx_lib.get_xml_from_pdf(data, check_xsd=True)
    assert name == "factur-x.xml" and facturx.check(xml)
    tree = etree.fromstring(xml)
    assert facturx_lib.get_flavor(tree) == "factur-x"
    assert facturx_lib.get_level(tree) == "en16931"
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    for fact in (
        "<pdfaid:part>3</pdfaid:part>",
        "<pdfaid:conformance>B</pdfaid:conformance>",
        "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        "<fx:DocumentType>INVOICE</fx:DocumentType>",
        "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>",
        "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>",
    ):
        assert fact in xmp, fact
    [intent] = root["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    [attached] = root["/AF"]
    assert attached.get_object()["/F"] == "factur-x.xml"
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"]  # embedded (PDF/A 6.3.4)


def test_regression_client_name_with_typst_markup_is_printed_as_text(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The values reach Typst as data (sys.inputs JSON), not as source: a legal name
    made of Typst markup (#, *, $, [, ], \\, //) is printed as written and neither
    breaks the layout nor runs code."""
    name = 'Dupont & *Fils* #panic("x") $x^2$ [a] \\ // b'
    data = pdf.render_stored(database, _issue(database, offers, billing, name, 1))
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert 'Dupont & *Fils* #panic("x") $x^2$ [a] \\ // b' in text


def test_long_invoice_continues_on_numbered_pages(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """60 lines do not fit one A4 page: the table continues, every page's footer names
    the invoice and "page k / n", and the totals close the last page."""
    data = pdf.render_stored(database, _issue(database, offers, billing, "Long SARL", 60))
    reader = PdfReader(io.BytesIO(data))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    for k, text in enumerate(pages, 1):
        assert f"page {k} / {len(pages)}" in text
    assert "Net à payer" in pages[-1]
