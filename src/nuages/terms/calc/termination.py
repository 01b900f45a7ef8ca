"""Dates of notices and what early termination makes due (003 §13.1.5, §13.2.1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from nuages.kernel.calendar import shift_date_months
from nuages.kernel.money import round_cents

ZERO = Decimal(0)


@dataclass(frozen=True)
class EarlyTerminationDue:
    """003 §13.2.1: what becomes due at once when the contract ends before its term."""

    unpaid_invoiced: Decimal
    remaining_months: int
    remaining_amount: Decimal
    total: Decimal


def remaining_months(terminated_on: dt.date, term_end: dt.date) -> int:
    """Started months of the subscribed duration left from ``terminated_on`` to
    ``term_end`` (exclusive): each month begun is a month subscribed and owed."""
    if terminated_on >= term_end:
        return 0
    months = 0
    cursor = terminated_on
    while cursor < term_end:
        months += 1
        cursor = shift_date_months(terminated_on, months)
    return months


def early_termination_due(
    monthly_amount: Decimal,
    terminated_on: dt.date,
    term_end: dt.date,
    unpaid_invoiced: Sequence[Decimal] = (),
) -> EarlyTerminationDue:
    """003 §13.2.1: "toutes les sommes restant dues pour la durée souscrite" become due
    at once: the invoices still unpaid plus the monthly amount of every month of the
    subscribed duration not yet invoiced (``terminated_on`` is the first day not yet
    invoiced). Data is returned only once this is paid (``reversibility.requires_paid_up``).
    """
    if monthly_amount < 0 or any(a < 0 for a in unpaid_invoiced):
        raise ValueError("amounts due are never negative")
    months = remaining_months(terminated_on, term_end)
    remaining = round_cents(monthly_amount * months)
    unpaid = round_cents(sum(unpaid_invoiced, ZERO))
    return EarlyTerminationDue(unpaid, months, remaining, unpaid + remaining)
