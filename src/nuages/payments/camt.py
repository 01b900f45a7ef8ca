"""Reading ISO 20022 bank statements (CAMT.053 and CAMT.054 entries), safely: lxml with
no DTD, no entities, no network. Shared by the prepaid reconciliation (``billing.camt``)
and the statement import (``payments.statements``). Every version of the schema (and
namespace) reads the same: nodes are walked by local name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree
from stdnum import iso11649

from nuages.kernel.errors import ValidationFailed
from nuages.kernel.settings import get_settings

RF_REFERENCE = re.compile(r"RF\d{2}(?: ?[A-Z0-9]){1,25}")


def max_statement_bytes() -> int:
    """The largest statement file read (``NUAGES_MAX_STATEMENT_BYTES``, default 20 MiB):
    the same bound as the API's body limit for statements, so a file the route let in
    is never refused by the reader for its size."""
    return get_settings().max_statement_bytes


@dataclass(frozen=True)
class StatementLine:
    """One booked entry of a statement, with what reconciliation needs."""

    bank_reference: str
    amount: Decimal
    currency: str
    credit: bool
    booked: bool
    remittance: str
    end_to_end_id: str | None
    return_reason: str | None
    booking_date: str | None
    # Every transaction detail's end-to-end id (a batch booking carries several).
    end_to_end_ids: tuple[str, ...] = ()


def local(tag: object) -> str:
    """The local name of an element's tag (no namespace)."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def find(node: etree._Element, path: str) -> etree._Element | None:
    """The node at a ``/``-separated path of local names, or None."""
    # Walk by local names so every camt.053 version (and namespace) reads the same.
    current: etree._Element | None = node
    for step in path.split("/"):
        if current is None:
            return None
        current = next((c for c in current if local(c.tag) == step), None)
    return current


def text(node: etree._Element, path: str) -> str | None:
    """The stripped text at a path, or None when absent or empty."""
    found = find(node, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def children(node: etree._Element, name: str) -> list[etree._Element]:
    """The direct children with a local name."""
    return [c for c in node if local(c.tag) == name]


def line(entry: etree._Element) -> StatementLine:
    """One ``Ntry`` read into a ``StatementLine`` (422 on a missing or bad amount)."""
    amount_node = find(entry, "Amt")
    if amount_node is None or amount_node.text is None:
        raise ValidationFailed("statement: an entry has no amount")
    try:
        amount = Decimal(amount_node.text.strip())
    except InvalidOperation:
        raise ValidationFailed(f"statement: bad amount {amount_node.text!r}") from None
    tx = find(entry, "NtryDtls/TxDtls")
    status = text(entry, "Sts/Cd") or text(entry, "Sts") or ""
    reference = (
        text(entry, "AcctSvcrRef") or (tx is not None and text(tx, "Refs/AcctSvcrRef")) or ""
    )
    remittance = ""
    end_to_end = reason = None
    if tx is not None:
        info = find(tx, "RmtInf")
        unstructured = children(info, "Ustrd") if info is not None else []
        parts = [
            text(tx, "RmtInf/Strd/CdtrRefInf/Ref") or "",
            *[(u.text or "").strip() for u in unstructured],
        ]
        remittance = " ".join(p for p in parts if p)
        end_to_end = text(tx, "Refs/EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        reason = text(tx, "RtrInf/Rsn/Cd")
    details = find(entry, "NtryDtls")
    ids = [
        found
        for detail in (children(details, "TxDtls") if details is not None else [])
        if (found := text(detail, "Refs/EndToEndId")) not in (None, "NOTPROVIDED")
    ]
    return StatementLine(
        bank_reference=reference,
        amount=amount,
        currency=amount_node.get("Ccy", ""),
        credit=text(entry, "CdtDbtInd") == "CRDT",
        booked=status == "BOOK",
        remittance=remittance,
        end_to_end_id=end_to_end,
        return_reason=reason,
        booking_date=text(entry, "BookgDt/Dt") or text(entry, "BookgDt/DtTm"),
        end_to_end_ids=tuple(i for i in ids if i is not None),
    )


def payment_references_in(text: str) -> list[str]:
    """The ISO 11649 references a payer may have meant in remittance text, longest
    first: references are often typed in groups of four, and followed by more words,
    so every prefix with valid check digits is a candidate."""
    found = []
    for match in RF_REFERENCE.finditer(text.upper()):
        compact = "".join(match.group(0).split())
        for end in range(len(compact), 4, -1):
            if iso11649.is_valid(compact[:end]):
                found.append(compact[:end])
    return found
