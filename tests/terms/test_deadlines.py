"""Deadlines of every offer: properties over arbitrary moments (hypothesis) and the
turning-around of "at least N before the term" notices."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.kernel.calendar import Unit as CalendarUnit
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import Event, deadlines_for, latest_notice, term_ends
from nuages.terms.loader import load_offers
from nuages.terms.schema import Duration, Offer, Unit

OFFERS = load_offers(Path(__file__).resolve().parents[2] / "offers")
ISSTAR, VIRTUALSR = OFFERS["isstar-cloud"], OFFERS["virtualsr-svp"]

# hypothesis takes naive bounds and attaches the zone itself.
moments = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
)

# Windows counted in clear days: 000 §7 maintenance (2), 000 §16 cure (15), 003 §12
# withdrawal (7, consumers).
CLEAR_DAY_WINDOWS = [
    (ISSTAR, Event.maintenance_announcement, "maintenance-earliest-start", False),
    (ISSTAR, Event.breach_notice, "breach-cure-end", False),
    (VIRTUALSR, Event.withdrawal_start, "consumer-withdrawal", True),
]


@settings(max_examples=300, deadline=None)
@given(at=moments, which=st.sampled_from(CLEAR_DAY_WINDOWS))
def test_clear_day_deadline_never_ends_on_the_event_day(
    at: dt.datetime, which: tuple[Offer, Event, str, bool]
) -> None:
    """SPEC §16: in jours francs neither the event day nor the last day counts, so the
    window's last day is at least N + 1 days after the event's local date."""
    offer, event, name, consumer = which
    calendar = calendar_for(offer)
    [deadline] = [d for d in deadlines_for(offer, event, at, consumer=consumer) if d.name == name]
    event_day = calendar.local_date(at)
    assert deadline.last_day != event_day
    assert deadline.last_day > event_day
    assert calendar.local_date(deadline.ends_at) > event_day
    minimum = {"maintenance-earliest-start": 3, "breach-cure-end": 16, "consumer-withdrawal": 8}
    assert (deadline.last_day - event_day).days >= minimum[name]
    assert calendar.to_local(deadline.ends_at).time() == dt.time(0)


@settings(max_examples=150, deadline=None)
@given(at=moments, offer=st.sampled_from(sorted(OFFERS.values(), key=lambda o: o.id)))
def test_windows_after_an_event_end_after_it(at: dt.datetime, offer: Offer) -> None:
    """Every window opened by an event ends after the event, except the notices that must
    arrive *before* a term end, which end before it."""
    before = {"non-renewal-notice-latest", "renewal-tariffs-notice-latest"}
    for event in Event:
        for deadline in deadlines_for(offer, event, at, consumer=True):
            if deadline.name in before:
                assert deadline.ends_at <= at
            elif deadline.name == "late-interest-from":
                assert deadline.ends_at >= at
            else:
                assert deadline.ends_at > at, (offer.id, event, deadline)


@settings(max_examples=200, deadline=None)
@given(
    end=moments,
    amount=st.integers(min_value=1, max_value=120),
    unit=st.sampled_from(
        [Unit.hours, Unit.calendar_days, Unit.clear_days, Unit.working_days, Unit.months]
    ),
    offer=st.sampled_from([ISSTAR, VIRTUALSR]),
)
def test_latest_notice_is_the_last_moment_in_time(
    end: dt.datetime, amount: int, unit: Unit, offer: Offer
) -> None:
    """A notice just before ``latest_notice`` leaves the full notice before the term end;
    one at ``latest_notice`` does not."""
    calendar = calendar_for(offer)
    notice = Duration(amount=amount, unit=unit)
    limit = latest_notice(calendar, end, notice)
    cal_unit = CalendarUnit(unit.value)
    last_in_time = limit - dt.timedelta(microseconds=1)
    assert calendar.add(last_in_time, amount, cal_unit) <= end
    if unit is Unit.hours:
        # Elapsed time: the limit itself leaves exactly the notice (treated as late).
        assert calendar.add(limit, amount, cal_unit) == end
    else:
        assert calendar.add(limit, amount, cal_unit) > end
        assert calendar.to_local(limit).time() == dt.time(0)


def test_term_ends_are_increasing_for_every_offer() -> None:
    """Initial term then renewals: strictly increasing (tacit renewal, 000 §9, 001 §3.2,
    003 §11.1, 004 §5)."""
    start = dt.datetime(2026, 1, 31, 8, tzinfo=dt.UTC)
    for offer in OFFERS.values():
        ends = term_ends(offer, start)
        got = [next(ends) for _ in range(5)]
        assert got == sorted(set(got)) and got[0] > start, offer.id


def test_events_without_windows_return_nothing() -> None:
    """An event the offer says nothing about opens no window (004 has no withdrawal)."""
    at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    assert (
        deadlines_for(OFFERS["optima-cloud-azure"], Event.withdrawal_start, at, consumer=True) == []
    )
    assert deadlines_for(OFFERS["cloudbizz"], Event.force_majeure_start, at) == []
