"""The readable document: French HTML → PDF/A-3 (WeasyPrint) with the CII XML embedded
as ``factur-x.xml`` by the ``facturx`` library (profile EN16931).

The PDF is rendered from the stored document (its rows and its XML, never recomputed
prices), once: the first rendering is stored (``InvoiceDocument``) and served ever after.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import facturx as facturx_lib
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nuages.invoicing.models import Invoice, InvoiceDocument, InvoiceLine
from nuages.invoicing.vat import TaxableLine, compute_totals
from nuages.kernel.db import Database
from nuages.kernel.errors import NotFound
from nuages.notices import attachments

TEMPLATES = Path(__file__).resolve().parent / "templates"


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


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    env.filters.update(fr_date=_fr_date, last_day=_last_day, money=_money, qty=_qty)
    return env


def render_html(invoice: Invoice, lines: list[InvoiceLine], preceding: Invoice | None) -> str:
    """The French HTML of a stored document."""
    parties = json.loads(invoice.parties)
    notes = json.loads(invoice.notes)
    totals = compute_totals(
        [TaxableLine(x.net_amount, x.vat_category, x.vat_rate) for x in lines],
        prepaid=invoice.prepaid_amount,
    )
    if totals.grand_total != invoice.grand_total:
        raise ValueError(f"{invoice.number}: stored total differs from its lines")
    credit = invoice.kind == "credit_note"
    context: dict[str, Any] = {
        "title": "Avoir" if credit else "Facture",
        "credit": credit,
        "invoice": invoice,
        "seller": parties["seller"],
        "buyer": parties["buyer"],
        "lines": lines,
        "totals": totals,
        "notes": notes["notes"],
        "payment_terms": notes["payment_terms"],
        "ttc": invoice.prices_include_vat,
        "preceding": preceding,
        "mandate": _mandate(invoice),
    }
    return _environment().get_template("invoice.html").render(**context)


def _mandate(invoice: Invoice) -> str | None:
    if invoice.payment_means != "direct_debit":
        return None
    marker = "<ram:DirectDebitMandateID>"
    if marker not in invoice.xml:
        return None
    return invoice.xml.split(marker, 1)[1].split("<", 1)[0]


def html_to_pdfa(html: str) -> bytes:
    """WeasyPrint's PDF/A-3b rendering of ``html`` (fonts embedded)."""
    from weasyprint import HTML

    data: bytes = HTML(string=html, base_url=str(TEMPLATES)).write_pdf(pdf_variant="pdf/a-3b")
    return data


def embed_xml(pdf: bytes, xml: str, number: str, seller: str, credit: bool) -> bytes:
    """The Factur-X PDF: ``pdf`` with ``xml`` attached as factur-x.xml, XMP metadata of
    the EN16931 profile, XSD checked by the library."""
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


def render(invoice: Invoice, lines: list[InvoiceLine], preceding: Invoice | None) -> bytes:
    """The Factur-X PDF/A-3 of a stored document."""
    seller = json.loads(invoice.parties)["seller"]["name"]
    pdf = html_to_pdfa(render_html(invoice, lines, preceding))
    return embed_xml(pdf, invoice.xml, invoice.number, seller, invoice.kind == "credit_note")


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


def _store(session: Session, invoice_id: str, data: bytes) -> bytes:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(InvoiceDocument)
        .values(invoice_id=invoice_id, pdf=data, sha256=hashlib.sha256(data).hexdigest())
        .on_conflict_do_nothing(index_elements=["invoice_id"])
    )
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


def _attachment(database: Database, ref: dict[str, str]) -> tuple[bytes, str, str]:
    return render_stored(database, ref["invoice_id"]), "application", "pdf"


# The invoice e-mail (004 §8.2) carries this PDF: notices read it through this loader.
attachments.register("invoice_pdf", _attachment)
