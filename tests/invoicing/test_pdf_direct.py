"""The one-page invoice written directly (issue 15: ``invoicing.drawing`` places it,
``invoicing.pdfa`` writes the PDF/A-3b) against Typst's layout of the same data: every
line of text at the same place in the same font and size, the page the same to the eye,
and what the direct path cannot print sent to Typst. The Factur-X checks of both paths
are in ``test_pdf_embedding.py`` and ``test_pdf_layout.py``."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import credits, drawing, pdf
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.kernel.db import Database

from .factories import SVP_ITEMS, Billing, documents_of, loaded, run_at, utc

Run = tuple[float, float, str, float, str]


def _issue(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    name: str,
    offer: str = "virtualsr-svp",
    items: list[str] = SVP_ITEMS,
) -> str:
    client_id = billing.client(name)
    contract = billing.contract(offer, client_id, utc(2026, 2, 28, 23))
    for k, item in enumerate(items):
        billing.line(contract, item, dt.date(2026, 3, 1), quantity=Decimal(1 + k % 3))
    billing.profile(contract, address="3 avenue des Clients", postcode="69002", city="Lyon")
    run_at(database, offers, utc(2026, 3, 1, 6))
    [(invoice, _)] = documents_of(database, contract)
    return invoice.id


def _runs(data: bytes) -> list[Run]:
    """Each piece of text shown: its baseline's origin, font, size and characters."""
    found: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            base = str((font or {}).get("/BaseFont", ""))  # type: ignore[attr-defined]
            x, y = cm[4] + tm[4] * cm[0], cm[5] + tm[5] * cm[3]
            found.append((x, y, base.split("+")[-1], size, text.strip()))

    [page] = PdfReader(io.BytesIO(data)).pages
    page.extract_text(visitor_text=visit)
    return found


def _creator(data: bytes) -> str:
    return str(PdfReader(io.BytesIO(data)).metadata["/Creator"])


def _both(invoice: Invoice, lines: list[InvoiceLine]) -> tuple[bytes, bytes]:
    direct = pdf.render(invoice, lines, None)
    typst = pdf.render(invoice, lines, None, with_typst=True)
    assert _creator(direct) == "nuages" and _creator(typst).startswith("Typst")
    return direct, typst


def _credit_note(database: Database, offers: OfferRegistry, billing: Billing) -> str:
    invoice_id = _issue(
        database, offers, billing, "Avoir Azur SARL", "optima-cloud-azure", ["azure-b2s"] * 3
    )
    with database.unit() as session:
        return credits.credit_note(session, Actor.system("test"), offers, invoice_id, "geste").id


@pytest.mark.parametrize("case", ["svp", "credit_note"])
def test_every_line_of_text_is_where_typst_puts_it(
    database: Database, offers: OfferRegistry, billing: Billing, case: str
) -> None:
    """The 003 invoice of ten lines (a TTC column, descriptions wrapped on two and three
    lines, the 003 §14 payment notes wrapped across the page) and a credit note of
    004: each piece of text Typst prints is printed by the direct path with the same
    characters, font and size, its baseline within 0.3 pt (0.1 mm) of Typst's."""
    invoice_id = (
        _issue(database, offers, billing, "Pareil SARL")
        if case == "svp"
        else _credit_note(database, offers, billing)
    )
    direct, typst = _both(*loaded(database, invoice_id))
    ours, theirs = _runs(direct), _runs(typst)
    assert len(ours) == len(theirs) > 60
    for x, y, font, size, text in theirs:
        near = [r for r in ours if r[2:] == (font, size, text)]
        assert near, f"{text!r} ({font} {size}) not printed"
        best = min(near, key=lambda r: abs(r[0] - x) + abs(r[1] - y))
        assert abs(best[0] - x) <= 0.3 and abs(best[1] - y) <= 0.3, (text, best[:2], (x, y))


def test_the_page_looks_as_typst_lays_it(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """Rasterised at 100 dpi (poppler's ``pdftoppm``, ``scripts/install.sh --dev``), the
    direct page and Typst's differ on fewer than 0.1 % of the pixels by more than a
    quarter of the grey scale: the same rules, fills, frame and text."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm not installed (scripts/install.sh --dev)")
    from PIL import Image, ImageChops

    images = []
    for name, data in zip(
        ("direct", "typst"),
        _both(*loaded(database, _issue(database, offers, billing, "Vu SARL"))),
        strict=False,
    ):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        subprocess.run(
            [pdftoppm, "-r", "100", "-gray", "-png", "-singlefile", name + ".pdf", name],
            cwd=tmp_path,
            check=True,
        )
        images.append(Image.open(tmp_path / f"{name}.png").convert("L"))
    assert images[0].size == images[1].size
    diff = ImageChops.difference(*images).point(lambda v: 255 if v > 64 else 0)
    differing = diff.histogram()[255]
    assert differing < 0.001 * images[0].size[0] * images[0].size[1], differing
    # and the page is not blank: the text really is there
    assert images[0].histogram()[0] + sum(images[0].histogram()[:64]) > 10_000


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Ωμέγα Σύμβουλοι ΕΠΕ", "Greek letters, outside the embedded repertoire"),
        ("Société" + "X" * 60 + " SARL", "a word wider than the buyer's frame"),
    ],
)
def test_what_the_direct_path_cannot_print_typst_lays_out(
    database: Database, offers: OfferRegistry, billing: Billing, name: str, why: str
) -> None:
    """Rather than a missing glyph or text over the frame, Typst's layout (its fonts'
    fallbacks, its emergency line breaks): the document is the same Factur-X PDF."""
    invoice, lines = loaded(database, _issue(database, offers, billing, name, items=SVP_ITEMS[:2]))
    assert drawing.draw(pdf.layout_values(invoice, lines, None)) is None, why
    data = pdf.render(invoice, lines, None)
    assert _creator(data).startswith("Typst")
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert name[:5] in text


def test_more_than_a_page_goes_to_typst(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Twenty lines do not fit one A4 page: Typst lays the document out on numbered
    pages (its table header repeated); fourteen do, for Typst as well, and are drawn
    directly."""
    short = loaded(
        database, _issue(database, offers, billing, "Court SARL", items=SVP_ITEMS + SVP_ITEMS[:4])
    )
    long = loaded(database, _issue(database, offers, billing, "Long SARL", items=SVP_ITEMS * 2))
    _direct, typst = _both(*short)
    assert len(PdfReader(io.BytesIO(typst)).pages) == 1
    data = pdf.render(*long, None)
    assert _creator(data).startswith("Typst") and len(PdfReader(io.BytesIO(data)).pages) == 2


def test_direct_file_meets_the_pdfa_rules_a_validator_checks(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """ISO 19005-3 as veraPDF reads it, for what the writer itself decides: each font's
    program embedded (FontFile2) and its /W widths those of the program's own ``hmtx``
    (6.2.11.5, within one unit), a ToUnicode map for every shown glyph (so the text
    extracts as printed), no encryption, the metadata stream unfiltered (6.6.2.1), a
    file identifier in the trailer (6.1.3), the output intent's profile an RGB ICC
    profile (6.2.3), the header followed by a binary comment (6.1.2)."""
    from fontTools.ttLib import TTFont

    invoice, lines = loaded(database, _issue(database, offers, billing, "Règles SARL"))
    data = pdf.render(invoice, lines, None)
    assert data.startswith(b"%PDF-1.7\n%") and all(b > 127 for b in data[10:14])
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert "/Encrypt" not in reader.trailer and len(reader.trailer["/ID"]) == 2
    root = reader.trailer["/Root"]
    assert "/Filter" not in root["/Metadata"].get_object()
    [intent] = root["/OutputIntents"]
    profile = intent.get_object()["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3 and profile.get_data()[16:20] == b"RGB "
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        assert font["/Encoding"] == "/Identity-H" and "/ToUnicode" in font
        cid_font = font["/DescendantFonts"][0].get_object()
        program = TTFont(io.BytesIO(cid_font["/FontDescriptor"]["/FontFile2"].get_data()))
        scale = 1000 / program["head"].unitsPerEm
        order = program.getGlyphOrder()
        w = list(cid_font["/W"])
        widths = {int(w[i]): float(w[i + 1][0]) for i in range(0, len(w), 2)}
        assert len(widths) == len(order)
        for gid, name in enumerate(order):
            assert abs(widths[gid] - program["hmtx"][name][0] * scale) <= 1, name
    assert "Règles SARL" in reader.pages[0].extract_text()
