"""Late-payment interest and reminder fees (000 §13.1, 001 §4.4; SPEC §17)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.kernel.calendar import shift_date_months
from nuages.terms.calc.interest import (
    LegalRate,
    actual_365_366,
    late_interest_000,
    late_interest_001,
    legal_rate_on,
    reminder_fee,
    started_months,
)

D = Decimal
# French legal rate, "autres cas" (creditor not a consumer), as published for 2024–2025.
LEGAL_RATES = (
    LegalRate(dt.date(2024, 1, 1), dt.date(2024, 7, 1), D("5.07")),
    LegalRate(dt.date(2024, 7, 1), dt.date(2025, 1, 1), D("4.92")),
    LegalRate(dt.date(2025, 1, 1), dt.date(2025, 7, 1), D("3.71")),
)


def test_000_s13_1_three_times_legal_rate_split_across_years() -> None:
    """000 §13.1: 1,000.00 due Fri 20 Dec 2024, paid 10 Jan 2025: 21 days late.

    Rate in force on the due date: 4.92 % → 14.76 %. Days 21–31 Dec 2024 (11, leap year
    /366) and 1–10 Jan 2025 (10, /365): 147.6 × (11/366 + 10/365) = 4.4361 + 4.0438
    = 8.4799… → 8.48. The 3.71 % rate of January 2025 is not used.
    """
    result = late_interest_000(
        D("1000.00"), dt.date(2024, 12, 20), dt.date(2025, 1, 10), LEGAL_RATES
    )
    assert result.annual_rate_pct == D("14.76")
    assert result.days == 21
    assert result.unrounded == D("147.6") * 11 / 366 + D("147.6") * 10 / 365
    assert result.amount == D("8.48")


def test_000_s13_1_paid_on_due_date_owes_nothing() -> None:
    """Paid on the due date: no delay, no interest; one day later: one day of interest."""
    due = dt.date(2025, 3, 10)
    assert late_interest_000(D(1000), due, due, LEGAL_RATES).amount == 0
    one_day = late_interest_000(D(1000), due, due + dt.timedelta(days=1), LEGAL_RATES)
    # 1000 × 11.13 % / 365 = 0.3049… → 0.30
    assert one_day.days == 1
    assert one_day.amount == D("0.30")


def test_000_s13_1_missing_legal_rate_is_an_error() -> None:
    """No rate entered for the due date: refuse rather than guess."""
    with pytest.raises(LookupError):
        late_interest_000(D(1000), dt.date(2026, 1, 5), dt.date(2026, 2, 5), LEGAL_RATES)
    with pytest.raises(ValueError):
        legal_rate_on(
            dt.date(2024, 3, 1),
            [*LEGAL_RATES, LegalRate(dt.date(2024, 3, 1), dt.date(2024, 4, 1), D(9))],
        )


def test_spec_s17_full_year_is_exactly_the_yearly_rate() -> None:
    """A whole year, leap or not, earns exactly the yearly rate."""
    assert actual_365_366(D(1000), D(8), dt.date(2024, 1, 1), dt.date(2025, 1, 1)) == D(80)
    assert actual_365_366(D(1000), D(8), dt.date(2025, 1, 1), dt.date(2026, 1, 1)) == D(80)


def test_001_s4_4_started_months() -> None:
    """001 §4.4: 1,000.00 due 15 Jan 2026 at 8 %: every started month counts in full.

    Paid 16 Jan → 1 month → 1000 × 8 % / 12 = 6.666… → 6.67.
    Paid 15 Feb → still 1 month (exactly one month late). Paid 16 Feb → 2 → 13.33.
    """
    due = dt.date(2026, 1, 15)
    first = late_interest_001(D("1000.00"), due, dt.date(2026, 1, 16))
    assert (first.months, first.amount) == (1, D("6.67"))
    assert late_interest_001(D("1000.00"), due, dt.date(2026, 2, 15)).months == 1
    second = late_interest_001(D("1000.00"), due, dt.date(2026, 2, 16))
    assert (second.months, second.amount) == (2, D("13.33"))
    assert late_interest_001(D("1000.00"), due, due).amount == 0


def test_001_s4_4_started_months_at_month_end() -> None:
    """Due 31 Jan 2026: paid 28 Feb is one month late (clamped); 1 Mar starts a second."""
    due = dt.date(2026, 1, 31)
    assert started_months(due, dt.date(2026, 2, 28)) == 1
    assert started_months(due, dt.date(2026, 3, 1)) == 2
    assert started_months(due, dt.date(2027, 1, 31)) == 12
    assert started_months(due, dt.date(2027, 2, 1)) == 13


def test_001_s4_4_reminder_fees() -> None:
    """001 §4.4: EUR 75 for a reminder, EUR 150 on repeat."""
    assert reminder_fee(0) == D(75)
    assert reminder_fee(1) == D(150)
    assert reminder_fee(4) == D(150)
    with pytest.raises(ValueError):
        reminder_fee(-1)


dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(due=dates, n=st.integers(min_value=1, max_value=60))
def test_001_s4_4_started_month_boundaries(due: dt.date, n: int) -> None:
    """Exactly n months late counts n; one more day starts month n + 1."""
    end = shift_date_months(due, n)
    assert started_months(due, end) == n
    assert started_months(due, end + dt.timedelta(days=1)) == n + 1


@settings(max_examples=200, deadline=None)
@given(
    due=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2025, 6, 30)),
    a=st.integers(min_value=0, max_value=800),
    b=st.integers(min_value=0, max_value=800),
    principal=st.decimals(min_value=0, max_value=1_000_000, places=2),
)
def test_interest_grows_with_the_delay(due: dt.date, a: int, b: int, principal: Decimal) -> None:
    """Paying later never costs less interest, under either clause."""
    early, late = sorted((a, b))
    for days in (early, late):
        assert (
            late_interest_000(principal, due, due + dt.timedelta(days=days), LEGAL_RATES).amount
            >= 0
        )
    assert (
        late_interest_000(principal, due, due + dt.timedelta(days=early), LEGAL_RATES).unrounded
        <= late_interest_000(principal, due, due + dt.timedelta(days=late), LEGAL_RATES).unrounded
    )
    assert (
        late_interest_001(principal, due, due + dt.timedelta(days=early)).unrounded
        <= late_interest_001(principal, due, due + dt.timedelta(days=late)).unrounded
    )
