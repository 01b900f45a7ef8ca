"""Upgrades billed prorata to the next invoice, downgrades free (003 §14.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.terms.calc.proration import config_change_charge, prorata

D = Decimal


def test_003_s14_3_upgrade_monthly() -> None:
    """003 §14.3: 100.00 → 160.00 a month, upgraded 21 Nov 2026, next invoice 1 Dec.

    November has 30 days; 21–30 Nov are 10 days: 60.00 × 10 / 30 = 20.00.
    """
    result = config_change_charge(
        D("100.00"), D("160.00"), dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2026, 11, 21)
    )
    assert (result.days_charged, result.days_in_period) == (10, 30)
    assert result.amount == D("20.00")


def test_003_s14_1_upgrade_quarterly() -> None:
    """003 §14.1 allows quarterly billing: Q4 2026 has 92 days; from 15 Nov, 47 are left.

    90.00 × 47 / 92 = 45.978… → 45.98.
    """
    result = config_change_charge(
        D("300.00"), D("390.00"), dt.date(2026, 10, 1), dt.date(2027, 1, 1), dt.date(2026, 11, 15)
    )
    assert (result.days_charged, result.days_in_period) == (47, 92)
    assert result.amount == D("45.98")


def test_003_s14_3_downgrade_is_free_and_not_refunded() -> None:
    """003 §14.3: a downgrade "n'est pas facturé" and nothing is refunded: exactly 0."""
    result = config_change_charge(
        D("160.00"), D("100.00"), dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2026, 11, 21)
    )
    assert result.amount == 0
    assert result.unrounded == 0


def test_change_on_the_first_day_costs_the_whole_difference() -> None:
    """The change day counts (billed "à compter de la date d'installation")."""
    result = config_change_charge(
        D(100), D(130), dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 2, 1)
    )
    assert result.amount == D("30.00")


def test_change_outside_the_period_is_refused() -> None:
    """A change dated on the next invoice date belongs to the next period."""
    with pytest.raises(ValueError):
        prorata(D(10), dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 1))


@settings(max_examples=300, deadline=None)
@given(
    old=st.decimals(min_value=0, max_value=10_000, places=2),
    new=st.decimals(min_value=0, max_value=10_000, places=2),
    length=st.integers(min_value=1, max_value=92),
    a=st.integers(min_value=0, max_value=91),
    b=st.integers(min_value=0, max_value=91),
)
def test_charge_bounded_and_shrinks_later_in_the_period(
    old: Decimal, new: Decimal, length: int, a: int, b: int
) -> None:
    """0 ≤ charge ≤ difference; a later change never costs more."""
    start = dt.date(2026, 10, 1)
    end = start + dt.timedelta(days=length)
    early, late = sorted((a % length, b % length))
    first = config_change_charge(old, new, start, end, start + dt.timedelta(days=early))
    second = config_change_charge(old, new, start, end, start + dt.timedelta(days=late))
    assert 0 <= second.unrounded <= first.unrounded <= max(new - old, D(0))
