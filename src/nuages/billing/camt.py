"""Bank statements (ISO 20022 CAMT.053): reconciling transfers and returned debits.

``parse`` reads the booked entries of a statement (camt.053.001.02 to .08, namespace
aside) with lxml, safely: no DTD, no entities, no network. ``import_statement`` then:

- credits each incoming transfer whose remittance information carries an account's
  ISO 11649 payment reference ("RF…"), once: the key is the bank's own reference of
  the entry (AcctSvcrRef), shared with transfers staff record by hand;
- settles each collected direct debit: a booked credit whose transaction details name
  the end-to-end ids of collections sent in a batch (one entry per collection, or one
  batch booking with a detail per collection) is credited to their accounts, once each,
  when the amounts agree;
- records each returned direct debit (an entry with return information naming the
  collection's end-to-end id), reversed only if it had been settled;
- reports every other line as unmatched, for staff to look at; nothing is guessed.

Each line is handled in its own transaction: one bad line never undoes the others, and
importing the same statement again changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iso11649

from nuages.billing import ledger, schemas, sepa, topups
from nuages.billing.models import BillingAccount, DirectDebit
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.errors import NuagesError, ValidationFailed

UnitOfWork = Callable[[], AbstractContextManager[Session]]
RF_REFERENCE = re.compile(r"RF\d{2}(?: ?[A-Z0-9]){1,25}")
MAX_STATEMENT_BYTES = 20_000_000


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


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find(node: etree._Element, path: str) -> etree._Element | None:
    # Walk by local names so every camt.053 version (and namespace) reads the same.
    current: etree._Element | None = node
    for step in path.split("/"):
        if current is None:
            return None
        current = next((c for c in current if _local(c.tag) == step), None)
    return current


def _text(node: etree._Element, path: str) -> str | None:
    found = _find(node, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if _local(c.tag) == name]


def parse(data: bytes) -> list[StatementLine]:
    """The entries of a CAMT.053 statement; 422 on anything that is not one."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise ValidationFailed("statement: too large")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"statement: not well-formed XML ({exc})") from None
    statement_root = _find(root, "BkToCstmrStmt")
    if _local(root.tag) != "Document" or statement_root is None:
        raise ValidationFailed("statement: not a CAMT.053 document (BkToCstmrStmt)")
    lines = []
    for statement in _children(statement_root, "Stmt"):
        for entry in _children(statement, "Ntry"):
            lines.append(_line(entry))
    return lines


def _line(entry: etree._Element) -> StatementLine:
    amount_node = _find(entry, "Amt")
    if amount_node is None or amount_node.text is None:
        raise ValidationFailed("statement: an entry has no amount")
    try:
        amount = Decimal(amount_node.text.strip())
    except InvalidOperation:
        raise ValidationFailed(f"statement: bad amount {amount_node.text!r}") from None
    tx = _find(entry, "NtryDtls/TxDtls")
    status = _text(entry, "Sts/Cd") or _text(entry, "Sts") or ""
    reference = (
        _text(entry, "AcctSvcrRef") or (tx is not None and _text(tx, "Refs/AcctSvcrRef")) or ""
    )
    remittance = ""
    end_to_end = reason = None
    if tx is not None:
        info = _find(tx, "RmtInf")
        unstructured = _children(info, "Ustrd") if info is not None else []
        parts = [
            _text(tx, "RmtInf/Strd/CdtrRefInf/Ref") or "",
            *[(u.text or "").strip() for u in unstructured],
        ]
        remittance = " ".join(p for p in parts if p)
        end_to_end = _text(tx, "Refs/EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        reason = _text(tx, "RtrInf/Rsn/Cd")
    details = _find(entry, "NtryDtls")
    ids = [
        found
        for detail in (_children(details, "TxDtls") if details is not None else [])
        if (found := _text(detail, "Refs/EndToEndId")) not in (None, "NOTPROVIDED")
    ]
    return StatementLine(
        bank_reference=reference,
        amount=amount,
        currency=amount_node.get("Ccy", ""),
        credit=_text(entry, "CdtDbtInd") == "CRDT",
        booked=status == "BOOK",
        remittance=remittance,
        end_to_end_id=end_to_end,
        return_reason=reason,
        booking_date=_text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm"),
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


def import_statement(
    unit: UnitOfWork,
    registry: OfferRegistry,
    data: bytes,
    who: Actor,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> schemas.StatementReport:
    """Reconcile a CAMT.053 statement against the accounts and direct debits (each line
    in its own transaction; ``progress(done, total, step)`` is told each line)."""
    report = schemas.StatementReport()
    parsed = parse(data)
    for done, line in enumerate(parsed):
        if progress is not None:
            progress(done, len(parsed), line.bank_reference or "")
        label = f"{line.bank_reference or '?'} {line.amount} {line.currency}"
        if not line.booked:
            report.unmatched.append(f"{label}: not booked")
            continue
        try:
            with unit() as session:
                outcome = _reconcile(session, registry, line, who)
        except NuagesError as exc:
            outcome = f"unmatched: {exc.detail}"
        kind, _, why = outcome.partition(": ")
        getattr(report, kind).append(f"{label}: {why}" if why else label)
    return report


def _reconcile(
    session: Session,
    registry: OfferRegistry,
    line: StatementLine,
    who: Actor,
) -> str:
    if line.return_reason is not None or (not line.credit and line.end_to_end_id):
        if line.end_to_end_id is None:
            return "unmatched: a return without an end-to-end id"
        _debit, reversed_now = sepa.record_return(
            session,
            who,
            registry,
            line.end_to_end_id,
            line.return_reason or "RTRN",
        )
        return "returns" if reversed_now else "duplicates: return already recorded"
    if not line.credit:
        return "unmatched: a debit that is not a returned collection"
    collected = _collections(session, line)
    if collected:
        return _settle_collections(session, registry, line, collected, who)
    if not line.bank_reference:
        return "unmatched: no bank reference (AcctSvcrRef)"
    references = payment_references_in(line.remittance)
    if not references:
        return "unmatched: no RF payment reference in the remittance information"
    account = next(
        (
            found
            for found in (
                session.execute(
                    select(BillingAccount).where(BillingAccount.payment_reference == ref)
                ).scalar_one_or_none()
                for ref in references
            )
            if found is not None
        ),
        None,
    )
    if account is None:
        return f"unmatched: no account has the reference {references[0]}"
    contract = session.get(Contract, account.contract_id)
    assert contract is not None
    account, offer = ledger.account_for(session, registry, contract, lock=True)
    topups.check_means(offer, "transfer")
    topups.check_currency(account, line.currency)
    if line.amount <= 0:
        return "unmatched: not a positive amount"
    _entry, created = topups.credit_topup(
        session,
        registry,
        contract,
        account,
        amount=line.amount,
        key=topups.transfer_key(line.bank_reference),
        reference=line.bank_reference,
        description=f"bank transfer booked {line.booking_date or ''}".strip(),
        who=who,
        means="transfer",
    )
    return f"credited: {contract.id}" if created else "duplicates: already credited"


def _collections(session: Session, line: StatementLine) -> list[DirectDebit]:
    """The direct debits a credit line names by end-to-end id (none: not a collection)."""
    if not line.end_to_end_ids:
        return []
    return list(
        session.execute(
            select(DirectDebit).where(DirectDebit.end_to_end_id.in_(line.end_to_end_ids))
        ).scalars()
    )


def _settle_collections(
    session: Session,
    registry: OfferRegistry,
    line: StatementLine,
    debits: list[DirectDebit],
    who: Actor,
) -> str:
    # The booked amount must be exactly what the collections named add up to: a partial
    # or unknown booking is for staff to look at, never credited by guess.
    if len(debits) != len(set(line.end_to_end_ids)):
        return "unmatched: names end-to-end ids that are not all direct debits of ours"
    total = sum((d.amount for d in debits), Decimal(0))
    if total != line.amount or any(d.currency != line.currency for d in debits):
        return f"unmatched: booked {line.amount} {line.currency}, the collections are {total}"
    settled = [sepa.settle(session, who, registry, d.end_to_end_id)[1] for d in debits]
    if not any(settled):
        return "duplicates: collection already settled"
    return f"settled: {', '.join(d.end_to_end_id for d in debits)}"
