"""Mid-period configuration changes billed prorata to the next invoice (003 §14.3).

Prorata is by whole contract-local days: a price per billing period (a month or a
quarter, 003 §14.1) is spread evenly over the period's days. Days are the fair unit for
a change requested by e-mail and applied by staff: the day of the change is billed as
a day of the new configuration, as 003 §14.3 bills an added server "à compter de la date
d'installation". Convert moments with ``ContractCalendar.local_date`` before calling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from nuages.kernel.money import round_cents

ZERO = Decimal(0)


@dataclass(frozen=True)
class ProrationResult:
    """What a change costs until the next invoice: cent-rounded amount and its basis."""

    amount: Decimal
    unrounded: Decimal
    days_charged: int
    days_in_period: int


def prorata(
    amount: Decimal, period_start: dt.date, period_end: dt.date, from_day: dt.date
) -> ProrationResult:
    """The share of ``amount`` (a price for ``[period_start, period_end)``) from ``from_day``.

    ``from_day`` itself is included; ``period_end`` is the next invoice date, excluded.
    """
    if period_end <= period_start:
        raise ValueError(f"empty billing period {period_start} → {period_end}")
    if not period_start <= from_day < period_end:
        raise ValueError(f"{from_day} is outside the billing period {period_start} → {period_end}")
    days_in_period = (period_end - period_start).days
    days_charged = (period_end - from_day).days
    unrounded = amount * days_charged / days_in_period
    return ProrationResult(round_cents(unrounded), unrounded, days_charged, days_in_period)


def config_change_charge(
    old_price: Decimal,
    new_price: Decimal,
    period_start: dt.date,
    next_invoice: dt.date,
    changed_on: dt.date,
) -> ProrationResult:
    """003 §14.3: the price difference of an upgrade, prorata to the next invoice date.

    "Le Client est facturé de la différence entre le tarif applicable à sa configuration
    initiale et le tarif de la nouvelle configuration supérieure" — prorata to "la date
    d'échéance de la facture à échoir". A downgrade "n'est pas facturé" and what was paid
    "ne sera pas remboursé": it returns zero, never a negative amount.
    """
    if old_price < 0 or new_price < 0:
        raise ValueError("prices are never negative")
    return prorata(max(new_price - old_price, ZERO), period_start, next_invoice, changed_on)
