"""The Factur-X embedding without the library's pypdf rewrite, on both paths: the
one-page document written directly (``invoicing.pdfa``: attachment and XMP in the one
revision) and Typst's (Typst attaches factur-x.xml, an incremental update adds the
Factur-X XMP, ``invoicing.embedding``). Every PDF is read back by the ``factur-x``
library (flavour, level, XSD) and compared with what the library's own
``generate_from_binary`` writes for the same invoice."""

from __future__ import annotations

import datetime as dt
import io
import logging
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import facturx as facturx_lib
import pytest
from lxml import etree
from pypdf import PdfReader

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import credits, embedding, pdf
from nuages.invoicing.models import Invoice
from nuages.kernel.db import Database

from .factories import Billing, documents_of, loaded, run_at, utc

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
NS = {
    "rdf": RDF,
    "fx": FX,
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
}


def _issue(database: Database, offers: OfferRegistry, billing: Billing, name: str) -> str:
    client_id = billing.client(name)
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1), quantity=Decimal(2))
    billing.profile(contract, address="3 avenue des Clients", postcode="69002", city="Lyon")
    run_at(database, offers, utc(2026, 3, 1, 6))
    [(invoice, _)] = documents_of(database, contract)
    return invoice.id


def _read_back(data: bytes) -> bytes:
    """The factur-x library's reading: factur-x.xml found, XSD-valid, flavour and
    level detected."""
    name, xml = facturx_lib.get_facturx_xml_from_pdf(data, check_xsd=True)
    assert name == "factur-x.xml", "the library found no valid factur-x.xml"
    tree = etree.fromstring(xml)
    assert facturx_lib.get_flavor(tree) == "factur-x"
    assert facturx_lib.get_level(tree) == "en16931"
    return bytes(xml)


def _xmp(reader: PdfReader) -> etree._Element:
    data = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    return etree.fromstring(data)


def _facts(xmp: etree._Element) -> dict[str, object]:
    """What a Factur-X reader and a PDF/A validator look at in the XMP."""
    [schema] = [
        li
        for li in xmp.iterfind(".//pdfaExtension:schemas/rdf:Bag/rdf:li", NS)
        if li.findtext("pdfaSchema:namespaceURI", namespaces=NS) == FX
    ]
    return {
        "fx": {e.tag: e.text for e in xmp.iterfind(".//rdf:Description/fx:*", NS)},
        "schema": (
            schema.findtext("pdfaSchema:schema", namespaces=NS),
            schema.findtext("pdfaSchema:prefix", namespaces=NS),
            sorted(
                (
                    p.findtext("pdfaProperty:name", namespaces=NS),
                    p.findtext("pdfaProperty:valueType", namespaces=NS),
                    p.findtext("pdfaProperty:category", namespaces=NS),
                )
                for p in schema.iterfind("pdfaSchema:property/rdf:Seq/rdf:li", NS)
            ),
        ),
        "part": xmp.findtext(".//pdfaid:part", namespaces=NS),
        "conformance": xmp.findtext(".//pdfaid:conformance", namespaces=NS),
        "title": xmp.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=NS),
        "creator": xmp.findtext(".//dc:creator/rdf:Seq/rdf:li", namespaces=NS),
        "description": xmp.findtext(".//dc:description/rdf:Alt/rdf:li", namespaces=NS),
    }


@pytest.mark.parametrize("with_typst", [False, True], ids=["direct", "typst"])
def test_attached_xml_is_the_stored_xml_and_the_catalog_points_to_it(
    database: Database, offers: OfferRegistry, billing: Billing, with_typst: bool
) -> None:
    """Factur-X 1.0 and PDF/A-3 (ISO 19005-3 §6.8): factur-x.xml is an embedded file
    stream of MIME type text/xml whose /Params give its size and modification date; its
    file specification (F and UF factur-x.xml, AFRelationship Data, the EN 16931
    choice of the library) is named in the catalog's /Names /EmbeddedFiles and listed
    in /AF; its bytes are the stored XML, and the catalog opens on the attachments."""
    invoice, lines = loaded(database, _issue(database, offers, billing, "Attache SARL"))
    data = pdf.render(invoice, lines, None, with_typst=with_typst)
    assert _read_back(data) == invoice.xml.encode()
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    [spec_ref] = root["/AF"]
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml" and names[1].idnum == spec_ref.idnum
    spec = spec_ref.get_object()
    assert spec["/Type"] == "/Filespec" and spec["/F"] == spec["/UF"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Data"
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Type"] == "/EmbeddedFile" and stream["/Subtype"] == "/text/xml"
    assert stream.get_data() == invoice.xml.encode()
    assert stream["/Params"]["/Size"] == len(invoice.xml.encode())
    assert str(stream["/Params"]["/ModDate"]).startswith("D:20")
    assert root["/PageMode"] == "/UseAttachments" and root["/Lang"] == "fr-FR"


@pytest.mark.parametrize("with_typst", [False, True], ids=["direct", "typst"])
def test_xmp_and_info_are_those_the_library_writes_for_the_same_invoice(
    database: Database, offers: OfferRegistry, billing: Billing, with_typst: bool
) -> None:
    """Factur-X 1.0 §6.2.2: the XMP declares the library's Factur-X extension schema
    (same name, prefix fx, same four properties) and the same values (DocumentType
    INVOICE, DocumentFileName factur-x.xml, Version 1.0, ConformanceLevel EN 16931),
    PDF/A-3 conformance B, and the title/author/subject the library wrote, in the XMP
    and the Info dictionary alike; the library's ``generate_from_binary`` stays the
    reference (``pdf.embed_xml``)."""
    invoice_id = _issue(database, offers, billing, "Pareil SARL")
    invoice, lines = loaded(database, invoice_id)
    ours = pdf.render(invoice, lines, None, with_typst=with_typst)
    seller = "Nuages Test France SAS"
    reference = pdf.embed_xml(
        pdf.layout_pdf(pdf.layout_data(invoice, lines, None)),
        invoice.xml,
        invoice.number,
        seller,
        credit=False,
    )
    assert _read_back(ours) == _read_back(reference)
    mine, theirs = PdfReader(io.BytesIO(ours)), PdfReader(io.BytesIO(reference))
    facts = _facts(_xmp(mine))
    assert facts == _facts(_xmp(theirs))
    assert facts["fx"] == {
        f"{{{FX}}}DocumentType": "INVOICE",
        f"{{{FX}}}DocumentFileName": "factur-x.xml",
        f"{{{FX}}}Version": "1.0",
        f"{{{FX}}}ConformanceLevel": "EN 16931",
    }
    assert (facts["part"], facts["conformance"]) == ("3", "B")
    assert facts["title"] == f"{seller} : Facture {invoice.number}"
    for key in ("/Title", "/Author", "/Subject", "/Keywords"):
        assert mine.metadata[key] == theirs.metadata[key], key
    # Every XMP description is about the document (the library's lack rdf:about).
    assert all(d.get(f"{{{RDF}}}about") == "" for d in _xmp(mine).iter(f"{{{RDF}}}Description"))
    [intent] = mine.trailer["/Root"]["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"


@pytest.mark.parametrize("with_typst", [False, True], ids=["direct", "typst"])
def test_credit_note_pdf_says_avoir_and_stays_a_factur_x_invoice(
    database: Database, offers: OfferRegistry, billing: Billing, with_typst: bool
) -> None:
    """A credit note (type 381) prints "Avoir n° …" and is titled "… : Avoir …" with the
    keywords "Factur-X, Avoir"; Factur-X 1.0 has one DocumentType, INVOICE, for both, and
    its XML, read back by the library, is the credit note's."""
    invoice_id = _issue(database, offers, billing, "Avoir SARL")
    with database.unit() as session:
        note_id = credits.credit_note(session, Actor.system("test"), offers, invoice_id, "geste").id
    note, note_lines = loaded(database, note_id)
    data = pdf.render(note, note_lines, None, with_typst=with_typst)
    xml = _read_back(data)
    assert xml == note.xml.encode() and b"<ram:TypeCode>381</ram:TypeCode>" in xml
    reader = PdfReader(io.BytesIO(data))
    assert f"Avoir n° {note.number}" in reader.pages[0].extract_text()
    assert reader.metadata["/Title"] == f"Nuages Test France SAS : Avoir {note.number}"
    assert reader.metadata["/Keywords"] == "Factur-X, Avoir"
    facts = _facts(_xmp(reader))
    assert facts["fx"][f"{{{FX}}}DocumentType"] == "INVOICE"  # type: ignore[index]
    assert facts["title"] == reader.metadata["/Title"]


@pytest.mark.parametrize("with_typst", [False, True], ids=["direct", "typst"])
def test_rendering_again_gives_valid_pdfs_each_with_its_own_xml(
    database: Database, offers: OfferRegistry, billing: Billing, with_typst: bool
) -> None:
    """One compiler serves every document of a worker: rendering A, B, then A again
    gives three valid Factur-X PDFs, each carrying its own XML (nothing of the previous
    document's inputs is reused), and A twice the same attachment."""
    first = loaded(database, _issue(database, offers, billing, "Premier SARL"))
    second = loaded(database, _issue(database, offers, billing, "Second SARL"))
    a1 = pdf.render(*first, None, with_typst=with_typst)
    b = pdf.render(*second, None, with_typst=with_typst)
    a2 = pdf.render(*first, None, with_typst=with_typst)
    assert first[0].xml != second[0].xml
    assert _read_back(a1) == _read_back(a2) == first[0].xml.encode()
    assert _read_back(b) == second[0].xml.encode()
    assert "Second SARL" in PdfReader(io.BytesIO(b)).pages[0].extract_text()


@pytest.mark.parametrize("with_typst", [False, True], ids=["direct", "typst"])
def test_pdf_opens_without_warnings_and_qpdf_finds_no_errors(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    with_typst: bool,
) -> None:
    """The file is well-formed: pypdf reads it in strict mode without a warning (an
    update section not starting at object 0 draws one) and ``qpdf --check`` (when
    installed: ``scripts/install.sh --dev``) finds no error. Typst's file: the new xref
    points at the new metadata and catalog while the first revision stays intact; the
    direct one: a single revision."""
    invoice, lines = loaded(database, _issue(database, offers, billing, "Strict SARL"))
    data = pdf.render(invoice, lines, None, with_typst=with_typst)
    with caplog.at_level(logging.WARNING, logger="pypdf"):
        reader = PdfReader(io.BytesIO(data), strict=True)
        assert b"fx:ConformanceLevel" in reader.trailer["/Root"]["/Metadata"].get_data()
        assert len(reader.pages) == 1 and reader.pages[0].extract_text()
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    revisions = 2 if with_typst else 1
    assert data.count(b"%%EOF") == revisions and data.count(b"startxref") == revisions
    if with_typst:
        first_revision = data[: data.index(b"%%EOF") + len(b"%%EOF")]
        # the first revision alone is Typst's PDF: the attachment without the Factur-X XMP
        assert b"fx:ConformanceLevel" not in first_revision
    qpdf = shutil.which("qpdf")
    if qpdf is None:
        pytest.skip("qpdf not installed (scripts/install.sh --dev)")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    checked = subprocess.run([qpdf, "--check", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No syntax or stream encoding errors" in checked.stdout


def test_xml_failing_the_xsd_is_refused_and_odd_pdfs_are_not_patched(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The library's XSD check runs before the layout: an XML without its document
    number (BT-1) is refused, no PDF made. The update only patches what Typst writes:
    a PDF without factur-x.xml attached, or bytes that are no PDF, are refused rather
    than given a Factur-X XMP that would promise an attachment."""
    invoice, lines = loaded(database, _issue(database, offers, billing, "Refus SARL"))
    valid = invoice.xml
    invoice.xml = valid.replace(f"<ram:ID>{invoice.number}</ram:ID>", "", 1)
    assert invoice.xml != valid
    with pytest.raises(ValueError, match="XSD"):
        pdf.render(invoice, lines, None)
    bare = pdf.layout_pdf(pdf.layout_data(invoice, lines, None))
    with pytest.raises(embedding.UnexpectedPdf, match="not attached"):
        embedding.add_facturx_xmp(bare)
    with pytest.raises(embedding.UnexpectedPdf):
        embedding.add_facturx_xmp(b"%PDF-1.7\nnot really\n%%EOF\n")
    with database.unit() as session:
        stored = session.get(Invoice, invoice.id)
        assert stored is not None and stored.xml == valid
