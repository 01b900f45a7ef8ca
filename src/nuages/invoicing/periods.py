"""Billing periods of a contract: calendar months or quarters, half-open. Pure.

001 §4.4 and 004 §8.2 invoice monthly, 003 §14.1 monthly or quarterly at the client's
choice. Periods follow the calendar of the contract's time zone; the first one starts
on the day the contract was formed and ends with its month (or quarter), the last one
ends on the day the contract ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from nuages.kernel.calendar import shift_date_months

MONTHS = {"month": 1, "quarter": 3}


@dataclass(frozen=True)
class Period:
    """A billing period ``[start, end)`` inside its full calendar period ``[full_start,
    full_end)``; ``start > full_start`` for a first, partial period."""

    start: dt.date
    end: dt.date
    full_start: dt.date
    full_end: dt.date

    @property
    def key(self) -> str:
        """The period's identity on invoices (one invoice per contract and key)."""
        return self.start.isoformat()

    @property
    def full_days(self) -> int:
        """Days in the full calendar period: the denominator of every prorata."""
        return (self.full_end - self.full_start).days

    @property
    def months(self) -> int:
        """Calendar months the full period spans (1 or 3)."""
        return (self.full_end.year - self.full_start.year) * 12 + (
            self.full_end.month - self.full_start.month
        )

    @property
    def is_partial(self) -> bool:
        """Whether the period covers less than its full calendar period."""
        return self.start != self.full_start or self.end != self.full_end


def full_period(day: dt.date, kind: str) -> tuple[dt.date, dt.date]:
    """The calendar month or quarter containing ``day``."""
    months = MONTHS[kind]
    first_month = (day.month - 1) // months * months + 1
    start = dt.date(day.year, first_month, 1)
    return start, shift_date_months(start, months)


def periods(
    first_day: dt.date, kind: str, *, until: dt.date, ended_on: dt.date | None = None
) -> Iterator[Period]:
    """Every period from the one containing ``first_day`` whose start is before
    ``until`` (exclusive), cut at ``ended_on`` when the contract ended."""
    day = first_day
    while day < until and (ended_on is None or day < ended_on):
        full_start, full_end = full_period(day, kind)
        end = full_end if ended_on is None else min(full_end, ended_on)
        yield Period(day, end, full_start, full_end)
        day = full_end


def due_periods(
    first_day: dt.date,
    kind: str,
    timing: str,
    run_on: dt.date,
    ended_on: dt.date | None = None,
) -> list[Period]:
    """The periods a run on ``run_on`` may invoice: in advance, those started by then
    (001, 003, 004); in arrears, those ended by then (prepaid consumption)."""
    horizon = run_on + dt.timedelta(days=1)
    out = list(periods(first_day, kind, until=horizon, ended_on=ended_on))
    if timing == "arrears":
        out = [p for p in out if p.end <= run_on]
    return out


def previous(period: Period, kind: str, first_day: dt.date) -> Period | None:
    """The period before ``period`` (None for the first one)."""
    if period.start <= first_day:
        return None
    full_start, full_end = full_period(period.start - dt.timedelta(days=1), kind)
    start = max(full_start, first_day)
    return Period(start, period.start, full_start, full_end)


def overlap_days(a_start: dt.date, a_end: dt.date | None, b_start: dt.date, b_end: dt.date) -> int:
    """Days shared by ``[a_start, a_end)`` (open-ended when None) and ``[b_start, b_end)``."""
    start = max(a_start, b_start)
    end = b_end if a_end is None else min(a_end, b_end)
    return max(0, (end - start).days)
