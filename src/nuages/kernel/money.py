"""Money: ``Decimal`` only, one named rounding function.

The ledger keeps sub-cent precision (``LEDGER_QUANTUM``); documents round half-up to
cents (EN 16931 BR-CO-17) with ``round_cents``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
LEDGER_QUANTUM = Decimal("0.000001")
CURRENCIES = frozenset({"EUR"})


def round_cents(amount: Decimal) -> Decimal:
    """Round half-up to the cent: the only rounding used on invoices and notices."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def round_ledger(amount: Decimal) -> Decimal:
    """Round half-up to the ledger's precision (a millionth of the currency unit)."""
    return amount.quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_UP)


# The one way an amount is written on input: ASCII digits, an optional leading minus, an
# optional point followed by digits. No exponent ("1e9"), no digit separators ("1_000",
# which Python's Decimal accepts), no "+", no non-ASCII digits ("１２", which Decimal and
# str.isdigit accept too), no NaN or infinity. 18 digits each side at most, so an input
# cannot make the parser work hard.
PLAIN_AMOUNT_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"
_PLAIN_AMOUNT = re.compile(PLAIN_AMOUNT_PATTERN, re.ASCII)


def parse_amount(text: str | int | Decimal) -> Decimal:
    """Parse an amount written as a plain decimal (``"1200.50"``, ``"-3"``, ``7``).

    Refused with ``ValueError``: floats (a JSON ``1e9`` or ``0.1`` arrives as one and
    has already lost its decimal value), booleans, exponents, ``_`` separators, a ``+``,
    non-ASCII digits, NaN and infinities. A ``Decimal`` from code is taken as it is
    when finite; an ``int`` is exact.
    """
    if isinstance(text, float):
        raise ValueError('an amount is a plain decimal string such as "150.00", never a float')
    if isinstance(text, bool):
        raise ValueError('an amount is a plain decimal string such as "150.00"')
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise ValueError(f"{text!r} is not a finite amount")
        return text
    if isinstance(text, int):
        return Decimal(text)
    if not isinstance(text, str):
        raise ValueError('an amount is a plain decimal string such as "150.00"')
    stripped = text.strip(" \t")
    if not _PLAIN_AMOUNT.fullmatch(stripped):
        raise ValueError(
            f"{text[:40]!r} is not a plain decimal amount (ASCII digits, an optional '-' "
            "and '.'; no exponent, '_', '+' or other digits)"
        )
    return Decimal(stripped)
