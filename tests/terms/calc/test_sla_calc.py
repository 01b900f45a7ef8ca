"""SLA availability, credit tiers and caps (002 §6, 000 §5, 000 §7; SPEC §17)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.kernel.calendar import ContractCalendar, CoverageWindow, Unit
from nuages.terms.calc.sla import (
    TIERS_002_S6,
    BalancePoint,
    CreditTier,
    IssuedCredit,
    Outage,
    SlaPolicy,
    availability_pct,
    credit_rate,
    maintenance_is_excluded,
    month_report,
    negative_balance_periods,
    penalty_cap,
    rolling_cap_allowance,
    without_penalty_suspension,
)

UTC = dt.UTC
TZ = ZoneInfo("Europe/Paris")
PARIS = ContractCalendar("Europe/Paris", "FR")
BRUSSELS = ContractCalendar("Europe/Brussels", "BE")
POLICY_002 = SlaPolicy(
    coverage=CoverageWindow.business_hours(),
    tiers=TIERS_002_S6,
    excusable_causes=frozenset({"client_act", "force_majeure", "telecom_operator"}),
)
D = Decimal


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    """Paris wall-clock time as an aware UTC moment."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ).astimezone(UTC)


# -- tiers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("availability", "rate"),
    [
        ("100", "0"),
        ("99.85", "0"),  # objective met exactly: no credit
        ("99.8499", "5"),
        ("99.51", "5"),
        ("99.5", "10"),  # in both written rows: the client-favourable 10 % (SPEC §17)
        ("98", "10"),
        ("97", "10"),  # "de 99,5 à 97 %" includes 97
        ("96.9999", "20"),
        ("0", "20"),
    ],
)
def test_002_s6_credit_tiers(availability: str, rate: str) -> None:
    """002 §6 per SPEC §17: ≥99.85 → 0; ]99.5, 99.85[ → 5; [97, 99.5] → 10; <97 → 20."""
    assert credit_rate(D(availability), TIERS_002_S6) == D(rate)


def test_spec_s17_overlapping_tiers_pay_the_higher_rate() -> None:
    """A table written with 99.5 in both rows still pays 10 % at 99.5 (client's favour)."""
    literal = (
        CreditTier(D("99.5"), D("99.85"), True, False, D(5)),
        CreditTier(D(97), D("99.5"), True, True, D(10)),
    )
    assert credit_rate(D("99.5"), literal) == D(10)


# -- the monthly measure -----------------------------------------------------------------


def test_002_s6_availability_october_2026_over_coverage_minutes() -> None:
    """002 §6 / SPEC §17: Oct 2026 Paris, 22 weekdays × 600 = 13,200 coverage minutes; a
    90-minute outage on Tue 6 Oct 10:00–11:30.

    Availability = (13200 − 90) / 13200 × 100 = 99.3181…% → [97, 99.5] → 10 % of
    1,000.00 = 100.00 (over the 44,700 minutes of the month it would be 99.7986…%, 5 %).
    """
    outages = [Outage(at(2026, 10, 6, 10), at(2026, 10, 6, 11, 30))]
    report = month_report(PARIS, 2026, 10, outages, POLICY_002, D("1000.00"))
    assert report.minutes_in_month == 44_700
    assert (report.denominator, report.denominator_minutes) == ("coverage_minutes", 13_200)
    assert report.unavailable_minutes == 90
    assert report.availability_pct == (D(13_200) - 90) / D(13_200) * 100
    assert report.credit_rate_pct == 10
    assert report.credit_amount == D("100.00")


def test_002_s6_month_minutes_denominator_when_the_file_says_so() -> None:
    """The provider's literal formula (``denominator = "month_minutes"``): the same 90
    minutes over 44,700 → 99.7986…% → 5 % of 1,000.00 = 50.00."""
    policy = SlaPolicy(
        coverage=CoverageWindow.business_hours(), tiers=TIERS_002_S6, denominator="month_minutes"
    )
    outages = [Outage(at(2026, 10, 6, 10), at(2026, 10, 6, 11, 30))]
    report = month_report(PARIS, 2026, 10, outages, policy, D("1000.00"))
    assert (report.denominator, report.denominator_minutes) == ("month_minutes", 44_700)
    assert report.availability_pct == (D(44_700) - 90) / D(44_700) * 100
    assert report.credit_amount == D("50.00")


def test_002_s6_only_coverage_counts() -> None:
    """002 §6: a Saturday outage and the night part of a weekday outage do not count.

    Sat 10 Oct all day: 0. Mon 12 Oct 17:00–23:00: only 17:00–18:00 = 60 minutes.
    """
    outages = [
        Outage(at(2026, 10, 10, 0), at(2026, 10, 11, 0)),
        Outage(at(2026, 10, 12, 17), at(2026, 10, 12, 23)),
    ]
    report = month_report(PARIS, 2026, 10, outages, POLICY_002, D(1000))
    assert report.unavailable_minutes == 60


def test_002_s6_holiday_is_outside_coverage() -> None:
    """002 §6: 11 Nov 2026 (Armistice, a Wednesday) is a holiday: its outage is free."""
    outages = [Outage(at(2026, 11, 11, 8), at(2026, 11, 11, 18))]
    assert month_report(PARIS, 2026, 11, outages, POLICY_002, D(1000)).unavailable_minutes == 0


def test_002_s6_overlapping_outages_counted_once() -> None:
    """Two records of one incident, 09:00–10:00 and 09:30–10:30, count 90 minutes."""
    outages = [
        Outage(at(2026, 10, 6, 9), at(2026, 10, 6, 10)),
        Outage(at(2026, 10, 6, 9, 30), at(2026, 10, 6, 10, 30)),
    ]
    assert month_report(PARIS, 2026, 10, outages, POLICY_002, D(1000)).unavailable_minutes == 90


def test_002_s6_excusable_events_and_maintenance_excluded() -> None:
    """002 §6 (ii), (iii), (v): client acts, planned maintenance, telecom operators.

    Tue 6 Oct: a client-caused outage (60 min), an outage flagged excusable (60 min), a
    provider outage 14:00–16:00 of which 15:00–16:00 is planned maintenance → 60 min.
    """
    outages = [
        Outage(at(2026, 10, 6, 9), at(2026, 10, 6, 10), cause="client_act"),
        Outage(at(2026, 10, 6, 11), at(2026, 10, 6, 12), excusable=True),
        Outage(at(2026, 10, 6, 14), at(2026, 10, 6, 16), cause="disk_failure"),
    ]
    maintenance = [(at(2026, 10, 6, 15), at(2026, 10, 6, 16))]
    report = month_report(PARIS, 2026, 10, outages, POLICY_002, D(1000), maintenance=maintenance)
    assert report.unavailable_minutes == 60
    assert report.counted == ((at(2026, 10, 6, 14), at(2026, 10, 6, 15)),)


def test_minimum_outage_length() -> None:
    """Outages shorter than the minimum do not count; one that reaches it counts whole.

    Minimum 5 min: a 4-minute blip is ignored; 07:57–08:03 lasts 6 min and counts its
    3 covered minutes.
    """
    policy = SlaPolicy(CoverageWindow.business_hours(), minimum_outage=dt.timedelta(minutes=5))
    outages = [
        Outage(at(2026, 10, 6, 10), at(2026, 10, 6, 10, 4)),
        Outage(at(2026, 10, 7, 7, 57), at(2026, 10, 7, 8, 3)),
    ]
    assert month_report(PARIS, 2026, 10, outages, policy, D(1000)).unavailable_minutes == 3


def test_outage_spanning_months_counts_in_each() -> None:
    """An outage from Fri 30 Oct 17:00 to Mon 2 Nov 09:00 (24/7) splits at midnight local."""
    policy = SlaPolicy(CoverageWindow.always())
    outages = [Outage(at(2026, 10, 30, 17), at(2026, 11, 2, 9))]
    october = month_report(PARIS, 2026, 10, outages, policy, D(1000))
    november = month_report(PARIS, 2026, 11, outages, policy, D(1000))
    assert october.unavailable_minutes == 31 * 60
    assert november.unavailable_minutes == 33 * 60


def test_002_s6_month_cap() -> None:
    """A monthly cap of 20 %: a 20 % tier credit on 1,000.00 stays 200.00; 15 % cap → 150."""
    outages = [Outage(at(2026, 10, 1, 8), at(2026, 10, 31, 18))]
    capped = SlaPolicy(CoverageWindow.business_hours(), month_cap_pct=D(15))
    assert month_report(PARIS, 2026, 10, outages, POLICY_002, D(1000)).credit_amount == 200
    assert month_report(PARIS, 2026, 10, outages, capped, D(1000)).credit_amount == 150


def test_availability_rejects_impossible_inputs() -> None:
    """More unavailable minutes than the month has is a data error."""
    with pytest.raises(ValueError):
        availability_pct(100, D(101))


# -- caps --------------------------------------------------------------------------------


def test_002_s6_rolling_cap_30_days() -> None:
    """002 §6: 20 % of 500.00 = 100.00 per 30 consecutive days.

    60.00 issued 1 Oct; on 30 Oct (same 30-day window) only 40.00 more; on 31 Oct the
    1 Oct credit has left the window, so 80.00 passes whole.
    """
    previous = [IssuedCredit(dt.date(2026, 10, 1), D("60.00"))]
    assert rolling_cap_allowance(D(80), dt.date(2026, 10, 30), previous, D(500)) == D("40.00")
    assert rolling_cap_allowance(D(80), dt.date(2026, 10, 31), previous, D(500)) == D("80.00")


def test_002_s6_rolling_cap_sees_back_dated_credits() -> None:
    """A credit issued later than the new one's date still shares windows with it."""
    previous = [IssuedCredit(dt.date(2026, 10, 20), D("90.00"))]
    assert rolling_cap_allowance(D(50), dt.date(2026, 10, 5), previous, D(500)) == D("10.00")


def test_000_s5_penalty_cap_30_percent() -> None:
    """000 §5: penalties ≤ 30 % of the month's invoice: 400 on a 1,000.00 invoice → 300.00."""
    assert penalty_cap(D(400), D("1000.00")) == D("300.00")
    assert penalty_cap(D("120.004"), D("1000.00")) == D("120.00")
    # 30 % of 33.33 is 9.999: the cap rounds down so it is never exceeded.
    assert penalty_cap(D(50), D("33.33")) == D("9.99")


def test_000_s5_negative_balance_suspends_penalties() -> None:
    """000 §5: while the prepaid account is negative, outage time earns no penalty.

    Balance: +10 until 6 Oct 09:30, −5 until 6 Oct 10:15, then +95. A 09:00–11:00 outage
    keeps 09:00–09:30 and 10:15–11:00: 75 minutes.
    """
    points = [
        BalancePoint(at(2026, 10, 1), D(10)),
        BalancePoint(at(2026, 10, 6, 9, 30), D(-5)),
        BalancePoint(at(2026, 10, 6, 10, 15), D(95)),
    ]
    negative = negative_balance_periods(points, at(2026, 11, 1))
    assert negative == [(at(2026, 10, 6, 9, 30), at(2026, 10, 6, 10, 15))]
    outages = [Outage(at(2026, 10, 6, 9), at(2026, 10, 6, 11))]
    report = month_report(
        BRUSSELS, 2026, 10, outages, POLICY_002, D(1000), penalty_suspended=negative
    )
    assert report.unavailable_minutes == 75
    assert without_penalty_suspension([(at(2026, 10, 6, 9), at(2026, 10, 6, 11))], negative) == [
        (at(2026, 10, 6, 9), at(2026, 10, 6, 9, 30)),
        (at(2026, 10, 6, 10, 15), at(2026, 10, 6, 11)),
    ]


def test_000_s5_balance_still_negative_at_the_end() -> None:
    """A balance that never recovers keeps penalties suspended up to ``until``."""
    points = [BalancePoint(at(2026, 10, 20), D(-1))]
    assert negative_balance_periods(points, at(2026, 11, 1)) == [
        (at(2026, 10, 20), at(2026, 11, 1))
    ]


def test_000_s7_maintenance_needs_two_clear_days() -> None:
    """000 §7: announced Mon 5 Oct 10:00 → excluded from penalties if it starts ≥ Fri 9 Oct.

    Clear days: Tue 6 and Wed 7 Oct; the announcement day and the last day (Thu 8) do not
    count (SPEC §16), so the maintenance may start from Fri 9 Oct 00:00 Brussels.
    """
    announced = at(2026, 10, 5, 10)
    assert maintenance_is_excluded(BRUSSELS, announced, at(2026, 10, 9))
    assert not maintenance_is_excluded(BRUSSELS, announced, at(2026, 10, 8, 22))
    # 001 §6: 24 hours ahead.
    assert maintenance_is_excluded(
        BRUSSELS, announced, at(2026, 10, 6, 10), notice=24, unit=Unit.HOURS
    )
    assert not maintenance_is_excluded(
        BRUSSELS, announced, at(2026, 10, 6, 9, 59), notice=24, unit=Unit.HOURS
    )


# -- properties --------------------------------------------------------------------------

OCTOBER = (at(2026, 10, 1), at(2026, 11, 1))


@st.composite
def outages_in_october(draw: st.DrawFn) -> Outage:
    """Outages anywhere in Oct 2026 (and a little around it), minute resolution."""
    start = draw(st.integers(min_value=-600, max_value=44_700 + 600))
    length = draw(st.integers(min_value=1, max_value=3 * 1440))
    base = OCTOBER[0]
    return Outage(
        base + dt.timedelta(minutes=start),
        base + dt.timedelta(minutes=start + length),
        cause=draw(st.sampled_from([None, "client_act", "disk_failure"])),
        excusable=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(outages=st.lists(outages_in_october(), max_size=8), extra=outages_in_october())
def test_availability_bounded_and_monotonic(outages: list[Outage], extra: Outage) -> None:
    """Availability stays in [0, 100] and never rises when an outage is added."""
    policies = (
        POLICY_002,
        SlaPolicy(CoverageWindow.always()),
        SlaPolicy(CoverageWindow.business_hours(), minimum_outage=dt.timedelta(minutes=30)),
    )
    for policy in policies:
        before = month_report(PARIS, 2026, 10, outages, policy, D(1000))
        after = month_report(PARIS, 2026, 10, [*outages, extra], policy, D(1000))
        assert 0 <= after.availability_pct <= before.availability_pct <= 100
        assert after.credit_rate_pct >= before.credit_rate_pct


amounts = st.decimals(min_value=0, max_value=10_000, places=2)


@settings(max_examples=200, deadline=None)
@given(
    proposed=amounts,
    fee=amounts,
    history=st.lists(st.tuples(st.integers(min_value=-40, max_value=40), amounts), max_size=6),
)
def test_credits_never_exceed_the_rolling_cap(
    proposed: Decimal, fee: Decimal, history: list[tuple[int, Decimal]]
) -> None:
    """002 §6: issuing credits one after another, no 30-day window ever exceeds 20 % of fees.

    Every credit in the sequence goes through ``rolling_cap_allowance``; then every
    30-day window is summed.
    """
    day0 = dt.date(2026, 10, 15)
    issued: list[IssuedCredit] = []
    for offset, amount in [*history, (0, proposed)]:
        day = day0 + dt.timedelta(days=offset)
        allowed = rolling_cap_allowance(amount, day, issued, fee)
        assert 0 <= allowed <= amount.quantize(D("0.01"))
        issued.append(IssuedCredit(day, allowed))
    cap = fee * D("0.20")
    for first_offset in range(-80, 50):
        first = day0 + dt.timedelta(days=first_offset)
        window = [c.amount for c in issued if first <= c.issued_on < first + dt.timedelta(days=30)]
        assert sum(window, D(0)) <= cap


@settings(max_examples=200, deadline=None)
@given(penalties=amounts, invoice=amounts)
def test_000_s5_penalty_never_exceeds_30_percent(penalties: Decimal, invoice: Decimal) -> None:
    """000 §5: the capped penalty is ≤ 30 % of the invoice and ≤ the penalty itself."""
    capped = penalty_cap(penalties, invoice)
    assert 0 <= capped <= invoice * D("0.30")
    assert capped <= penalties
