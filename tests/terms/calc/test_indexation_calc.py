"""Yearly price revision (000 §13.3, 004 §8.1) and its cap (003 §14.3)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.terms.calc.indexation import (
    IndexTerm,
    cap_yearly_increase,
    revise_000_s13_3,
    revise_004_s8_1,
    revise_price,
    revision_factor,
)

D = Decimal


def test_000_s13_3_syntec_and_elecvert() -> None:
    """000 §13.3: P0 = 100.00, Syntec 270.0 → 283.5 (+5 %), ElecVert 150 → 144 (−4 %).

    P = 100 × (0.30 × 1.05 + 0.70 × 0.96) = 100 × (0.315 + 0.672) = 98.70.
    """
    result = revise_000_s13_3(D("100.00"), D("270.0"), D("283.5"), D(150), D(144))
    assert result.factor == D("0.987")
    assert result.price == D("98.70")
    assert not result.capped


def test_004_s8_1_syntec_only() -> None:
    """004 §8.1: P = P0 × S/S0: 250.00 × 295.2 / 287.6 = 256.6064… → 256.61 at the cent."""
    result = revise_004_s8_1(D("250.00"), D("287.6"), D("295.2"))
    assert result.price.quantize(D("0.01")) == D("256.61")
    assert abs(result.price - D(250) * D("295.2") / D("287.6")) < D("1e-20")


def test_003_s14_3_increase_capped_at_5_percent() -> None:
    """003 §14.3: at most 5 % of the net price a year: +8 % → 105.00; +3 % stays 103.00."""
    up8 = revise_price(D(100), [IndexTerm(D(1), D(100), D(108))], cap_pct=D(5))
    assert (up8.price, up8.formula_price, up8.capped) == (D(105), D(108), True)
    up3 = revise_price(D(100), [IndexTerm(D(1), D(100), D(103))], cap_pct=D(5))
    assert (up3.price, up3.capped) == (D(103), False)
    # Decreases are never capped.
    assert revise_price(D(100), [IndexTerm(D(1), D(100), D(90))], cap_pct=D(5)).price == D(90)
    assert cap_yearly_increase(D("80.00"), D("90.00")) == D("84.00")


def test_fixed_part_is_not_indexed() -> None:
    """A 15 % fixed part: P = 200 × (0.15 + 0.85 × 1.10) = 200 × 1.085 = 217."""
    result = revise_price(D(200), [IndexTerm(D("0.85"), D(100), D(110))], fixed=D("0.15"))
    assert result.price == D(217)


def test_weights_must_sum_to_one() -> None:
    """0.30 + 0.60 is not a formula: refuse it rather than silently lower the price."""
    with pytest.raises(ValueError):
        revision_factor([IndexTerm(D("0.30"), D(1), D(1)), IndexTerm(D("0.60"), D(1), D(1))])
    with pytest.raises(ValueError):
        revision_factor([IndexTerm(D(1), D(1), D(1))], fixed=D("0.1"))
    with pytest.raises(ValueError):
        IndexTerm(D("-0.1"), D(1), D(1))
    with pytest.raises(ValueError):
        IndexTerm(D(1), D(0), D(1))


index_values = st.decimals(min_value=D("0.01"), max_value=D(100_000), places=4)


@settings(max_examples=300, deadline=None)
@given(
    p0=st.decimals(min_value=0, max_value=1_000_000, places=6),
    parts=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5),
    bases=st.lists(index_values, min_size=5, max_size=5),
)
def test_unchanged_indices_return_p0_exactly(
    p0: Decimal, parts: list[int], bases: list[Decimal]
) -> None:
    """With I = I0 for every index, P = P0 exactly, whatever the weights and fixed part."""
    # Weights in hundredths, taken while they fit in 1; the rest is the fixed part.
    hundredths: list[int] = []
    for part in parts:
        hundredths.append(min(part, 100 - sum(hundredths)))
    weights = [D(h) / 100 for h in hundredths]
    fixed = D(100 - sum(hundredths)) / 100
    terms = [IndexTerm(w, b, b) for w, b in zip(weights, bases, strict=False)]
    assert revise_price(p0, terms, fixed=fixed).price == p0
    assert revise_000_s13_3(p0, bases[0], bases[0], bases[1], bases[1]).price == p0


@settings(max_examples=200, deadline=None)
@given(
    p0=st.decimals(min_value=0, max_value=1_000_000, places=2),
    s0=index_values,
    s=index_values,
)
def test_003_s14_3_cap_always_holds(p0: Decimal, s0: Decimal, s: Decimal) -> None:
    """The capped price never exceeds P0 × 1.05 and never exceeds the formula's price."""
    result = revise_price(p0, [IndexTerm(D(1), s0, s)], cap_pct=D(5))
    assert result.price <= p0 * D("1.05")
    assert result.price <= result.formula_price
