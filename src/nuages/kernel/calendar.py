"""The contract calendar: time zone, public holidays, periods and coverage windows.

Every contract is read in its own time zone and under its own law's public holidays
(Belgium for 000 and 001, France for 002–004, SPEC §16). Moments come in and go out as
aware UTC datetimes; local dates and wall-clock times only exist inside this module.

Periods follow SPEC §17 "Counting days": the day of the triggering event is never
counted, and a deadline is returned as the *exclusive end* of the period — the first
instant at which the period is over. Intervals are half-open ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from nuages.kernel.clock import ensure_aware

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)
_MICRO = dt.timedelta(microseconds=1)
_MICROS_PER_MINUTE = Decimal(60_000_000)

Country = Literal["FR", "BE"]
Interval = tuple[dt.datetime, dt.datetime]
"""A half-open ``[start, end)`` span of aware UTC datetimes."""

MONDAY_TO_FRIDAY = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


class Unit(StrEnum):
    """Units a contract uses to state a period (SPEC §16)."""

    MINUTES = "minutes"
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    CLEAR_DAYS = "clear_days"
    WORKING_DAYS = "working_days"
    JOURS_OUVRABLES = "jours_ouvrables"
    MONTHS = "months"
    YEARS = "years"


# Holiday tables are computed once per (country, year) and shared by every calendar.
_holiday_cache: dict[tuple[str, int], frozenset[dt.date]] = {}
_holiday_lock = threading.Lock()


def _holidays_of(country: str, year: int) -> frozenset[dt.date]:
    key = (country, year)
    with _holiday_lock:
        cached = _holiday_cache.get(key)
        if cached is None:
            # Imported here: loading the holiday calendars takes ~0.3 s, which every
            # `nuages` command paid at start-up before needing a single holiday (#19).
            import holidays

            cached = frozenset(holidays.country_holidays(country, years=year).keys())
            _holiday_cache[key] = cached
        return cached


def shift_date_months(day: dt.date, months: int) -> dt.date:
    """Move ``day`` by ``months`` calendar months (negative allowed), clamping to month end.

    31 January + 1 month is 28 (or 29) February: a month period ending in a shorter month
    ends on its last day (Code de procédure civile art. 641, read the same way in Belgium).
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = _days_in_month(year, month)
    return dt.date(year, month, min(day.day, last))


def _days_in_month(year: int, month: int) -> int:
    following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return (following - dt.date(year, month, 1)).days


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals; drop empty ones.

    Merging is what guarantees overlapping outages are never counted twice (002 §6).
    """
    spans = sorted((ensure_aware(s), ensure_aware(e)) for s, e in intervals)
    merged: list[Interval] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect_intervals(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Return the parts of ``a`` that also lie in ``b`` (both merged first)."""
    left, right = merge_intervals(a), merge_intervals(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract_intervals(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Return the parts of ``a`` that lie outside every interval of ``b``."""
    holes = merge_intervals(b)
    out: list[Interval] = []
    for start, end in merge_intervals(a):
        cursor = start
        for h_start, h_end in holes:
            if h_end <= cursor:
                continue
            if h_start >= end:
                break
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def clip_intervals(
    intervals: Iterable[Interval], start: dt.datetime, end: dt.datetime
) -> list[Interval]:
    """Return the merged parts of ``intervals`` inside ``[start, end)``."""
    return intersect_intervals(intervals, [(start, end)])


def interval_minutes(intervals: Iterable[Interval]) -> Decimal:
    """Total length in minutes (exact, to the microsecond) of the merged intervals."""
    total = sum(((e - s) // _MICRO for s, e in merge_intervals(intervals)), 0)
    return Decimal(total) / _MICROS_PER_MINUTE


@dataclass(frozen=True)
class CoverageWindow:
    """When a service level applies: weekdays (0 = Monday) and a local wall-clock span.

    ``end == time(0)`` means 24:00 (end of the day); ``end < start`` is an overnight
    window that starts on an eligible day and ends the next morning. Holidays are those
    of the calendar the window is used with (e.g. 002 §6: Monday–Friday 08:00–18:00,
    public holidays excluded).
    """

    weekdays: frozenset[int]
    start: dt.time
    end: dt.time
    exclude_holidays: bool = False

    def __post_init__(self) -> None:
        if not self.weekdays <= EVERY_DAY:
            raise ValueError(f"weekdays must be within 0..6, got {sorted(self.weekdays)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("coverage times are local wall-clock times without a zone")
        if self.start == self.end and self.end != dt.time(0):
            raise ValueError("a coverage window cannot start and end at the same time")

    @classmethod
    def always(cls) -> CoverageWindow:
        """24/7: every day, 00:00–24:00, holidays included (001 §6, 003 §5.1.2)."""
        return cls(EVERY_DAY, dt.time(0), dt.time(0), exclude_holidays=False)

    @classmethod
    def business_hours(
        cls, start: dt.time = dt.time(8), end: dt.time = dt.time(18)
    ) -> CoverageWindow:
        """Monday–Friday within ``[start, end)``, public holidays excluded (002 §6)."""
        return cls(MONDAY_TO_FRIDAY, start, end, exclude_holidays=True)


class ContractCalendar:
    """A contract's time zone and public holidays, and the period arithmetic built on them."""

    def __init__(self, tz: str, country: Country) -> None:
        if country not in ("FR", "BE"):
            raise ValueError(f"unsupported country {country!r}: FR or BE")
        self.tz_name = tz
        self.country: Country = country
        self._tz = ZoneInfo(tz)
        # Kept answers (a monthly SLA run asks the same of every VM): month bounds, each
        # day's coverage span, a month's coverage.
        self._bounds: dict[tuple[int, int], Interval] = {}
        self._spans: dict[tuple[CoverageWindow, dt.date], Interval | None] = {}
        self._months: dict[
            tuple[CoverageWindow, dt.datetime, dt.datetime], tuple[Interval, ...]
        ] = {}

    def __repr__(self) -> str:
        return f"ContractCalendar({self.tz_name!r}, {self.country!r})"

    # -- days -------------------------------------------------------------------------

    def holidays(self, year: int) -> frozenset[dt.date]:
        """Public holidays of the contract's law in ``year`` (cached per year)."""
        return _holidays_of(self.country, year)

    def is_holiday(self, day: dt.date) -> bool:
        """Whether ``day`` is a public holiday under the contract's law (SPEC §16)."""
        return day in self.holidays(day.year)

    def is_working_day(self, day: dt.date) -> bool:
        """Jour ouvré: Monday to Friday and not a public holiday (SPEC §16)."""
        return day.weekday() < 5 and not self.is_holiday(day)

    def is_jour_ouvrable(self, day: dt.date) -> bool:
        """Jour ouvrable: Monday to Saturday and not a public holiday (SPEC §16)."""
        return day.weekday() < 6 and not self.is_holiday(day)

    def count_working_days(self, start: dt.date, end: dt.date) -> int:
        """Number of working days in the half-open range of dates ``[start, end)``."""
        return sum(1 for d in _dates(start, end) if self.is_working_day(d))

    def count_jours_ouvrables(self, start: dt.date, end: dt.date) -> int:
        """Number of jours ouvrables in the half-open range of dates ``[start, end)``."""
        return sum(1 for d in _dates(start, end) if self.is_jour_ouvrable(d))

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself never counts); ``day`` if 0."""
        return self._nth_after(day, n, self.is_working_day)

    def add_jours_ouvrables(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th jour ouvrable after ``day`` (``day`` itself never counts)."""
        return self._nth_after(day, n, self.is_jour_ouvrable)

    @staticmethod
    def _nth_after(day: dt.date, n: int, qualifies: Callable[[dt.date], bool]) -> dt.date:
        if n < 0:
            raise ValueError("day counts are never negative")
        current = day
        while n > 0:
            current += ONE_DAY
            if qualifies(current):
                n -= 1
        return current

    # -- moments ----------------------------------------------------------------------

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The contract-local calendar date of an aware moment."""
        return ensure_aware(moment).astimezone(self._tz).date()

    def to_local(self, moment: dt.datetime) -> dt.datetime:
        """The aware moment expressed in the contract's time zone (for display)."""
        return ensure_aware(moment).astimezone(self._tz)

    def start_of_day(self, day: dt.date) -> dt.datetime:
        """The first instant (UTC) of local date ``day``."""
        return self.local_to_utc(day, dt.time(0))

    def local_to_utc(self, day: dt.date, wall: dt.time, *, latest: bool = False) -> dt.datetime:
        """The UTC instant at which the local clock shows ``wall`` on ``day``.

        When the wall time occurs twice (autumn DST change) the first occurrence is
        returned, or the second with ``latest=True``. When it does not exist (spring
        change) the instant of the change is returned: the first instant whose wall time
        is at or after ``wall``.
        """
        naive = dt.datetime.combine(day, wall)
        moment = naive.replace(tzinfo=self._tz, fold=1 if latest else 0).astimezone(UTC)
        if moment.astimezone(self._tz).replace(tzinfo=None) == naive:
            return moment
        # A skipped wall time: the answer is the transition instant, where the UTC offset
        # switches; it lies between the two fold readings. tzdata changes happen on whole
        # seconds, so a bisection over integer timestamps finds it exactly.
        a = naive.replace(tzinfo=self._tz, fold=0).astimezone(UTC)
        b = naive.replace(tzinfo=self._tz, fold=1).astimezone(UTC)
        low, high = math.floor(min(a, b).timestamp()), math.ceil(max(a, b).timestamp())
        after = self._offset_at(high)
        while high - low > 1:
            mid = (low + high) // 2
            if self._offset_at(mid) == after:
                high = mid
            else:
                low = mid
        return dt.datetime.fromtimestamp(high, UTC)

    def _offset_at(self, timestamp: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(timestamp, UTC).astimezone(self._tz).utcoffset()

    def month_bounds(self, year: int, month: int) -> Interval:
        """The calendar month ``[1st 00:00, next 1st 00:00)`` local, as UTC instants."""
        bounds = self._bounds.get((year, month))
        if bounds is None:
            first = dt.date(year, month, 1)
            bounds = self.start_of_day(first), self.start_of_day(shift_date_months(first, 1))
            self._bounds[(year, month)] = bounds
        return bounds

    def minutes_in_month(self, year: int, month: int) -> int:
        """Every real minute of the calendar month in the contract's zone (SPEC §17, 002 §6).

        October 2026 in Europe/Paris has 44,700 minutes (31 × 1440 + 60: the clocks go back).
        """
        start, end = self.month_bounds(year, month)
        return int((end - start).total_seconds()) // 60

    # -- periods ----------------------------------------------------------------------

    def add(self, event: dt.datetime, amount: int, unit: Unit) -> dt.datetime:
        """The exclusive end (UTC) of a period of ``amount`` ``unit`` after ``event``.

        Readings (SPEC §16, §17; the day of the triggering event ``D`` never counts):

        - minutes, hours: real elapsed time, whatever the DST changes in between
          (001 §12 "72 heures calendaires").
        - calendar days: days D+1 … D+N count; the period ends at the end of D+N.
        - clear days (jours francs): the event day and the last day do not count, so N
          clear days after D run to the end of D+N+1, and an act conditioned on them
          (e.g. maintenance announced ≥ 2 clear days ahead, 000 §7) may happen from
          D+N+2 00:00 local — the returned instant.
        - working days / jours ouvrables: the period ends at the end of the N-th such day
          after D.
        - months, years: the period ends at the end of the day bearing D's number N months
          later, clamped to the month's last day (CPC art. 641: 15 Jan + 1 month → end of
          15 Feb; 31 Jan + 1 month → end of 28/29 Feb).

        Day-based periods end at local midnight, returned in UTC. ``amount`` must be ≥ 0.
        """
        event = ensure_aware(event)
        if amount < 0:
            raise ValueError("period lengths are never negative")
        if unit is Unit.MINUTES:
            return event + dt.timedelta(minutes=amount)
        if unit is Unit.HOURS:
            return event + dt.timedelta(hours=amount)
        day = self.local_date(event)
        if unit is Unit.CALENDAR_DAYS:
            last = day + amount * ONE_DAY
        elif unit is Unit.CLEAR_DAYS:
            last = day + (amount + 1) * ONE_DAY
        elif unit is Unit.WORKING_DAYS:
            last = self.add_working_days(day, amount)
        elif unit is Unit.JOURS_OUVRABLES:
            last = self.add_jours_ouvrables(day, amount)
        elif unit is Unit.MONTHS:
            last = shift_date_months(day, amount)
        else:  # Unit.YEARS
            last = shift_date_months(day, 12 * amount)
        return self.start_of_day(last + ONE_DAY)

    def shift_months(self, moment: dt.datetime, months: int) -> dt.datetime:
        """Same local wall time ``months`` calendar months later (or earlier), clamped.

        For periods that *start* at a moment rather than follow an event — a 36-month
        term from 1 January 00:00 ends on 1 January 00:00 three years later (004 §5).
        """
        local = ensure_aware(moment).astimezone(self._tz)
        day = shift_date_months(local.date(), months)
        return self.local_to_utc(day, local.time().replace(tzinfo=None))

    def last_day(self, deadline: dt.datetime) -> dt.date:
        """The local date of the last instant before an exclusive ``deadline``."""
        return self.local_date(ensure_aware(deadline) - _MICRO)

    def extend_to_next_jour_ouvrable(self, deadline: dt.datetime) -> dt.datetime:
        """Extend a period ending on a Saturday, Sunday or holiday (003 §12).

        003 §12: "Lorsque le délai de sept jours expire un samedi, un dimanche ou un jour
        férié ou chômé, il est prorogé jusqu'au premier jour ouvrable suivant." A Saturday
        is itself listed as a day that triggers the extension, so the extended period ends
        at the end of the first following day that is neither Saturday, Sunday nor a
        holiday (the client-favourable reading, SPEC §17). A period whose last day is
        already such a day is returned unchanged.
        """
        deadline = ensure_aware(deadline)
        last = self.last_day(deadline)
        if last.weekday() < 5 and not self.is_holiday(last):
            return deadline
        while last.weekday() >= 5 or self.is_holiday(last):
            last += ONE_DAY
        return self.start_of_day(last + ONE_DAY)

    # -- coverage ---------------------------------------------------------------------

    def covered_intervals(
        self, window: CoverageWindow, start: dt.datetime, end: dt.datetime
    ) -> list[Interval]:
        """The merged UTC intervals inside ``[start, end)`` where ``window`` applies.

        Window edges are local wall-clock times resolved on each eligible local date, so
        a day's coverage follows the DST change: 08:00–18:00 is always 10 real hours in
        Paris, 00:00–24:00 is 23 or 25 hours on change days. An edge inside the repeated
        autumn hour is taken at its first occurrence for a start and its second for an
        end (the window covers every instant between its two wall times); an edge inside
        the skipped spring hour is the instant of the change.
        """
        start, end = ensure_aware(start), ensure_aware(end)
        if end <= start:
            return []
        key = (window, start, end)
        if key in self._months:  # a month's coverage, asked for each VM's report
            return list(self._months[key])
        spans: list[Interval] = []
        # The day before `start` matters when the window runs overnight.
        for day in _dates(self.local_date(start) - ONE_DAY, self.local_date(end) + ONE_DAY):
            span = self._day_span(window, day)
            if span is None:
                continue
            lo, hi = max(span[0], start), min(span[1], end)
            if lo < hi:
                spans.append((lo, hi))
        if end - start >= dt.timedelta(days=28):
            if len(self._months) > 1000:
                self._months.clear()
            self._months[key] = tuple(merge_intervals(spans))
        return merge_intervals(spans)

    def _day_span(self, window: CoverageWindow, day: dt.date) -> Interval | None:
        """The UTC span ``window`` covers from local ``day`` (None: not covered), kept:
        monthly SLA reports ask for the same days for every VM (issue 22 benchmark)."""
        key = (window, day)
        if key in self._spans:
            return self._spans[key]
        span: Interval | None = None
        if day.weekday() in window.weekdays and not (
            window.exclude_holidays and self.is_holiday(day)
        ):
            w_start = self.local_to_utc(day, window.start)
            if window.end == dt.time(0):
                w_end = self.start_of_day(day + ONE_DAY)
            elif window.end > window.start:
                w_end = self.local_to_utc(day, window.end, latest=True)
            else:
                w_end = self.local_to_utc(day + ONE_DAY, window.end, latest=True)
            span = (w_start, w_end)
        if len(self._spans) > 20_000:
            self._spans.clear()
        self._spans[key] = span
        return span

    def covered_part(self, window: CoverageWindow, intervals: Sequence[Interval]) -> list[Interval]:
        """The parts of ``intervals`` that fall inside ``window`` (merged, UTC)."""
        merged = merge_intervals(intervals)
        if not merged:
            return []
        coverage = self.covered_intervals(window, merged[0][0], merged[-1][1])
        return intersect_intervals(merged, coverage)

    def overlap_minutes(self, window: CoverageWindow, intervals: Sequence[Interval]) -> Decimal:
        """Minutes of ``intervals`` inside ``window``; overlapping inputs count once."""
        return interval_minutes(self.covered_part(window, intervals))


def _dates(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    """Local dates in ``[start, end)``."""
    current = start
    while current < end:
        yield current
        current += ONE_DAY
