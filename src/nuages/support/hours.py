"""Business hours of support (001 §10.2: Monday–Friday 09:00–18:00, not on the
contract law's public holidays) and timers counted inside them (003 §5.1.3, 002 §3.8.3).

Pure: a calendar and a coverage window in, UTC moments out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nuages.kernel.calendar import ContractCalendar, CoverageWindow
from nuages.terms import apply
from nuages.terms.schema import Offer

# SPEC §13 / 001 §10.2, for an offer whose terms state no support hours.
DEFAULT_HOURS = CoverageWindow.business_hours(dt.time(9), dt.time(18))
_CHUNK = dt.timedelta(days=14)
_HORIZON = dt.timedelta(days=3 * 366)


def window_of(offer: Offer) -> CoverageWindow:
    """The offer's support hours (``[support.hours]``), else 001 §10.2's."""
    if offer.support is not None and offer.support.hours is not None:
        return apply.coverage_window(offer.support.hours)
    return DEFAULT_HOURS


def in_hours(calendar: ContractCalendar, window: CoverageWindow, moment: dt.datetime) -> bool:
    """Whether ``moment`` falls inside the support hours."""
    return bool(calendar.covered_intervals(window, moment, moment + dt.timedelta(seconds=1)))


def add_business_minutes(
    calendar: ContractCalendar, window: CoverageWindow, start: dt.datetime, minutes: int
) -> dt.datetime:
    """The moment ``minutes`` of support hours after ``start`` (a ticket opened at night
    starts counting at the next opening). Refuses a window that never opens."""
    remaining = dt.timedelta(minutes=minutes)
    cursor = start
    while cursor < start + _HORIZON:
        for lo, hi in calendar.covered_intervals(window, cursor, cursor + _CHUNK):
            if remaining <= hi - lo:
                return lo + remaining
            remaining -= hi - lo
        cursor += _CHUNK
    raise ValueError("the support hours never open")


def business_minutes(
    calendar: ContractCalendar, window: CoverageWindow, start: dt.datetime, end: dt.datetime
) -> Decimal:
    """Minutes of support hours in ``[start, end)``."""
    if end <= start:
        return Decimal(0)
    return calendar.overlap_minutes(window, [(start, end)])


def describe(window: CoverageWindow, calendar: ContractCalendar) -> dict[str, object]:
    """The hours as the API shows them."""
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        "days": [names[d] for d in sorted(window.weekdays)],
        "start": window.start.strftime("%H:%M"),
        "end": "24:00" if window.end == dt.time(0) else window.end.strftime("%H:%M"),
        "holidays_excluded": window.exclude_holidays,
        "holidays_of": calendar.country,
        "timezone": calendar.tz_name,
    }


def duration_minutes(amount: int, unit: str) -> int:
    """A terms duration in minutes or hours as minutes (a support timer's length)."""
    if unit == "minutes":
        return amount
    if unit == "hours":
        return amount * 60
    raise ValueError(f"a support timer is stated in minutes or hours, not {unit}")
