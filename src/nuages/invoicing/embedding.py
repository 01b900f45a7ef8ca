"""The Factur-X XMP of a Typst PDF/A-3b, added by an incremental update.

Typst attaches ``factur-x.xml`` itself (``pdf.attach`` in ``templates/invoice.typ``:
the embedded file stream ``/Subtype/text#2Fxml`` with ``/Params`` ``/Size``
``/ModDate``, its file specification with ``/AFRelationship/Data``, the catalog's
``/Names /EmbeddedFiles`` and ``/AF``), which is what the ``factur-x`` library's
``generate_from_binary`` writes. What Typst cannot write is the Factur-X extension
schema in the XMP (Factur-X 1.0 §6.2.2: ``fx:DocumentType`` INVOICE,
``fx:DocumentFileName`` factur-x.xml, ``fx:Version`` 1.0, ``fx:ConformanceLevel``
EN 16931, declared as a PDF/A extension schema). ``add_facturx_xmp`` appends a new
revision of the metadata stream — Typst's own XMP (PDF/A-3b identification, title,
author, dates) with the library's Factur-X schema and properties merged in — and of the
catalog (``/PageMode/UseAttachments``, as the library sets it), then an xref section and
a trailer with ``/Prev`` (ISO 32000-1 §7.5.6; PDF/A-3 allows incremental updates).

Why not the library's embedding: it parses and clones the whole Typst file with pypdf
and writes it again, 14–18 ms an invoice against some 0.1 ms for this update
(docs/invoicing.md "Measured"). The library still checks the XML against the XSD before
the layout and, in the tests, reads every PDF back (flavour, level, XSD, XMP).
"""

from __future__ import annotations

import copy
import functools
import re

import facturx as facturx_lib
from lxml import etree

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PDFA_EXTENSION = "http://www.aiim.org/pdfa/ns/extension/"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_XREF_HEAD = re.compile(rb"xref\s+")
_SUBSECTION = re.compile(rb"(\d+) (\d+)\s*?\n")
_REF = rb"(\d+) (\d+) R"
_ID = re.compile(
    rb"/ID\s*(\[\s*(?:\([A-Za-z0-9+/=]*\)|<[0-9A-Fa-f]*>)\s*(?:\([A-Za-z0-9+/=]*\)|<[0-9A-Fa-f]*>)\s*\])"
)


class UnexpectedPdf(ValueError):
    """The PDF is not laid out as Typst writes it (classic xref table, one revision)."""


@functools.cache
def _facturx_fragments() -> tuple[bytes, bytes]:
    """The library's Factur-X extension schema (an ``rdf:li`` of
    ``pdfaExtension:schemas``) and its ``fx`` properties (an ``rdf:Description``), as
    ``facturx.generate_xmp_bytes`` writes them for the EN 16931 profile. Constant, so
    built once."""
    packet = facturx_lib.generate_xmp_bytes("factur-x", "en16931", None, {})
    root = etree.fromstring(packet)
    schema = root.find(f".//{{{PDFA_EXTENSION}}}schemas/{{{RDF}}}Bag/{{{RDF}}}li")
    props = next(
        d for d in root.iter(f"{{{RDF}}}Description") if len(d) and d[0].tag.startswith("{" + FX)
    )
    if schema is None:
        raise UnexpectedPdf("the factur-x library wrote no extension schema")
    props = copy.deepcopy(props)
    # XMP (ISO 16684-1 §7.4) wants rdf:about on every description; the library omits it.
    props.set(f"{{{RDF}}}about", "")
    return etree.tostring(schema), etree.tostring(props)


def facturx_xmp(xmp: bytes) -> bytes:
    """``xmp`` (Typst's packet) with the Factur-X extension schema added to its
    ``pdfaExtension:schemas`` (created when absent) and the ``fx`` properties."""
    schema, props = _facturx_fragments()
    root = etree.fromstring(xmp)
    rdf = root.find(f"{{{RDF}}}RDF")
    if rdf is None:
        raise UnexpectedPdf("XMP without rdf:RDF")
    bag = rdf.find(f"{{{RDF}}}Description/{{{PDFA_EXTENSION}}}schemas/{{{RDF}}}Bag")
    if bag is None:
        holder = etree.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
        bag = etree.SubElement(
            etree.SubElement(holder, f"{{{PDFA_EXTENSION}}}schemas"), f"{{{RDF}}}Bag"
        )
    bag.append(etree.fromstring(schema))
    rdf.append(etree.fromstring(props))
    out: bytes = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)
    return out


def _xref_offsets(pdf: bytes, start: int) -> dict[int, int]:
    """Object number → byte offset, from the classic xref table at ``start``."""
    head = _XREF_HEAD.match(pdf, start)
    if head is None:
        raise UnexpectedPdf("no classic xref table at startxref (an xref stream?)")
    offsets: dict[int, int] = {}
    pos = head.end()
    while (sub := _SUBSECTION.match(pdf, pos)) is not None:
        first, count = int(sub[1]), int(sub[2])
        pos = sub.end()
        for k in range(count):
            entry = pdf[pos : pos + 20]
            if entry[17:18] == b"n":
                offsets[first + k] = int(entry[:10])
            pos += 20
    if not pdf.startswith(b"trailer", pos):
        raise UnexpectedPdf("xref table not followed by its trailer")
    return offsets


def _object_body(pdf: bytes, offsets: dict[int, int], number: int) -> tuple[bytes, int]:
    """The bytes after ``N 0 obj`` of object ``number`` and where they start."""
    start = offsets[number]
    head = re.compile(rb"%d 0 obj\s*" % number).match(pdf, start)
    if head is None:
        raise UnexpectedPdf(f"object {number} is not where the xref says")
    return pdf[head.end() : pdf.index(b"endobj", head.end())], head.end()


def add_facturx_xmp(pdf: bytes) -> bytes:
    """``pdf`` (Typst's PDF/A-3b, ``factur-x.xml`` attached) followed by an incremental
    update whose metadata stream carries the Factur-X XMP and whose catalog opens on
    the attachments."""
    found = _STARTXREF.search(pdf, len(pdf) - 64)
    if found is None:
        raise UnexpectedPdf("no startxref at the end")
    prev = int(found[1])
    offsets = _xref_offsets(pdf, prev)
    trailer_at = pdf.index(b"trailer", prev)
    trailer = pdf[trailer_at : found.start()]
    size = re.search(rb"/Size (\d+)", trailer)
    root = re.search(rb"/Root " + _REF, trailer)
    info = re.search(rb"/Info " + _REF, trailer)
    ident = _ID.search(trailer)
    if size is None or root is None or ident is None or root[2] != b"0":
        raise UnexpectedPdf("trailer without /Size, /Root or /ID")
    catalog_number = int(root[1])
    catalog, _ = _object_body(pdf, offsets, catalog_number)
    metadata = re.search(rb"/Metadata " + _REF, catalog)
    if not catalog.startswith(b"<<") or metadata is None or b"/AF" not in catalog:
        raise UnexpectedPdf("catalog without /Metadata or /AF (factur-x.xml not attached)")
    metadata_number = int(metadata[1])
    stream, at = _object_body(pdf, offsets, metadata_number)
    length = re.search(rb"/Length (\d+)", stream)
    if length is None or b"/Filter" in stream.split(b"stream", 1)[0]:
        raise UnexpectedPdf("metadata stream without /Length or filtered")
    data_at = at + stream.index(b"stream") + len(b"stream")
    data_at += 2 if pdf[data_at : data_at + 2] == b"\r\n" else 1
    xmp = facturx_xmp(pdf[data_at : data_at + int(length[1])])
    if b"/PageMode" not in catalog:
        catalog = b"<</PageMode/UseAttachments" + catalog[2:]

    out = bytearray(pdf)
    if not out.endswith(b"\n"):
        out += b"\n"
    new: dict[int, int] = {}
    new[metadata_number] = len(out)
    out += b"%d 0 obj\n<</Length %d/Type/Metadata/Subtype/XML>>\nstream\n" % (
        metadata_number,
        len(xmp),
    )
    out += xmp + b"\nendstream\nendobj\n"
    new[catalog_number] = len(out)
    out += b"%d 0 obj\n" % catalog_number + catalog.rstrip() + b"\nendobj\n"
    xref_at = len(out)
    # The free head of the list first: readers such as pypdf take a section that does
    # not start at object 0 for a mis-numbered table.
    out += b"xref\n0 1\n0000000000 65535 f\r\n"
    for number in sorted(new):
        out += b"%d 1\n%010d 00000 n\r\n" % (number, new[number])
    out += b"trailer\n<</Size %s/Root %d 0 R" % (size[1], catalog_number)
    if info is not None:
        out += b"/Info %s %s R" % (info[1], info[2])
    out += b"/ID%s/Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (ident[1], prev, xref_at)
    return bytes(out)
