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

from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.billing import ledger, schemas, sepa, topups
from nuages.billing.models import BillingAccount, DirectDebit
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.errors import NuagesError, ValidationFailed
from nuages.payments import camt

UnitOfWork = Callable[[], AbstractContextManager[Session]]
StatementLine = camt.StatementLine
payment_references_in = camt.payment_references_in
# The readers live in payments.camt (shared with the invoices' statement import).
_local, _find, _children, _line = camt.local, camt.find, camt.children, camt.line


def parse(data: bytes) -> list[StatementLine]:
    """The entries of a CAMT.053 statement; 422 on anything that is not one."""
    if len(data) > camt.max_statement_bytes():
        raise ValidationFailed("statement: too large (NUAGES_MAX_STATEMENT_BYTES)")
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
                outcome = reconcile_line(session, registry, line, who)
        except NuagesError as exc:
            outcome = f"unmatched: {exc.detail}"
        kind, _, why = outcome.partition(": ")
        getattr(report, kind).append(f"{label}: {why}" if why else label)
    return report


def reconcile_line(
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
