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
    """003 §13.2.1: what becomes due at once when the contract ends before its term:
    the unpaid invoices, and the rest of the subscribed duration (whole months plus
    the days of a last, partial one) at the monthly amount."""

    unpaid_invoiced: Decimal
    remaining_months: int
    remaining_days: int
    remaining_amount: Decimal
    total: Decimal


def remaining_span(first_day: dt.date, term_end: dt.date) -> tuple[int, int, int]:
    """Whole months from ``first_day`` to ``term_end`` (exclusive), then the days left
    and the length in days of the month they fall in (``(0, 0, 1)`` when nothing is
    left). Read for the client (SPEC §17): a month begun is owed for its days, not as a
    whole month."""
    if first_day >= term_end:
        return 0, 0, 1
    months = 0
    while shift_date_months(first_day, months + 1) <= term_end:
        months += 1
    start = shift_date_months(first_day, months)
    span = (shift_date_months(first_day, months + 1) - start).days
    return months, (term_end - start).days, span


def remaining_months(terminated_on: dt.date, term_end: dt.date) -> int:
    """Whole months of the subscribed duration left from ``terminated_on``."""
    return remaining_span(terminated_on, term_end)[0]


def early_termination_due(
    monthly_amount: Decimal,
    terminated_on: dt.date,
    term_end: dt.date,
    unpaid_invoiced: Sequence[Decimal] = (),
) -> EarlyTerminationDue:
    """003 §13.2.1: "tous les montants impayés pour la durée souscrite" become due at
    once: the invoices still unpaid plus the monthly amount for the rest of the
    subscribed duration not yet invoiced (``terminated_on`` is the first day not yet
    invoiced), whole months then the last month's days prorated. Data is returned only
    once this is paid (``reversibility.requires_paid_up``)."""
    if monthly_amount < 0 or any(a < 0 for a in unpaid_invoiced):
        raise ValueError("amounts due are never negative")
    months, days, span = remaining_span(terminated_on, term_end)
    remaining = round_cents(monthly_amount * months + monthly_amount * days / span)
    unpaid = round_cents(sum(unpaid_invoiced, ZERO))
    return EarlyTerminationDue(unpaid, months, days, remaining, unpaid + remaining)
