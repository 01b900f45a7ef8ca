"""Yearly price revision by index formulas (000 §13.3, 004 §8.1) and its cap (003 §14.3).

The generic formula is P = P0 × (fixed + Σ wᵢ × Iᵢ / I0ᵢ), with the fixed part and the
weights summing to exactly 1. Index values are the last known at the revision date
(000 §13.3); picking them is the caller's job. Prices are returned unrounded — an hourly
price may need more than cents — so the caller rounds as the price's use requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

HUNDRED = Decimal(100)
ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True)
class IndexTerm:
    """One weighted index of a revision formula: weight, base value I0, current value I."""

    weight: Decimal
    base: Decimal
    current: Decimal
    name: str = ""

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"index weight {self.name or ''} is negative: {self.weight}")
        if self.base <= 0 or self.current <= 0:
            raise ValueError(f"index {self.name or ''} values must be positive")


@dataclass(frozen=True)
class IndexationResult:
    """A revised price: the capped result, the formula's own result and its factor."""

    price: Decimal
    formula_price: Decimal
    factor: Decimal
    capped: bool


def revision_factor(terms: Sequence[IndexTerm], fixed: Decimal = ZERO) -> Decimal:
    """fixed + Σ wᵢ × Iᵢ / I0ᵢ; ``ValueError`` unless fixed + Σ wᵢ is exactly 1.

    Unchanged indices give exactly 1, so the price is unchanged.
    """
    if fixed < 0:
        raise ValueError(f"the fixed part is negative: {fixed}")
    total_weight = fixed + sum((t.weight for t in terms), ZERO)
    if total_weight != ONE:
        raise ValueError(f"fixed part and weights sum to {total_weight}, not 1")
    # An unchanged index contributes its weight exactly, not weight × (I / I0) rounded.
    return fixed + sum(
        (t.weight if t.current == t.base else t.weight * t.current / t.base for t in terms), ZERO
    )


def revise_price(
    p0: Decimal,
    terms: Sequence[IndexTerm],
    *,
    fixed: Decimal = ZERO,
    cap_pct: Decimal | None = None,
) -> IndexationResult:
    """P = P0 × (fixed + Σ wᵢ × Iᵢ / I0ᵢ), the increase limited to ``cap_pct`` % of P0.

    003 §14.3: "réviser ses prix annuellement dans la limite de 5 % du prix HT": with
    ``cap_pct=5`` the revised price is at most P0 × 1.05. Decreases are never capped.
    """
    if p0 < 0:
        raise ValueError("a price is never negative")
    factor = revision_factor(terms, fixed)
    formula = p0 * factor
    ceiling = None if cap_pct is None else p0 + p0 * cap_pct / HUNDRED
    if ceiling is not None and formula > ceiling:
        return IndexationResult(ceiling, formula, factor, capped=True)
    return IndexationResult(formula, formula, factor, capped=False)


def revise_000_s13_3(
    p0: Decimal, syntec0: Decimal, syntec: Decimal, elecvert0: Decimal, elecvert: Decimal
) -> IndexationResult:
    """000 §13.3: P = P0 × (0.30 × S/S0 + 0.70 × ElecVert/ElecVert0), no fixed part.

    S is the Syntec index, ElecVert the SEDILEC green-tariff electricity index, both the
    last values known at the contract anniversary (date the Minimum Amount was paid).
    """
    return revise_price(
        p0,
        [
            IndexTerm(Decimal("0.30"), syntec0, syntec, "syntec"),
            IndexTerm(Decimal("0.70"), elecvert0, elecvert, "elecvert"),
        ],
    )


def revise_004_s8_1(p0: Decimal, syntec0: Decimal, syntec: Decimal) -> IndexationResult:
    """004 §8.1: prices follow the Syntec index at each anniversary: P = P0 × S/S0."""
    return revise_price(p0, [IndexTerm(ONE, syntec0, syntec, "syntec")])


def cap_yearly_increase(p0: Decimal, proposed: Decimal, cap_pct: Decimal = Decimal(5)) -> Decimal:
    """003 §14.3: a yearly revision raises the net price by at most ``cap_pct`` % of it."""
    if p0 < 0 or proposed < 0:
        raise ValueError("prices are never negative")
    return min(proposed, p0 + p0 * cap_pct / HUNDRED)
