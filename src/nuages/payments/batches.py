"""The one pain.008.001.02 builder, for prepaid top-ups (``billing.sepa``) and invoices
(``invoicing.sepa``).

A caller hands in its collections (``Collection``: the mandate, amount, end-to-end id,
text) and the creditor; ``write`` builds the file with ``sepaxml``, adds each amended
mandate's ``AmdmntInd``/``AmdmntInfDtls`` (SEPA Core rulebook AT-24: ``OrgnlMndtId`` for
a new reference; ``OrgnlDbtrAcct`` with the old IBAN for a new account at the same bank,
or ``SMNDA`` for a new bank, sent FRST), validates it against the ISO 20022 schema,
keeps it as a ``DirectDebitBatch`` and moves each mandate on (``mandates.after_collection``);
``prenotify`` then tells each debtor through the notices slice. A debit the file cannot hold is
left out with the reason (issue 17.2); the others go on.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sepaxml
from lxml import etree
from sepaxml import SepaDD
from sqlalchemy.orm import Session

from nuages.history.service import Actor
from nuages.kernel import pain008
from nuages.kernel.clock import utc_now
from nuages.notices import announce
from nuages.payments import mandates
from nuages.payments.models import DirectDebitBatch, Mandate

SCHEMA = "pain.008.001.02"
NS = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"
K = TypeVar("K")


def sepa_text(text: str, size: int) -> str:
    """Text in the SEPA character set: letters, digits and / - ? : ( ) . , ' + space."""
    return re.sub(r"[^A-Za-z0-9/\-?:().,'+ ]", "-", text)[:size]


@dataclass
class Collection(Generic[K]):
    """One debit to collect. ``key`` is the caller's own (its debit row); ``notice`` is
    what the pre-notification reads (id, client_id, contract_id, amount, currency,
    collection_date)."""

    key: K
    mandate: Mandate
    amount: Decimal
    end_to_end_id: str
    description: str
    debtor_name: str
    notice: Any = None
    sequence_type: str = ""  # set by ``write``


@dataclass
class Written(Generic[K]):
    """What ``write`` made: the batch (None when no debit could go), the collections it
    holds (their ``sequence_type`` set) and the ones left out with the reason."""

    batch: DirectDebitBatch | None
    collected: list[Collection[K]]
    refused: list[tuple[Collection[K], str]]


def _amendment(mandate: Mandate) -> etree._Element | None:
    if not (mandate.original_reference or mandate.original_iban or mandate.original_bic):
        return None
    details = etree.Element(f"{{{NS}}}AmdmntInfDtls")
    if mandate.original_reference:
        etree.SubElement(details, f"{{{NS}}}OrgnlMndtId").text = mandate.original_reference
    if mandate.original_bic or mandate.original_iban:
        account = etree.SubElement(details, f"{{{NS}}}OrgnlDbtrAcct")
        ident = etree.SubElement(account, f"{{{NS}}}Id")
        if mandate.original_bic:
            # Another bank: "Same Mandate, New Debtor Agent" (the old IBAN is not told).
            other = etree.SubElement(ident, f"{{{NS}}}Othr")
            etree.SubElement(other, f"{{{NS}}}Id").text = "SMNDA"
        else:
            etree.SubElement(ident, f"{{{NS}}}IBAN").text = mandate.original_iban
    return details


def with_amendments(xml: bytes, amended: dict[str, Mandate]) -> bytes:
    """The file with ``AmdmntInd`` true and the original data in each transaction whose
    end-to-end id is in ``amended``, validated against the pain.008.001.02 schema."""
    if not amended:
        return xml
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    for tx in root.iter(f"{{{NS}}}DrctDbtTxInf"):
        e2e = tx.findtext(f"{{{NS}}}PmtId/{{{NS}}}EndToEndId")
        mandate = amended.get(e2e or "")
        details = _amendment(mandate) if mandate is not None else None
        if details is None:
            continue
        info = tx.find(f"{{{NS}}}DrctDbtTx/{{{NS}}}MndtRltdInf")
        assert info is not None
        signed = info.find(f"{{{NS}}}DtOfSgntr")
        at = list(info).index(signed) + 1 if signed is not None else len(info)
        indicator = etree.Element(f"{{{NS}}}AmdmntInd")
        indicator.text = "true"
        info.insert(at, indicator)
        info.insert(at + 1, details)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    validate(out)
    return out


def validate(xml: bytes) -> None:
    """Raise unless ``xml`` is a valid pain.008.001.02 file (the schema ``sepaxml`` ships)."""
    import xmlschema  # imported late: it patches etree when loaded (as sepaxml does)

    path = os.path.join(os.path.dirname(sepaxml.__file__), "schemas", SCHEMA + ".xsd")
    xmlschema.XMLSchema(path).validate(xml.decode("utf-8"))


def write(
    session: Session,
    who: Actor,
    *,
    kind: str,
    creditor: Any,
    collection_date: dt.date,
    collections: Sequence[Collection[K]],
) -> Written[K]:
    """Build, validate and keep one pain.008 file for ``collections`` under ``creditor``
    (a ``sellers.identity.Seller``) and move their mandates on. The caller marks its
    own debit rows from ``Written.collected``, then calls ``prenotify``."""
    planned: list[tuple[Collection[K], dict[str, Any]]] = []
    first: dict[str, Collection[K]] = {}
    for item in collections:
        # The mandate's first collection of the file takes its sequence type (and its
        # amendment); a second one in the same file follows it as RCUR.
        leader = first.setdefault(item.mandate.id, item)
        item.sequence_type = mandates.sequence_type(item.mandate) if leader is item else "RCUR"
        planned.append(
            (
                item,
                {
                    "name": item.debtor_name,
                    "IBAN": item.mandate.iban,
                    "BIC": item.mandate.bic,
                    "amount": int((item.amount * 100).to_integral_value()),
                    "type": item.sequence_type,
                    "collection_date": collection_date,
                    "mandate_id": item.mandate.reference,
                    "mandate_date": item.mandate.signed_on,
                    "description": item.description,
                    "endtoend_id": item.end_to_end_id,
                },
            )
        )

    def new_file() -> SepaDD:
        return SepaDD(creditor.sepa_creditor(), schema=SCHEMA, clean=True)

    sepa, xml, collected, refused = pain008.split_exportable(new_file, planned)
    if sepa is None or xml is None or not collected:
        return Written(None, [], refused)
    leaders = {id(c) for c in first.values()}
    xml = with_amendments(xml, {c.end_to_end_id: c.mandate for c in collected if id(c) in leaders})
    message_id = str(sepa.msg_id)[:35]
    total = sum((c.amount for c in collected), Decimal(0))
    batch = DirectDebitBatch(
        id=message_id,
        message_id=message_id,
        kind=kind,
        seller_id=str(getattr(creditor, "id", ""))[:64],
        collection_date=collection_date,
        count=len(collected),
        total_cents=int((total * 100).to_integral_value()),
        xml=xml.decode("utf-8"),
        state="created",
        created_at=utc_now(),
    )
    session.add(batch)
    for item in collected:
        mandates.after_collection(item.mandate)
    session.flush()
    return Written(batch, collected, refused)


def prenotify(
    session: Session, who: Actor, creditor: Any, written: Written[K], today: dt.date
) -> None:
    """Pre-notify each debtor of a written file (SEPA rulebook: 14 calendar days ahead
    unless the mandate agreed less), once the caller marked its rows (the notice reads
    each ``Collection.notice``'s collection date)."""
    for item in written.collected:
        if item.notice is not None:
            announce.sepa_prenotification(
                session, who, item.notice, item.mandate, str(creditor.creditor_id), today
            )
