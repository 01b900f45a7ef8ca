"""Which token scope an entry needs to be read (SPEC §1: members and guests never see
billing; 000 §5).

The scope is decided when the entry is recorded, from its object type and action, and
stored (and hashed) with it: a reader's rights never depend on rules that changed after
the fact. Entries recorded before the column existed hold NULL; for those the same
rules run in SQL (``effective_scope``), and refused requests among them count as billing
because their error detail was stored before details were redacted.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, case, func, or_

from nuages.history.models import HistoryEntry

READ = "read"
BILLING = "billing"

# Objects whose every entry speaks of money: balances, top-ups, fees, mandates, debits,
# payments, invoices and credit notes, the indices and rates prices are computed with.
BILLING_OBJECT_TYPES = frozenset(
    {
        "account",
        "mandate",
        "direct_debit",
        "sepa_batch",
        "payment",
        "invoice",
        "credit_note",
        "index",
        "legal_rate",
        "charge",
        "topup",
        "transfer",
        "fee",
        # payments (issue 15): an invoice's debit in a batch, an imported statement.
        "sepa_item",
        "statement",
    }
)
# Actions that speak of money on objects that are not themselves money (a contract's
# invoicing profile, lines and charges).
BILLING_ACTION_PREFIXES = (
    "billing.",
    "invoicing.",
    "invoice.",
    "credit_note.",
    "payment.",
    "sepa.",
    "topup.",
    "payments.",
)
# Staff-only configuration (seller identity, offer prices) has no client; it needs no
# rule here because client users only ever see their own client's entries.


def scope_for(object_type: str, action: str) -> str:
    """The scope a reader needs for an entry about ``object_type`` doing ``action``."""
    if object_type in BILLING_OBJECT_TYPES or action.startswith(BILLING_ACTION_PREFIXES):
        return BILLING
    return READ


def legacy_scope(object_type: str, action: str, outcome: str) -> str:
    """The scope of an entry recorded before scopes were stored (as ``effective_scope``)."""
    if outcome.startswith("refused:"):
        return BILLING
    return scope_for(object_type, action)


def readable_scopes(has: Callable[[str], bool]) -> list[str]:
    """The entry scopes a reader holding ``has`` may read."""
    return [scope for scope in (READ, BILLING) if has(scope)]


def effective_scope() -> ColumnElement[str]:
    """SQL for the scope of every row: the stored one, else the rules above."""
    legacy = case(
        (
            or_(
                HistoryEntry.object_type.in_(sorted(BILLING_OBJECT_TYPES)),
                HistoryEntry.outcome.like("refused:%"),
                *(
                    func.substr(HistoryEntry.action, 1, len(prefix)) == prefix
                    for prefix in BILLING_ACTION_PREFIXES
                ),
            ),
            BILLING,
        ),
        else_=READ,
    )
    return func.coalesce(HistoryEntry.scope, legacy)
