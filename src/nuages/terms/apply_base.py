"""What every application of an offer's terms starts from: the error when the terms
have no such rule, and the offer's contract calendar, durations and coverage in the
calendar's own terms. Re-exported by :mod:`nuages.terms.apply`."""

from __future__ import annotations

import datetime as dt

from nuages.kernel.calendar import ContractCalendar, CoverageWindow
from nuages.kernel.calendar import Unit as CalendarUnit
from nuages.kernel.errors import NuagesError
from nuages.terms.schema import Coverage, Duration, Offer, clock_time

__all__ = ["TermsNotApplicable", "calendar_for", "coverage_window", "duration_unit"]

_DAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class TermsNotApplicable(NuagesError):
    """The offer's terms have no such rule (e.g. late interest on an offer without one)."""

    status = 422
    slug = "terms-not-applicable"
    title = "The offer's terms do not provide for this"


_CALENDARS: dict[tuple[str, str], ContractCalendar] = {}


def calendar_for(offer: Offer) -> ContractCalendar:
    """The contract calendar of an offer: its time zone and its law's public holidays
    (one shared instance per pair: it keeps the coverage days it resolved)."""
    key = (offer.offer.timezone, offer.offer.holidays)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = _CALENDARS[key] = ContractCalendar(*key)
    return calendar


def duration_unit(duration: Duration) -> CalendarUnit:
    """The calendar's unit for a terms-file duration (the names are the same)."""
    return CalendarUnit(duration.unit.value)


def coverage_window(coverage: Coverage) -> CoverageWindow:
    """A terms-file coverage table as the calendar's window (24:00 is ``time(0)``)."""
    end = clock_time(coverage.end)
    return CoverageWindow(
        weekdays=frozenset(_DAY_INDEX[d] for d in coverage.days),
        start=clock_time(coverage.start),
        end=dt.time(0) if end == dt.time.max else end,
        exclude_holidays=coverage.exclude_holidays,
    )
