"""What a resource costs over a span of time, under the offer a contract accepted.

Pure functions of the offer: no database. A price per ``hour`` is charged per second of
use (3 600 seconds to the hour); a price per ``month`` is charged per second of the
calendar month of the contract's time zone the time falls in (February costs the same
per month as March, so a February hour is dearer). Amounts are exact decimals; the
ledger rounds them to a millionth when it writes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from nuages.kernel.calendar import ContractCalendar
from nuages.kernel.money import round_ledger
from nuages.terms.apply import calendar_for
from nuages.terms.schema import Offer
from nuages.terms.schema_billing import Prepaid
from nuages.terms.schema_catalogue import PriceUnit
from nuages.terms.schema_common import Unit

HOUR = dt.timedelta(hours=1)
SECONDS_PER_HOUR = Decimal(3600)
# Units metering can charge by time; other units (one-off, per user…) are not usage.
TIME_UNITS = frozenset({PriceUnit.hour, PriceUnit.month})


@dataclass(frozen=True)
class Rate:
    """One priced item of an offer: a flavour or an option."""

    item_id: str
    price: Decimal
    unit: PriceUnit


class OfferPricing:
    """The prices and metering rules of one offer version, looked up once per run."""

    def __init__(self, offer: Offer) -> None:
        self.offer = offer
        prepaid = offer.billing.prepaid
        if prepaid is None:
            raise ValueError(f"offer {offer.id} is not prepaid")
        self.prepaid: Prepaid = prepaid
        self.calendar: ContractCalendar = calendar_for(offer)
        self.currency = offer.offer.currency
        self.flavours = {
            f.id: Rate(f.id, f.price, f.unit)
            for f in offer.catalogue.flavours
            if f.unit in TIME_UNITS
        }
        # Options priced on a quote (000 §3.1: a negotiated agreement) are not sold here.
        self.options = {
            o.id: Rate(o.id, o.price, o.unit)
            for o in offer.catalogue.options
            if o.unit in TIME_UNITS and not o.on_quote
        }
        self.minimum_billed = minimum_billed(prepaid)
        # 000 §11.1: suspension is billed unless wrongly applied; each ground may say.
        self.suspension_billed = {g.cause: g.billed for g in offer.suspension.grounds}
        # 000 §18, §13.2: once the contract has ended nothing is at the client's disposal
        # (its VMs only wait for their image and their erasure), so nothing is debited
        # after ``ended_at``; only an offer whose service continues through its exit
        # window (002 §10) keeps billing its VMs until they are erased.
        self.billed_after_end = offer.reversibility.service_continues_during_window

    @property
    def monthly(self) -> bool:
        """Debited once per calendar month rather than per hour (000 §13.2)."""
        return self.prepaid.debit_basis == "monthly"

    def is_billed(self, vm_state: str, suspended_reason: str | None) -> bool:
        """Whether a VM in this state is at the client's disposal and so billed.

        000 §1 "Compte CLIENT": debited for the VMs at the client's disposal; a stopped VM
        is billed when the offer says so; a suspended one per its ground (000 §11.1), by
        default per ``suspension_billed``; a VM in error is not at anyone's disposal.
        """
        if vm_state == "error":
            return False
        if vm_state == "stopped":
            return self.prepaid.stopped_vms_billed
        if vm_state == "suspended":
            # A hold writes "hold:<ground>" on the VMs it suspends (compute/services/holds).
            cause = (suspended_reason or "").removeprefix("hold:")
            ground = self.suspension_billed.get(cause)
            return self.prepaid.suspension_billed if ground is None else ground
        return True

    def charge(self, rate: Rate, start: dt.datetime, end: dt.datetime) -> Decimal:
        """The exact price of ``rate`` over ``[start, end)``."""
        if end <= start:
            return Decimal(0)
        if rate.unit is PriceUnit.hour:
            return rate.price * Decimal((end - start).total_seconds()) / SECONDS_PER_HOUR
        total = Decimal(0)
        cursor = start
        while cursor < end:
            local = self.calendar.to_local(cursor)
            month_start, month_end = self.calendar.month_bounds(local.year, local.month)
            stop = min(end, month_end)
            seconds = Decimal((stop - cursor).total_seconds())
            total += rate.price * seconds / Decimal((month_end - month_start).total_seconds())
            cursor = stop
        return total

    def hourly(self, rate: Rate, at: dt.datetime) -> Decimal:
        """What ``rate`` costs for the hour starting at ``at`` (the burn rate)."""
        return round_ledger(self.charge(rate, at, at + HOUR))


def minimum_billed(prepaid: Prepaid) -> dt.timedelta:
    """000 §9: a service never lasts less than this (``prepaid.minimum_billed``)."""
    duration = prepaid.minimum_billed
    if duration.unit is Unit.minutes:
        return dt.timedelta(minutes=duration.amount)
    return dt.timedelta(hours=duration.amount)


def hours(span: dt.timedelta) -> Decimal:
    """A span in hours, to the ledger's precision."""
    return round_ledger(Decimal(span.total_seconds()) / SECONDS_PER_HOUR)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding ``moment``."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
