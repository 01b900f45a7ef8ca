"""Money: ``Decimal`` only, one named rounding function.

The ledger keeps sub-cent precision (``LEDGER_QUANTUM``); documents round half-up to
cents (EN 16931 BR-CO-17) with ``round_cents``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
LEDGER_QUANTUM = Decimal("0.000001")
CURRENCIES = frozenset({"EUR"})


def round_cents(amount: Decimal) -> Decimal:
    """Round half-up to the cent: the only rounding used on invoices and notices."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def round_ledger(amount: Decimal) -> Decimal:
    """Round half-up to the ledger's precision (a millionth of the currency unit)."""
    return amount.quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_UP)


def parse_amount(text: str | int | Decimal) -> Decimal:
    """Parse a decimal amount given as text; refuse floats, NaN and infinities."""
    if isinstance(text, float):
        raise ValueError("amounts are never floats")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a decimal amount") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite amount")
    return value
