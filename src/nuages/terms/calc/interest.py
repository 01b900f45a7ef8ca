"""Late-payment interest and reminder fees (000 §13.1, 001 §4.4; SPEC §17 "Late interest").

Dates are contract-local calendar dates. A sum paid on its due date is on time; a sum
paid ``k`` days after it is ``k`` days late. Rates are yearly percentages
(``Decimal("8")`` is 8 % a year).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from nuages.kernel.calendar import shift_date_months
from nuages.kernel.money import round_cents

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True)
class LegalRate:
    """The legal interest rate (yearly %) of one ``series`` in force over
    ``[valid_from, valid_to)``.

    Legal rates are published per country (SPEC §17 "Legal interest rate"): France each
    half-year, Belgium each year. ``series`` is that country ("FR", "BE"); staff enter
    each rate with its validity period.
    """

    valid_from: dt.date
    valid_to: dt.date
    rate_pct: Decimal
    series: str = "FR"

    def __post_init__(self) -> None:
        if self.valid_to <= self.valid_from:
            raise ValueError(f"empty validity period {self.valid_from} → {self.valid_to}")
        if self.rate_pct < 0:
            raise ValueError("a legal rate is never negative")


@dataclass(frozen=True)
class InterestResult:
    """Interest owed on a late sum: the cent-rounded amount and how it was reached."""

    amount: Decimal
    unrounded: Decimal
    annual_rate_pct: Decimal
    days: int
    months: int
    # 000 §13.1: the legal rate the multiple was applied to (its series and period).
    legal_rate: LegalRate | None = None


def legal_rate_in_force(
    day: dt.date, rates: Sequence[LegalRate], series: str | None = None
) -> LegalRate:
    """The legal rate of ``series`` (any series when None) in force on ``day``;
    ``LookupError`` if none covers it, ``ValueError`` if two entered rates disagree."""
    matching = [r for r in rates if r.valid_from <= day < r.valid_to and series in (None, r.series)]
    label = f" of series {series}" if series else ""
    if not matching:
        raise LookupError(f"no legal interest rate{label} entered for {day.isoformat()}")
    if len({r.rate_pct for r in matching}) > 1:
        raise ValueError(f"conflicting legal interest rates{label} entered for {day.isoformat()}")
    return matching[0]


def legal_rate_on(day: dt.date, rates: Sequence[LegalRate], series: str | None = None) -> Decimal:
    """The legal rate in force on ``day``; ``LookupError`` if none covers it."""
    return legal_rate_in_force(day, rates, series).rate_pct


def _days_in_year(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def actual_365_366(
    principal: Decimal, annual_rate_pct: Decimal, start: dt.date, end: dt.date
) -> Decimal:
    """Simple interest for each day of ``[start, end)`` at ``annual_rate_pct`` a year.

    SPEC §17: a yearly rate accrues per actual day over 365, or 366 for the days that
    fall in a leap year; a period crossing 31 December is split at the year boundary.
    Unrounded.
    """
    if end <= start:
        return ZERO
    total = ZERO
    cursor = start
    while cursor < end:
        year_end = dt.date(cursor.year + 1, 1, 1)
        chunk_end = min(end, year_end)
        days = (chunk_end - cursor).days
        total += principal * annual_rate_pct / HUNDRED * days / _days_in_year(cursor.year)
        cursor = chunk_end
    return total


def late_interest_000(
    principal: Decimal,
    due_on: dt.date,
    paid_on: dt.date,
    legal_rates: Sequence[LegalRate],
    *,
    multiplier: Decimal = Decimal(3),
    series: str | None = None,
) -> InterestResult:
    """000 §13.1: three times the legal rate, due from the day after the due date.

    ``series`` is the country whose legal rate applies: the contract's law (SPEC §17:
    000 is a Belgian-law contract citing the French commercial code, so Belgium's).

    "le taux d'intérêt des pénalités de retard exigibles le jour suivant la date de
    règlement … est fixé à trois fois le taux d'intérêt légal". The rate is the one in
    force on the due date (SPEC §17) and applies to the whole delay. Interest runs for
    every day from the day after ``due_on`` up to and including ``paid_on`` — the
    ``paid_on − due_on`` days of delay — per actual day over 365/366.
    """
    if principal < 0:
        raise ValueError("a late sum is never negative")
    legal = legal_rate_in_force(due_on, legal_rates, series)
    rate = legal.rate_pct * multiplier
    days = max(0, (paid_on - due_on).days)
    one_day = dt.timedelta(days=1)
    unrounded = actual_365_366(principal, rate, due_on + one_day, due_on + one_day * (days + 1))
    return InterestResult(round_cents(unrounded), unrounded, rate, days, 0, legal)


def started_months(due_on: dt.date, paid_on: dt.date) -> int:
    """Calendar months begun between ``due_on`` and ``paid_on`` (001 §4.4).

    The smallest ``n`` such that ``due_on`` + ``n`` months (clamped to month end) is on or
    after ``paid_on``: 0 when paid on time, 1 from the day after the due date until the
    same date a month later, 2 from the day after that, and so on.
    """
    if paid_on <= due_on:
        return 0
    months = (paid_on.year - due_on.year) * 12 + (paid_on.month - due_on.month)
    months = max(months, 1)
    while shift_date_months(due_on, months) < paid_on:
        months += 1
    while months > 1 and shift_date_months(due_on, months - 1) >= paid_on:
        months -= 1
    return months


def late_interest_001(
    principal: Decimal,
    due_on: dt.date,
    paid_on: dt.date,
    *,
    annual_rate_pct: Decimal = Decimal(8),
) -> InterestResult:
    """001 §4.4: 8 % a year from the due date, every started month counted in full.

    "un intérêt de 8 % (huit pour cent) par an (tout mois commencé sera compté dans sa
    totalité)": interest = principal × rate / 12 × started months (SPEC §17).
    """
    if principal < 0:
        raise ValueError("a late sum is never negative")
    months = started_months(due_on, paid_on)
    unrounded = principal * annual_rate_pct / HUNDRED / 12 * months
    days = max(0, (paid_on - due_on).days)
    return InterestResult(round_cents(unrounded), unrounded, annual_rate_pct, days, months)


def reminder_fee(
    reminders_already_sent: int,
    *,
    first: Decimal = Decimal(75),
    repeat: Decimal = Decimal(150),
) -> Decimal:
    """001 §4.4: EUR 75 for a payment reminder, doubled to EUR 150 on repeat ("récidive").

    ``reminders_already_sent`` counts the reminders sent before this one within the scope
    the terms file chooses (the invoice, or the client); the fee goes on the next invoice.
    """
    if reminders_already_sent < 0:
        raise ValueError("a count of reminders is never negative")
    return first if reminders_already_sent == 0 else repeat
