"""The readable document: French PDF/A-3b laid out by Typst (``templates/invoice.typ``)
with the CII XML attached as ``factur-x.xml`` (profile EN16931): the ``facturx``
library checks the XML against the XSD, Typst attaches it (``pdf.attach``) and
``embedding`` appends the Factur-X XMP as an incremental update — the library's own
embedding (``embed_xml``, a pypdf rewrite of the whole file) cost 14–18 ms an invoice.

The PDF is rendered from the stored document (its rows and its XML, never recomputed
prices), once: the first rendering is stored (``InvoiceDocument``) and served ever after.
Each worker process (or thread) compiles the template once; a document only passes its
values (JSON, already formatted in French) as ``sys.inputs``, so the layout of
what does not change is reused — 10–20 ms a page instead of WeasyPrint's 150–300 ms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import facturx as facturx_lib
import typst
from lxml import etree
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nuages.invoicing import drawing, embedding, pdfa, typeset
from nuages.invoicing.facturx import document_title
from nuages.invoicing.models import Invoice, InvoiceDocument, InvoiceLine
from nuages.invoicing.vat import TaxableLine, compute_totals
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NotFound
from nuages.notices import attachments
from nuages.payments import references

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = TEMPLATES / "invoice.typ"
# The template names DejaVu Sans (what the WeasyPrint layout used); Typst falls back
# to its embedded fonts when the system has none.
FONT_DIRS = [p for p in (Path("/usr/share/fonts/truetype/dejavu"),) if p.is_dir()]
# The VAT breakdown's columns (the last one, the exemption's wording, wraps).
GROUP_HEADER = ("TVA", "Taux", "Base HT", "Montant TVA", "Mention")
GROUP_NUMERIC = (1, 2, 3)


def _fr_date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _last_day(end: dt.date | None) -> str:
    return _fr_date(end - dt.timedelta(days=1)) if end else ""


def _money(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return ""
    quantum = Decimal(1).scaleb(-places)
    text = f"{abs(value).quantize(quantum):,f}".replace(",", "\u202f").replace(".", ",")
    return ("-" if value < 0 else "") + text


def _qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def layout_data(invoice: Invoice, lines: list[InvoiceLine], preceding: Invoice | None) -> str:
    """The values the template prints, as JSON (French formatting done here)."""
    return json.dumps(layout_values(invoice, lines, preceding), ensure_ascii=False)


def layout_values(
    invoice: Invoice, lines: list[InvoiceLine], preceding: Invoice | None
) -> dict[str, Any]:
    """The values the page prints, every one a formatted string (French formatting)."""
    parties = json.loads(invoice.parties)
    notes = json.loads(invoice.notes)
    totals = compute_totals(
        [TaxableLine(x.net_amount, x.vat_category, x.vat_rate) for x in lines],
        prepaid=invoice.prepaid_amount,
    )
    if totals.grand_total != invoice.grand_total:
        raise ValueError(f"{invoice.number}: stored total differs from its lines")
    credit = invoice.kind == "credit_note"
    kind = "Avoir" if credit else "Facture"
    seller, buyer = parties["seller"], parties["buyer"]
    currency = invoice.currency
    ident = ""
    if seller.get("siren"):
        ident = f"SIREN {seller['siren']} — "
    elif seller.get("company_id") and seller.get("country") == "BE":
        ident = f"N° d'entreprise (BCE) {seller['company_id']} — "
    seller_lines = [
        seller.get("address") or "",
        f"{seller.get('postcode') or ''} {seller.get('city') or ''} ({seller['country']})",
        f"{ident}TVA {seller.get('vat_number') or ''}",
        seller.get("legal_form") or "",
        seller.get("email") or "",
    ]
    buyer_lines = [
        buyer.get("address") or "",
        buyer.get("line2") or "",
        f"{buyer.get('postcode') or ''} {buyer.get('city') or ''}".strip(),
        buyer.get("region") or "",
        buyer["country"],
        f"N° TVA : {buyer['vat_number']}" if buyer.get("vat_number") else "",
        buyer.get("email") or "",
    ]
    meta: list[tuple[str, str, bool]] = [("Date d'émission", _fr_date(invoice.issue_date), True)]
    if invoice.period_start:
        meta.append(
            (
                "Période facturée",
                f"du {_fr_date(invoice.period_start)} au {_last_day(invoice.period_end)}",
                False,
            )
        )
    if invoice.due_date:
        meta.append(("Date d'échéance", _fr_date(invoice.due_date), True))
    if preceding is not None:
        meta.append(
            (
                "Facture rectifiée",
                f"{preceding.number} du {_fr_date(preceding.issue_date)}",
                False,
            )
        )
    meta.append(("Contrat", f"{invoice.contract_id} ({invoice.offer_id})", False))
    mandate = _mandate(invoice)
    if mandate:
        meta.append(("Mandat SEPA", f"{mandate} — ICS {seller.get('creditor_id') or ''}", False))
    ttc = invoice.prices_include_vat
    header = ["Désignation", "Période", "Qté", "PU HT", "TVA", "Montant HT"]
    if ttc:
        header.append("Montant TTC")
    rows = []
    for line in lines:
        period = (
            f"{_fr_date(line.period_start)} – {_last_day(line.period_end)}"
            if line.period_start
            else ""
        )
        row = [
            line.description,
            period,
            _qty(line.quantity),
            _money(line.unit_price, 4),
            f"{line.vat_category} {_qty(line.vat_rate)} %",
            _money(line.net_amount),
        ]
        if ttc:
            row.append(_money(line.gross_amount) if line.gross_amount is not None else "")
        rows.append(row)
    numeric = list(range(2, len(header)))
    groups = [
        [
            g.category,
            f"{_qty(g.rate)} %",
            _money(g.basis),
            _money(g.tax),
            g.exemption[1] if g.exemption else "",
        ]
        for g in totals.groups
    ]
    total_rows: list[tuple[str, str, bool]] = [
        ("Total HT", f"{_money(totals.tax_basis)} {currency}", False),
        ("Total TVA", f"{_money(totals.tax_total)} {currency}", False),
        ("Total TTC", f"{_money(totals.grand_total)} {currency}", True),
    ]
    if totals.prepaid > 0:
        # 001 §4.6 (i): a deducted deposit invoice (BG-3) is an advance, paid or not.
        paid = "Acompte déduit" if "<ram:InvoiceReferencedDocument>" in invoice.xml else "Déjà payé"
        total_rows.append((paid, f"{_money(totals.prepaid)} {currency}", False))
    total_rows.append(
        (
            "Montant de l'avoir" if credit else "Net à payer",
            f"{_money(totals.due_payable)} {currency}",
            True,
        )
    )
    printed: list[tuple[str, str]] = [("Conditions de paiement :", notes["payment_terms"])]
    if invoice.payment_means == "transfer":
        reference = transfer_reference(invoice)
        printed.append(
            (
                "",
                f"Virement : IBAN {seller.get('iban') or ''} — BIC {seller.get('bic') or ''}"
                f" — référence {reference}",
            )
        )
    printed.extend(("", text) for _code, text in notes["notes"])
    printed.append(
        (
            "",
            "Facture électronique Factur-X (EN 16931) : les données structurées jointes "
            "à ce PDF font foi.",
        )
    )
    data = {
        "title": document_title(invoice.kind, invoice.xml),
        "number": invoice.number,
        "seller": {"name": seller["name"], "lines": [x for x in seller_lines if x.strip()]},
        "buyer": {"name": buyer["name"], "lines": [x for x in buyer_lines if x]},
        "meta": meta,
        "line_header": header,
        # The description takes what is left; the other columns fit their content.
        "line_columns": ["1fr"] + ["auto"] * (len(header) - 1),
        "line_numeric": numeric,
        "lines": rows,
        # Where each cell goes when rows are placed rather than a ``table`` (``typeset``).
        "line_cells": typeset.placed(header, rows, numeric),
        "groups": groups,
        "group_header": GROUP_HEADER,
        "group_numeric": GROUP_NUMERIC,
        "group_cells": typeset.placed(GROUP_HEADER, groups, GROUP_NUMERIC, fill=4),
        "totals": total_rows,
        "notes": printed,
        # The Info/XMP values the library's embedding wrote (title, author, subject,
        # keywords), so that readers list the document as before.
        "document": {
            "title": f"{seller['name']} : {kind} {invoice.number}",
            "author": seller["name"],
            "subject": f"{kind} {invoice.number} émise par {seller['name']}",
            "keywords": ["Factur-X", kind],
        },
    }
    return data


def transfer_reference(invoice: Invoice) -> str:
    """The reference a transfer paying ``invoice`` carries: its RF creditor reference
    when the XML states one (BT-83), printed in groups of four (ISO 11649), else the
    invoice number."""
    marker = "<ram:PaymentReference>"
    if marker in invoice.xml:
        stated = invoice.xml.split(marker, 1)[1].split("<", 1)[0]
        return references.grouped(stated) if stated.startswith("RF") else stated
    return invoice.number


def _mandate(invoice: Invoice) -> str | None:
    if invoice.payment_means != "direct_debit":
        return None
    marker = "<ram:DirectDebitMandateID>"
    if marker not in invoice.xml:
        return None
    return invoice.xml.split(marker, 1)[1].split("<", 1)[0]


_local = threading.local()


def _compiler() -> typst.Compiler:
    """This thread's compiler (the template parsed and the fonts scanned once)."""
    compiler = getattr(_local, "compiler", None)
    if compiler is None:
        fonts: list[str] = [str(p) for p in FONT_DIRS]
        compiler = typst.Compiler(str(TEMPLATE), root=str(TEMPLATES), font_paths=fonts)
        _local.compiler = compiler
    return compiler


_PAGE_COUNT = re.compile(rb"/Type/Pages/Count (\d+)")


def layout_pdf(data: str, xml: str | None = None) -> bytes:
    """Typst's PDF/A-3b of the template filled with ``data`` (fonts embedded), with
    ``xml`` attached as factur-x.xml when given (no Factur-X XMP yet).

    The footer's "page k / n" takes n from the inputs: one page is guessed, and the
    document compiled again with its real count when it has more (the footer's height
    does not depend on n, so neither does the count). That second compilation lays the
    line table out as a Typst ``table`` (``long``), whose header repeats on each page;
    it may take another page or one less than the placed rows, so its count is read
    again and, if it moved, compiled a third time."""
    inputs = {"data": data, "pages": "1"}
    if xml is not None:
        inputs["xml"] = xml
    out = _compile(inputs)
    pages = _pages(out)
    if pages != "1":
        inputs |= {"long": "1", "pages": pages}
        out = _compile(inputs)
        if _pages(out) != pages:
            inputs["pages"] = pages = _pages(out)
            out = _compile(inputs)
            if _pages(out) != pages:
                raise ValueError("the page count changed between two compilations")
    return out


def _pages(pdf: bytes) -> str:
    found = _PAGE_COUNT.search(pdf)
    if found is None:
        raise ValueError("Typst wrote no page tree")
    return found[1].decode()


def _compile(inputs: dict[str, str]) -> bytes:
    out = _compiler().compile(
        format="pdf",
        sys_inputs=inputs,
        pdf_standards="a-3b",
        timestamp=utc_now().replace(microsecond=0),
        # PDF/A-3b needs no structure tree; the tags made the factur-x library's
        # rewrite 38 ms against 9 (``embed_xml``) and lengthen the compile.
        pdf_tags=False,
    )
    assert isinstance(out, bytes)
    return out


def _schema() -> etree.XMLSchema:
    """This thread's EN16931 schema, the factur-x library's own XSD files parsed once
    (the library re-reads and re-parses them on every check: ~2 ms an invoice). One a
    thread, as the compiler: lxml validators are not shared across threads."""
    schema = getattr(_local, "schema", None)
    if schema is None:
        path = resources.files(facturx_lib).joinpath(
            f"xsd_and_schematron/{facturx_lib.facturx.FACTURX_LEVEL2xsd['en16931']}"
        )
        schema = etree.XMLSchema(file=str(path))
        _local.schema = schema
    return schema


def check_xsd(xml: str) -> None:
    """The ``facturx`` library's XSD check of the EN16931 profile (its own XSD files,
    what ``facturx.xml_check_xsd`` does), before the XML is attached: ``ValueError``
    when invalid, with the library's messages (it raises a bare ``Exception``)."""
    try:
        tree = etree.fromstring(xml.encode("utf-8"))
    except Exception as error:
        raise ValueError(
            "the XML fails the Factur-X EN16931 XSD: "
            f"The file to check is not a valid XML file. Error: {error}"
        ) from error
    try:
        _schema().assertValid(tree)
    except Exception as error:  # the library catches any error of the validation
        raise ValueError(
            "the XML fails the Factur-X EN16931 XSD: The Factur-x XML file is not valid "
            "against the official XML Schema Definition. Here is the error, which may "
            f"give you an idea on the cause of the problem: {error}."
        ) from error


def embed_xml(pdf: bytes, xml: str, number: str, seller: str, credit: bool) -> bytes:
    """The ``facturx`` library's own embedding (``generate_from_binary``): ``pdf``
    (without attachment) rewritten by pypdf with ``xml`` attached as factur-x.xml, XMP
    metadata of the EN16931 profile, XSD checked. No longer used by ``render`` (14–18 ms
    an invoice); kept as the reference the tests compare ``render``'s metadata to, and
    as the benchmark's baseline."""
    kind = "Avoir" if credit else "Facture"
    out: bytes = facturx_lib.generate_from_binary(
        pdf,
        xml.encode("utf-8"),
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang="fr-FR",
        pdf_metadata={
            "author": seller,
            "keywords": f"Factur-X, {kind}",
            "title": f"{seller} : {kind} {number}",
            "subject": f"{kind} {number} émise par {seller}",
        },
    )
    return out


def render(
    invoice: Invoice,
    lines: list[InvoiceLine],
    preceding: Invoice | None,
    *,
    with_typst: bool = False,
) -> bytes:
    """The Factur-X PDF/A-3 of a stored document, the XML checked against the XSD first.
    A one-page document is drawn and written directly (``drawing``, ``pdfa``: under a
    millisecond against Typst's 10–12); any other (more than a page, a character
    outside the embedded fonts' repertoire, tables too wide), or ``with_typst=True``, is laid
    out and attached by Typst, the Factur-X XMP appended."""
    check_xsd(invoice.xml)
    values = layout_values(invoice, lines, preceding)
    content = None if with_typst else drawing.draw(values)
    if content is not None:
        document = values["document"]
        return pdfa.write(
            content,
            invoice.xml.encode("utf-8"),
            title=document["title"],
            author=document["author"],
            subject=document["subject"],
            keywords=", ".join(document["keywords"]),
            at=utc_now().replace(microsecond=0),
        )
    pdf = layout_pdf(json.dumps(values, ensure_ascii=False), invoice.xml)
    return embedding.add_facturx_xmp(pdf)


def _load(session: Session, invoice_id: str) -> tuple[Invoice, list[InvoiceLine], Invoice | None]:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("no such invoice")
    lines = list(
        session.execute(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        ).scalars()
    )
    preceding = session.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    return invoice, lines, preceding


def _insert_documents(session: Session) -> Any:
    """INSERT of stored PDFs where the first one stored wins (two renderings at once)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(InvoiceDocument).on_conflict_do_nothing(index_elements=["invoice_id"])


def _document_rows(datas: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        {"invoice_id": i, "pdf": data, "sha256": hashlib.sha256(data).hexdigest()}
        for i, data in datas.items()
    ]


def _store(session: Session, invoice_id: str, data: bytes) -> bytes:
    session.execute(_insert_documents(session), _document_rows({invoice_id: data}))
    stored = session.execute(
        select(InvoiceDocument.pdf).where(InvoiceDocument.invoice_id == invoice_id)
    ).scalar_one()
    return bytes(stored)


def stored_pdf(session: Session, invoice: Invoice) -> bytes:
    """The document's PDF inside the caller's transaction: the stored one, or rendered
    now and stored (first wins when two render at once). Rendering takes a few hundred
    milliseconds, during which the transaction stays open: edges use ``render_stored``."""
    found = session.get(InvoiceDocument, invoice.id)
    if found is not None:
        return bytes(found.pdf)
    return _store(session, invoice.id, render(*_load(session, invoice.id)))


def render_stored(database: Database, invoice_id: str) -> bytes:
    """The document's PDF, rendered outside any transaction (SQLite writers are not
    held up by the layout) and stored once; the stored one when it exists."""
    with database.unit() as session:
        found = session.get(InvoiceDocument, invoice_id)
        if found is not None:
            return bytes(found.pdf)
        loaded = _load(session, invoice_id)
    data = render(*loaded)
    with database.unit() as session:
        return _store(session, invoice_id, data)


def render_many(database: Database, invoice_ids: list[str], batch: int = 100) -> int:
    """Render and store the PDFs of ``invoice_ids`` not stored yet, ``batch`` at a time:
    one read transaction loads a batch, the layout runs outside any transaction, one
    write transaction stores it (so SQLite's single writer is taken once per batch, not
    once per document). Returns how many were rendered here. For the worker processes
    that render a run's documents ahead of their e-mails (``bench/invoicing.py``)."""
    rendered = 0
    for start in range(0, len(invoice_ids), batch):
        chunk = invoice_ids[start : start + batch]
        with database.unit() as session:
            done = set(
                session.execute(
                    select(InvoiceDocument.invoice_id).where(InvoiceDocument.invoice_id.in_(chunk))
                ).scalars()
            )
            invoices = {
                x.id: x
                for x in session.execute(
                    select(Invoice).where(Invoice.id.in_([i for i in chunk if i not in done]))
                ).scalars()
            }
            lines: dict[str, list[InvoiceLine]] = {i: [] for i in invoices}
            for line in session.execute(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id.in_(list(invoices)))
                .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
            ).scalars():
                lines[line.invoice_id].append(line)
            preceding = {
                i: session.get(Invoice, x.corrects_id) if x.corrects_id else None
                for i, x in invoices.items()
            }
            session.expunge_all()
        missing = set(chunk) - done - set(invoices)
        if missing:
            raise NotFound(f"no such invoice: {sorted(missing)[0]}")
        datas = {i: render(x, lines[i], preceding[i]) for i, x in invoices.items()}
        if datas:
            with database.unit() as session:  # one statement for the batch
                session.execute(_insert_documents(session), _document_rows(datas))
        rendered += len(datas)
    return rendered


def _attachment(database: Database, ref: dict[str, str]) -> tuple[bytes, str, str]:
    return render_stored(database, ref["invoice_id"]), "application", "pdf"


# The invoice e-mail (004 §8.2) carries this PDF: notices read it through this loader.
attachments.register("invoice_pdf", _attachment)
