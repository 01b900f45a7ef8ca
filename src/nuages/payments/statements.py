"""Bank statements reconciled against both prepaid top-ups and invoices (issue 15).

One import for every credit and return the provider's bank reports: CAMT.053 (the day
statement) or CAMT.054 (the debit/credit notification some banks send instead), read
safely by ``payments.camt`` (no DTD, no entities, no network). Each booked line, in its
own transaction, goes to the reconciler the edge hands in (``invoicing.reconcile``:
returned invoice debits, invoice numbers and RF references, the prepaid side, then
amount and debtor; unmatched lines are left for staff with a suggestion).

A statement imported twice (same bytes) is recognised and books nothing; each line is
also booked under its own key, so a statement re-sent with other bytes books nothing
twice either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError, ValidationFailed
from nuages.payments import camt
from nuages.payments.models import Statement

UnitOfWork = Callable[[], AbstractContextManager[Session]]
ROOTS = {"BkToCstmrStmt": ("camt.053", "Stmt"), "BkToCstmrDbtCdtNtfctn": ("camt.054", "Ntfctn")}


@dataclass
class LineReport:
    """What one line of the statement did."""

    line: int
    bank_reference: str
    amount: str
    currency: str
    outcome: str  # paid | credited | settled | returned | duplicate | unmatched
    detail: str
    target: str = ""  # the invoice number or contract id booked
    suggestion: str = ""  # for staff, on an unmatched line


@dataclass
class Report:
    """A statement's import: its kind and message id, each line, and whether the same
    file had been imported before (then nothing was booked)."""

    kind: str
    message_id: str
    already_imported: bool = False
    lines: list[LineReport] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many lines ended each way."""
        out: dict[str, int] = {}
        for line in self.lines:
            out[line.outcome] = out.get(line.outcome, 0) + 1
        return out

    def as_dict(self) -> dict[str, object]:
        """The report as JSON data."""
        return {
            "kind": self.kind,
            "message_id": self.message_id,
            "already_imported": self.already_imported,
            "counts": self.counts(),
            "lines": [asdict(x) for x in self.lines],
        }


@dataclass(frozen=True)
class Line:
    """A statement line as read, with the debtor named on it."""

    parsed: camt.StatementLine
    debtor: str


# What booking one line did: (outcome, detail, target, suggestion).
Outcome = tuple[str, str, str, str]
# Books one line in the caller's transaction; handed in by the edges (the slices that
# own invoices and prepaid accounts sit above this one: ``invoicing.reconcile``).
Reconciler = Callable[[Session, OfferRegistry, Actor, Line], Outcome]


def _safe_root(data: bytes, max_bytes: int | None = None) -> etree._Element:
    limit = camt.max_statement_bytes() if max_bytes is None else max_bytes
    if len(data) > limit:
        raise ValidationFailed(
            f"statement: too large ({len(data)} bytes; at most {limit}, NUAGES_MAX_STATEMENT_BYTES)"
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"statement: not well-formed XML ({exc})") from None


def parse(data: bytes, max_bytes: int | None = None) -> tuple[str, str, list[Line]]:
    """(kind, message id, lines) of a CAMT.053 or CAMT.054 file; 422 naming the format
    for anything else (a CAMT.052, a pain file, an MT940 …), or a file larger than
    ``max_bytes`` (default: the ``max_statement_bytes`` setting)."""
    root = _safe_root(data, max_bytes)
    body = next((c for c in root if camt.local(c.tag) in ROOTS), None)
    if camt.local(root.tag) != "Document" or body is None:
        found = camt.local(body.tag if body is not None else (root[0].tag if len(root) else ""))
        raise ValidationFailed(
            f"statement: unknown format ({found or camt.local(root.tag)}); expected "
            "CAMT.053 (BkToCstmrStmt) or CAMT.054 (BkToCstmrDbtCdtNtfctn)"
        )
    kind, part = ROOTS[camt.local(body.tag)]
    message_id = camt.text(body, "GrpHdr/MsgId") or ""
    lines = []
    for report in camt.children(body, part):
        for entry in camt.children(report, "Ntry"):
            debtor = camt.text(entry, "NtryDtls/TxDtls/RltdPties/Dbtr/Nm") or ""
            lines.append(Line(camt.line(entry), debtor))
    return kind, message_id, lines


def import_statement(
    unit: UnitOfWork,
    registry: OfferRegistry,
    data: bytes,
    who: Actor,
    reconcile: Reconciler,
    progress: Callable[[int, int | None, str], None] | None = None,
    max_bytes: int | None = None,
) -> Report:
    """Reconcile a statement line by line (each line its own transaction), each line
    booked by ``reconcile``; larger than ``max_bytes`` (default: the
    ``max_statement_bytes`` setting): 422, nothing booked."""
    kind, message_id, lines = parse(data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    report = Report(kind=kind, message_id=message_id)
    with unit() as session:
        seen = session.execute(
            select(Statement).where(Statement.sha256 == digest)
        ).scalar_one_or_none()
        if seen is not None:
            previous = json.loads(seen.report)
            report.already_imported = True
            report.lines = [
                LineReport(**{**x, "outcome": "duplicate", "detail": "statement already imported"})
                for x in previous["lines"]
            ]
            return report
    for n, line in enumerate(lines, 1):
        if progress is not None:
            progress(n - 1, len(lines), line.parsed.bank_reference)
        report.lines.append(_one(unit, registry, who, reconcile, n, line))
    try:
        with unit() as session:
            session.add(
                Statement(
                    sha256=digest,
                    message_id=message_id[:140],
                    kind=kind,
                    imported_at=utc_now(),
                    actor_id=(who.id or who.label)[:64],
                    report=json.dumps(report.as_dict()),
                )
            )
            session.flush()
            history.record(
                session,
                who,
                object_type="statement",
                object_id=message_id[:64] or digest[:16],
                action="payments.statement.import",
                params={"kind": kind, "sha256": digest, "counts": report.counts()},
                scope="billing",
            )
    except IntegrityError:
        pass  # imported by someone else meanwhile: its lines were booked once anyway
    return report


def _one(
    unit: UnitOfWork,
    registry: OfferRegistry,
    who: Actor,
    reconcile: Reconciler,
    n: int,
    line: Line,
) -> LineReport:
    p = line.parsed
    out = LineReport(n, p.bank_reference, str(p.amount), p.currency, "unmatched", "")
    if not p.booked:
        out.detail = "not booked"
        return out
    try:
        with unit() as session:
            outcome, detail, target, suggestion = reconcile(session, registry, who, line)
    except NuagesError as exc:
        # Rolled back whole: nothing of this line is booked, the next lines go on.
        outcome, detail, target, suggestion = "unmatched", f"refused: {exc.detail}", "", ""
    out.outcome, out.detail, out.target, out.suggestion = outcome, detail, target, suggestion
    return out
