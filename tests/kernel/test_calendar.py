"""The contract calendar: holidays, periods, DST and coverage windows (SPEC §16, §17)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.kernel.calendar import (
    ContractCalendar,
    CoverageWindow,
    Unit,
    intersect_intervals,
    interval_minutes,
    merge_intervals,
    shift_date_months,
    subtract_intervals,
)

UTC = dt.UTC
PARIS = ContractCalendar("Europe/Paris", "FR")
BRUSSELS = ContractCalendar("Europe/Brussels", "BE")
PARIS_TZ = ZoneInfo("Europe/Paris")


def paris(y: int, m: int, d: int, hh: int = 0, mm: int = 0, *, fold: int = 0) -> dt.datetime:
    """An aware UTC moment given as Paris wall-clock time."""
    return dt.datetime(y, m, d, hh, mm, fold=fold, tzinfo=PARIS_TZ).astimezone(UTC)


# hypothesis takes naive bounds and attaches the zone itself.
moments = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


# -- holidays and day kinds -------------------------------------------------------------


def test_spec_s16_holidays_follow_the_contract_law() -> None:
    """SPEC §16: 14 July is a French holiday, 21 July a Belgian one, not the other way."""
    assert PARIS.is_holiday(dt.date(2026, 7, 14))
    assert not PARIS.is_holiday(dt.date(2026, 7, 21))
    assert BRUSSELS.is_holiday(dt.date(2026, 7, 21))
    assert not BRUSSELS.is_holiday(dt.date(2026, 7, 14))


def test_spec_s16_jours_ouvres_and_ouvrables() -> None:
    """Saturday is ouvrable but not ouvré; a holiday is neither; Sunday is neither."""
    saturday, sunday, monday = dt.date(2026, 5, 9), dt.date(2026, 5, 10), dt.date(2026, 5, 11)
    victory_day = dt.date(2026, 5, 8)  # a Friday
    assert PARIS.is_jour_ouvrable(saturday) and not PARIS.is_working_day(saturday)
    assert not PARIS.is_jour_ouvrable(sunday) and not PARIS.is_working_day(sunday)
    assert not PARIS.is_jour_ouvrable(victory_day) and not PARIS.is_working_day(victory_day)
    assert PARIS.is_working_day(monday)


# -- month lengths ------------------------------------------------------------------------


def test_spec_s17_october_2026_paris_has_44700_minutes() -> None:
    """SPEC §17: 31 × 1440 + 60 (clocks go back on 25 Oct) = 44,700."""
    assert PARIS.minutes_in_month(2026, 10) == 44_700


def test_spec_s17_march_2026_paris_has_44580_minutes() -> None:
    """31 × 1440 − 60 (clocks go forward on 29 Mar) = 44,580."""
    assert PARIS.minutes_in_month(2026, 3) == 44_580


def test_month_without_dst_change() -> None:
    """February 2026: 28 × 1440 = 40,320; the zone is irrelevant."""
    assert PARIS.minutes_in_month(2026, 2) == 40_320
    assert ContractCalendar("UTC", "FR").minutes_in_month(2024, 2) == 29 * 1440


# -- periods -----------------------------------------------------------------------------


def test_spec_s17_calendar_days_skip_the_event_day() -> None:
    """8 days after an event on Mon 4 May 23:30 Paris end at the end of 12 May."""
    deadline = PARIS.add(paris(2026, 5, 4, 23, 30), 8, Unit.CALENDAR_DAYS)
    assert deadline == paris(2026, 5, 13)


def test_000_s16_clear_days() -> None:
    """000 §16: 15 clear days after a formal notice received Tue 3 Mar 2026.

    Neither 3 Mar nor the 15th day (18 Mar) counts: the period runs to the end of
    19 Mar, and termination may happen from 20 Mar 00:00 Paris.
    """
    deadline = BRUSSELS.add(paris(2026, 3, 3, 9), 15, Unit.CLEAR_DAYS)
    assert deadline == paris(2026, 3, 20)


def test_000_s7_two_clear_days_across_dst() -> None:
    """000 §7: maintenance announced Fri 27 Mar may start from Tue 31 Mar 00:00 (CEST).

    Clear days are Sat 28 and Sun 29 Mar (the DST day); 30 Mar is the excluded last day.
    """
    deadline = BRUSSELS.add(paris(2026, 3, 27, 15), 2, Unit.CLEAR_DAYS)
    assert deadline == dt.datetime(2026, 3, 30, 22, 0, tzinfo=UTC)


def test_003_s6_1_eight_working_days_skip_holidays() -> None:
    """003 §6.1: claim within 8 working days of an event on Mon 4 May 2026 (France).

    Working days: 5, 6, 7 (8 May Victory Day), 11, 12, 13 (14 May Ascension), 15, 18 May.
    """
    deadline = PARIS.add(paris(2026, 5, 4, 10), 8, Unit.WORKING_DAYS)
    assert deadline == paris(2026, 5, 19)
    assert PARIS.count_working_days(dt.date(2026, 5, 5), dt.date(2026, 5, 19)) == 8


def test_jours_ouvrables_count_saturdays() -> None:
    """3 jours ouvrables after Thu 7 May 2026: Sat 9 (8 May is a holiday), Mon 11, Tue 12."""
    assert PARIS.add(paris(2026, 5, 7, 10), 3, Unit.JOURS_OUVRABLES) == paris(2026, 5, 13)


def test_001_s12_72_calendar_hours_are_real_hours_across_dst() -> None:
    """001 §12: 72 calendar hours from Sat 24 Oct 2026 12:00 Paris end Tue 27 Oct 11:00.

    The clocks go back on 25 Oct, so 72 real hours show 71 on the wall clock.
    """
    assert BRUSSELS.add(paris(2026, 10, 24, 12), 72, Unit.HOURS) == paris(2026, 10, 27, 11)


def test_months_clamp_to_month_end() -> None:
    """CPC art. 641: 31 Jan + 1 month expires at the end of 28 Feb (2026, not leap)."""
    assert PARIS.add(paris(2026, 1, 31, 10), 1, Unit.MONTHS) == paris(2026, 3, 1)
    assert PARIS.add(paris(2026, 1, 15, 10), 1, Unit.MONTHS) == paris(2026, 2, 16)
    assert PARIS.add(paris(2024, 2, 29, 10), 1, Unit.YEARS) == paris(2025, 3, 1)
    assert shift_date_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)


def test_004_s5_shift_months_keeps_the_wall_clock() -> None:
    """004 §5: a 36-month term from 1 Jan 2026 00:00 Paris ends 1 Jan 2029 00:00 Paris."""
    assert PARIS.shift_months(paris(2026, 1, 1), 36) == paris(2029, 1, 1)
    # Winter to summer time: 10:00 stays 10:00 local.
    assert PARIS.shift_months(paris(2026, 1, 10, 10), 3) == paris(2026, 4, 10, 10)


def test_003_s12_withdrawal_extended_past_weekend_and_holiday() -> None:
    """003 §12: 7 clear days from Mon 6 Jul 2026 end on Tue 14 Jul, a holiday → Wed 15."""
    deadline = PARIS.add(paris(2026, 7, 6, 12), 7, Unit.CLEAR_DAYS)
    assert PARIS.last_day(deadline) == dt.date(2026, 7, 14)
    assert PARIS.extend_to_next_jour_ouvrable(deadline) == paris(2026, 7, 16)


def test_003_s12_withdrawal_ending_saturday_goes_to_monday() -> None:
    """003 §12: ending Sat 18 Apr 2026 → extended to the end of Mon 20 Apr."""
    deadline = PARIS.add(paris(2026, 4, 10, 12), 7, Unit.CLEAR_DAYS)
    assert PARIS.last_day(deadline) == dt.date(2026, 4, 18)
    assert PARIS.extend_to_next_jour_ouvrable(deadline) == paris(2026, 4, 21)


def test_003_s12_weekday_deadline_unchanged() -> None:
    """A period ending on an ordinary Wednesday is not extended."""
    deadline = paris(2026, 4, 16)
    assert PARIS.extend_to_next_jour_ouvrable(deadline) == deadline


def test_negative_periods_are_refused() -> None:
    """Periods are lengths; a negative one is a data error."""
    with pytest.raises(ValueError):
        PARIS.add(paris(2026, 1, 1), -1, Unit.CALENDAR_DAYS)


def test_naive_datetimes_are_refused() -> None:
    """A naive moment's zone is a guess; the calendar refuses it."""
    with pytest.raises(ValueError):
        PARIS.add(dt.datetime(2026, 1, 1), 1, Unit.HOURS)  # noqa: DTZ001


# -- wall clock and DST ------------------------------------------------------------------


def test_skipped_wall_time_maps_to_the_change() -> None:
    """02:30 does not exist on 29 Mar 2026 in Paris: the instant is the change, 01:00 UTC."""
    assert PARIS.local_to_utc(dt.date(2026, 3, 29), dt.time(2, 30)) == dt.datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )


def test_repeated_wall_time_first_or_last() -> None:
    """02:30 happens twice on 25 Oct 2026 in Paris: 00:30 UTC then 01:30 UTC."""
    day, wall = dt.date(2026, 10, 25), dt.time(2, 30)
    assert PARIS.local_to_utc(day, wall) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert PARIS.local_to_utc(day, wall, latest=True) == dt.datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


def test_midnight_skipped_by_dst() -> None:
    """Santiago skips 00:00–01:00 on 6 Sep 2026: the day starts at 01:00 local (04:00 UTC)."""
    santiago = ContractCalendar("America/Santiago", "FR")
    assert santiago.start_of_day(dt.date(2026, 9, 6)) == dt.datetime(2026, 9, 6, 4, tzinfo=UTC)


# -- coverage ----------------------------------------------------------------------------


def test_002_s6_business_hours_october_2026() -> None:
    """002 §6: Oct 2026 has 22 working days (no French holiday) × 600 min = 13,200."""
    start, end = PARIS.month_bounds(2026, 10)
    covered = PARIS.covered_intervals(CoverageWindow.business_hours(), start, end)
    assert len(covered) == 22
    assert interval_minutes(covered) == 13_200


def test_002_s6_coverage_skips_holidays() -> None:
    """May 2026: 21 weekdays minus 1, 8, 14 and 25 May = 17 covered days."""
    start, end = PARIS.month_bounds(2026, 5)
    covered = PARIS.covered_intervals(CoverageWindow.business_hours(), start, end)
    assert len(covered) == 17


def test_coverage_window_across_the_dst_day() -> None:
    """Mon 30 Mar 2026 (day after the change): 08:00–18:00 CEST = 06:00–16:00 UTC.

    On Fri 27 Mar (still CET) the same window is 07:00–17:00 UTC.
    """
    window = CoverageWindow.business_hours()
    covered = PARIS.covered_intervals(window, paris(2026, 3, 27), paris(2026, 3, 31))
    assert covered == [
        (dt.datetime(2026, 3, 27, 7, tzinfo=UTC), dt.datetime(2026, 3, 27, 17, tzinfo=UTC)),
        (dt.datetime(2026, 3, 30, 6, tzinfo=UTC), dt.datetime(2026, 3, 30, 16, tzinfo=UTC)),
    ]


def test_24_7_window_on_the_25_hour_day() -> None:
    """Sun 25 Oct 2026 lasts 25 hours in Paris; a 24/7 window covers all 1,500 minutes."""
    start, end = paris(2026, 10, 25), paris(2026, 10, 26)
    covered = PARIS.covered_intervals(CoverageWindow.always(), start, end)
    assert covered == [(start, end)]
    assert interval_minutes(covered) == 1500


def test_window_inside_the_repeated_hour_covers_both_passes() -> None:
    """A 01:00–02:30 window on 25 Oct 2026 runs from 01:00 CEST to the second 02:30 (CET)."""
    window = CoverageWindow(frozenset({6}), dt.time(1), dt.time(2, 30))
    covered = PARIS.covered_intervals(window, paris(2026, 10, 25), paris(2026, 10, 26))
    assert interval_minutes(covered) == 150


def test_000_s7_overnight_window() -> None:
    """000 §7 prefers maintenance 22:00–08:00: a Friday window ends Saturday 08:00."""
    window = CoverageWindow(frozenset({4}), dt.time(22), dt.time(8))
    covered = PARIS.covered_intervals(window, paris(2026, 6, 1), paris(2026, 6, 8))
    assert covered == [(paris(2026, 6, 5, 22), paris(2026, 6, 6, 8))]


def test_overlap_minutes_counts_overlapping_inputs_once() -> None:
    """Two outages 09:00–10:00 and 09:30–10:30 on a Monday overlap: 90 minutes, not 120."""
    window = CoverageWindow.business_hours()
    outages = [
        (paris(2026, 6, 1, 9), paris(2026, 6, 1, 10)),
        (paris(2026, 6, 1, 9, 30), paris(2026, 6, 1, 10, 30)),
    ]
    assert PARIS.overlap_minutes(window, outages) == 90
    # 17:30–19:00 only has its first 30 minutes inside 08:00–18:00.
    assert PARIS.overlap_minutes(window, [(paris(2026, 6, 1, 17, 30), paris(2026, 6, 1, 19))]) == 30


def test_coverage_window_rejects_nonsense() -> None:
    """Weekday 7 does not exist; a window starting and ending at 08:00 is ambiguous."""
    with pytest.raises(ValueError):
        CoverageWindow(frozenset({7}), dt.time(8), dt.time(18))
    with pytest.raises(ValueError):
        CoverageWindow(frozenset({0}), dt.time(8), dt.time(8))


# -- interval algebra --------------------------------------------------------------------


def test_interval_algebra() -> None:
    """Merge joins touching spans; intersection and subtraction are exact."""
    t = [dt.datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(10)]
    assert merge_intervals([(t[2], t[4]), (t[0], t[2]), (t[5], t[5])]) == [(t[0], t[4])]
    assert intersect_intervals([(t[0], t[5])], [(t[1], t[2]), (t[4], t[8])]) == [
        (t[1], t[2]),
        (t[4], t[5]),
    ]
    assert subtract_intervals([(t[0], t[9])], [(t[1], t[2]), (t[4], t[5])]) == [
        (t[0], t[1]),
        (t[2], t[4]),
        (t[5], t[9]),
    ]
    assert interval_minutes([(t[0], t[1]), (t[0], t[1])]) == Decimal(60)


# -- properties --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(event=moments, n=st.integers(min_value=0, max_value=60))
def test_working_days_round_trip(event: dt.datetime, n: int) -> None:
    """Adding n working days then counting the working days back gives n (both laws)."""
    for cal in (PARIS, BRUSSELS):
        deadline = cal.add(event, n, Unit.WORKING_DAYS)
        day = cal.local_date(event)
        assert cal.count_working_days(day + dt.timedelta(days=1), cal.local_date(deadline)) == n
        if n:
            assert cal.is_working_day(cal.last_day(deadline))


@settings(max_examples=200, deadline=None)
@given(event=moments, n=st.integers(min_value=0, max_value=40))
def test_clear_day_deadline_never_ends_on_the_event_day(event: dt.datetime, n: int) -> None:
    """A clear-day period lasts at least n + 1 whole local days after the event day."""
    deadline = PARIS.add(event, n, Unit.CLEAR_DAYS)
    event_day = PARIS.local_date(event)
    assert PARIS.last_day(deadline) != event_day
    assert (PARIS.last_day(deadline) - event_day).days == n + 1
    assert PARIS.to_local(deadline).time() == dt.time(0)


@settings(max_examples=100, deadline=None)
@given(start=moments, hours=st.integers(min_value=1, max_value=24 * 40))
def test_coverage_is_inside_the_range_and_business_hours(start: dt.datetime, hours: int) -> None:
    """Covered intervals stay in range, on eligible days, and within 08:00–18:00 local."""
    end = start + dt.timedelta(hours=hours)
    window = CoverageWindow.business_hours()
    for lo, hi in PARIS.covered_intervals(window, start, end):
        assert start <= lo < hi <= end
        day = PARIS.local_date(lo)
        assert PARIS.is_working_day(day)
        assert PARIS.local_date(hi - dt.timedelta(microseconds=1)) == day
        assert dt.time(8) <= PARIS.to_local(lo).time()
        assert (hi - lo) <= dt.timedelta(hours=10)
