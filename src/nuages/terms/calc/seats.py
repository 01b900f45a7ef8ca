"""User seats committed for a minimum subscription each (001 §4.1–4.3, issue 20).

001 §4.2 (ii) / §4.1: "chaque utilisateur" is subscribed for at least 12 months. Read
per seat: a seat added on day D is committed until D + 12 months (exclusive, clamped to
the month's end); removing it earlier does not stop its billing before then. Dates are
contract-local calendar dates; periods are half-open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from nuages.kernel.calendar import shift_date_months

CLAUSE = "001 §4.1–4.3"


@dataclass(frozen=True)
class Seat:
    """A subscribed user seat: billed from ``added_on``; ``removed_on`` when asked."""

    added_on: dt.date
    removed_on: dt.date | None = None

    def __post_init__(self) -> None:
        if self.removed_on is not None and self.removed_on < self.added_on:
            raise ValueError(f"a seat is removed after it is added: {self.added_on}")


@dataclass(frozen=True)
class SeatRemoval:
    """What removing a seat does: when billing stops, and why (the clause)."""

    requested_on: dt.date
    committed_until: dt.date
    billed_until: dt.date
    early: bool
    message: str


def committed_until(added_on: dt.date, months: int) -> dt.date:
    """The first day a seat added on ``added_on`` is no longer committed (001 §4.2)."""
    if months < 0:
        raise ValueError("a commitment is never negative")
    return shift_date_months(added_on, months)


def seat_removal(seat_added_on: dt.date, removed_on: dt.date, months: int) -> SeatRemoval:
    """Removing a seat on ``removed_on``: billed to the end of its commitment if earlier.

    A seat added 15 January 2026 and removed 1 June 2026 stays billed until 15 January
    2027 (exclusive): the removal is accepted, its billing is not cut short.
    """
    if removed_on < seat_added_on:
        raise ValueError(f"removed_on: {removed_on} is before the seat was added ({seat_added_on})")
    until = committed_until(seat_added_on, months)
    early = removed_on < until
    billed = max(removed_on, until)
    message = (
        f"each user is subscribed for at least {months} months ({CLAUSE}): the seat added "
        f"on {seat_added_on.isoformat()} stays billed until {until.isoformat()} (exclusive)"
        if early
        else f"the seat's {months}-month commitment ({CLAUSE}) ended on {until.isoformat()}"
    )
    return SeatRemoval(removed_on, until, billed, early, message)


def billed_seats(
    seats: Sequence[Seat], period_start: dt.date, period_end: dt.date, months: int
) -> int:
    """How many seats are billed over ``[period_start, period_end)``: every seat whose
    billed span ``[added_on, max(removed_on, committed end))`` meets the period."""
    count = 0
    for seat in seats:
        end = committed_until(seat.added_on, months)
        if seat.removed_on is not None:
            end = max(end, seat.removed_on)
        else:
            end = dt.date.max
        if seat.added_on < period_end and end > period_start:
            count += 1
    return count
