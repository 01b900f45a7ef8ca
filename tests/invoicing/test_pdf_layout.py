"""The Typst layout of the Factur-X PDF: PDF/A-3b with the XML attached by Typst and
the Factur-X XMP of the EN 16931 profile appended (``invoicing.embedding``; compared
with the factur-x library's own embedding in test_pdf_embedding.py), client data
printed as text (never read as Typst markup), long invoices continued on numbered
pages."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import facturx as facturx_lib
import pytest
from lxml import etree
from pypdf import PdfReader

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import facturx, pdf, typeset
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
    # The line table's header repeats on every page the lines reach (Typst's table,
    # which a document of more than one page is laid out with).
    assert all("Désignation" in text for text in pages[:-1]), pages


def _fragments(data: bytes) -> list[tuple[str, float, float]]:
    """Each text run of page 1: its text and where it starts (x, y in pt)."""
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: object) -> None:
        if text.strip():
            found.append((text.strip(), tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]))

    PdfReader(io.BytesIO(data)).pages[0].extract_text(visitor_text=visit)
    return sorted(found, key=lambda f: (-round(f[2]), f[1]))


def test_placed_rows_put_every_cell_where_typst_table_puts_it(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Issue 15: a one-page invoice's tables are placed rows (``typeset`` computes the
    columns) rather than Typst tables, for a third of the cost; every cell, header and
    wrapped description line starts within half a point of where the ``table`` layout
    (``long``, used for documents of several pages) puts it: same columns, same
    right-aligned amounts, same row heights."""
    invoice_id = _issue(database, offers, billing, "Placed SARL", 12)
    with database.unit() as session:
        invoice, lines, preceding = pdf._load(session, invoice_id)
        data = pdf.layout_data(invoice, lines, preceding)
    assert '"line_cells": {' in data and '"group_cells": {' in data
    placed = _fragments(pdf._compile({"data": data, "pages": "1"}))
    table = _fragments(pdf._compile({"data": data, "pages": "1", "long": "1"}))
    assert len(placed) == len(table) > 12 * 7
    for (text, x, y), (text_t, x_t, y_t) in zip(placed, table, strict=True):
        assert text == text_t
        assert abs(x - x_t) <= 0.5 and abs(y - y_t) <= 0.5, (text, x, x_t, y, y_t)


def test_content_too_wide_to_place_falls_back_to_typst_table() -> None:
    """When the fitted columns would leave the description under a fifth of the width,
    ``typeset.placed`` gives up (None) and the template lays the table out with Typst's
    ``table``, which shares the width out itself: the page still prints every value."""
    header = ["Désignation", "Montant"]
    rows = [["Serveur", "9" * 150]]
    assert typeset.placed(header, rows, [1]) is None
    assert typeset.placed(header, [["Serveur", "1 234,56"]], [1]) is not None
    data = {
        "title": "Facture",
        "number": "F-1",
        "seller": {"name": "Vendeur", "lines": []},
        "buyer": {"name": "Acheteur", "lines": []},
        "meta": [],
        "line_header": header,
        "line_columns": ["1fr", "auto"],
        "line_numeric": [1],
        "lines": rows,
        "line_cells": None,
        "groups": [],
        "group_header": list(pdf.GROUP_HEADER),
        "group_numeric": list(pdf.GROUP_NUMERIC),
        "group_cells": None,
        "totals": [],
        "notes": [],
    }
    text = PdfReader(io.BytesIO(pdf.layout_pdf(json.dumps(data)))).pages[0].extract_text()
    assert "Serveur" in text and "999999" in text.replace("\n", "")


def test_without_dejavu_files_columns_are_wider_never_narrower(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the font files Typst falls back to its own fonts, whose advances nuages
    does not read: every character then counts 0.7 em, wider than DejaVu's digits and
    letters, so an amount never overflows its column."""
    header, rows = ["Désignation", "Montant HT"], [["Serveur", "12 345,67"]]
    measured = typeset.placed(header, rows, [1])
    monkeypatch.setattr(typeset, "DEJAVU", tmp_path)
    typeset._advances.cache_clear()
    typeset.text_width.cache_clear()
    try:
        guessed = typeset.placed(header, rows, [1])
    finally:
        typeset._advances.cache_clear()
        typeset.text_width.cache_clear()
    assert measured is not None and guessed is not None
    assert guessed["fill_width"] < measured["fill_width"]  # type: ignore[operator]
