"""002 §6 read again (issue 20, SPEC §10 and §17): availability over the month's coverage
minutes, the cap of the failing service, and the client's failure notice.

Coverage is Monday–Friday 08:00–18:00 Paris (600 minutes a day) minus French public
holidays and planned maintenance.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import sla
from nuages.terms.loader import load_offer

OFFERS = Path(__file__).resolve().parents[2] / "offers"
AVANCE = load_offer(OFFERS / "axantis-cloud-vm-avance.toml")
DATACENTER = load_offer(OFFERS / "axantis-cloud-datacenter.toml")
PARIS = ZoneInfo("Europe/Paris")
D = Decimal


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def test_002_s6_month_with_two_public_holidays_november_2027() -> None:
    """002 §6 "hors jours fériés": November 2027 has 22 weekdays, two of them holidays (Mon
    1 November, Thu 11 November) → 20 × 600 = 12,000 coverage minutes. An outage over both
    holidays 08:00–18:00 counts 0; 120 minutes on Tue 2 November → (12000 − 120) / 12000
    = 99 % → 10 % of 500.00 = 50.00."""
    holidays = [
        sla.Outage(local(2027, 11, 1, 8), local(2027, 11, 1, 18)),
        sla.Outage(local(2027, 11, 11, 8), local(2027, 11, 11, 18)),
    ]
    quiet = apply.sla_for_month(AVANCE, 2027, 11, holidays, D(500))
    assert quiet.report.denominator_minutes == 12_000
    assert quiet.report.unavailable_minutes == 0 and quiet.credit_amount == D("0.00")
    down = [*holidays, sla.Outage(local(2027, 11, 2, 9), local(2027, 11, 2, 11))]
    result = apply.sla_for_month(AVANCE, 2027, 11, down, D(500))
    assert result.report.availability_pct == D(99)
    assert result.report.credit_rate_pct == 10 and result.credit_amount == D("50.00")


@pytest.mark.parametrize(
    ("minutes", "rate"),
    [
        # 60 of 12,000 = 0.5 % → exactly 99.5 %: in both written rows, the client's: 10 %.
        ("60", "10"),
        # 59 minutes → 99.5083… %: above 99.5 → 5 %.
        ("59", "5"),
        # 61 minutes → 99.4916… %: 10 %.
        ("61", "10"),
    ],
)
def test_002_s6_exact_99_5_boundary_over_coverage_minutes(minutes: str, rate: str) -> None:
    """002 §6 / SPEC §17 over November 2026's 12,000 coverage minutes (21 weekdays − Wed
    11 November): 99.5 % is exactly 60 minutes down; over the 43,200 minutes of the month
    the same 60 minutes would be 99.8611… %, a 5 % credit instead of 10 %."""
    start = local(2026, 11, 3, 9)
    outage = sla.Outage(start, start + dt.timedelta(minutes=int(minutes)))
    result = apply.sla_for_month(AVANCE, 2026, 11, [outage], D(1000))
    assert result.report.denominator == "coverage_minutes"
    assert result.report.denominator_minutes == 12_000
    assert result.report.availability_pct == (D(12_000) - D(minutes)) / 120
    assert result.report.credit_rate_pct == D(rate)


def test_002_s6_planned_maintenance_leaves_the_denominator() -> None:
    """002 §6 "hors périodes de maintenance programmées": 4 hours of maintenance on Thu
    5 November 2026 08:00–12:00 leave 12,000 − 240 = 11,760 coverage minutes; 60 minutes
    down on Tue 3 November → (11760 − 60) / 11760 = 99.4897… % → 10 %."""
    window = apply.MaintenanceWindow(local(2026, 11, 5, 8), local(2026, 11, 5, 12))
    outage = sla.Outage(local(2026, 11, 3, 9), local(2026, 11, 3, 10))
    result = apply.sla_for_month(AVANCE, 2026, 11, [outage], D(1000), maintenance=[window])
    assert result.report.coverage_minutes == 11_760
    assert result.report.availability_pct == D(11_700) / D(11_760) * 100
    assert result.report.credit_rate_pct == 10


def test_002_s6_cap_is_20pct_of_the_failing_service_not_the_contract() -> None:
    """002 §6 "20 % des frais mensuels du service défaillant": the contract's monthly
    amount is 1,000.00, the failing VM's fee 150.00. 400 minutes down in November 2026
    (96.666… % → 20 %) credits 200.00 before the cap; the rolling cap is 20 % of 150.00
    = 30.00, not 20 % of 1,000.00."""
    assert AVANCE.sla.caps.rolling_basis == "failing_service"
    outage = sla.Outage(local(2026, 11, 3, 8), local(2026, 11, 3, 14, 40), service="vm-1")
    result = apply.sla_for_month(AVANCE, 2026, 11, [outage], D(1000), service_monthly_fee=D(150))
    assert result.report.credit_amount == D("200.00")
    assert result.credit_amount == D("30.00") and result.rolling_cap_applied
    assert result.rolling_cap_base == D(150)


def test_002_s6_failure_notice_before_detection_counts_from_the_notice() -> None:
    """002 §6 "Notification de Défaillance": the client notified vm-1 failing on Tue
    3 November 2026 at 09:00; the platform detected the outage from 09:50 to 10:50. It
    counts from 09:00: 110 minutes, not 60 → (12000 − 110) / 12000 = 99.0833… % → 10 %."""
    outage = sla.Outage(local(2026, 11, 3, 9, 50), local(2026, 11, 3, 10, 50), service="vm-1")
    notice = sla.FailureNotice("vm-1", local(2026, 11, 3, 9))
    result = apply.sla_for_month(AVANCE, 2026, 11, [outage], D(1000), failure_notices=[notice])
    assert result.report.unavailable_minutes == 110
    without = apply.sla_for_month(AVANCE, 2026, 11, [outage], D(1000))
    assert without.report.unavailable_minutes == 60


def test_002_s6_failure_notice_does_not_reach_back_over_a_working_span() -> None:
    """A notice applies to the first outage after it, and only if the service was not seen
    working between the two: a notice at 09:00 followed by an outage 09:10–09:20 (which
    takes it: 20 minutes) does not also stretch the next outage 11:00–11:30 back (30). A
    notice about vm-2 never moves vm-1's outage. Total 50 minutes."""
    outages = [
        sla.Outage(local(2026, 11, 3, 9, 10), local(2026, 11, 3, 9, 20), service="vm-1"),
        sla.Outage(local(2026, 11, 3, 11), local(2026, 11, 3, 11, 30), service="vm-1"),
    ]
    notices = [
        sla.FailureNotice("vm-1", local(2026, 11, 3, 9)),
        sla.FailureNotice("vm-2", local(2026, 11, 3, 8)),
    ]
    moved = sla.with_failure_notices(outages, notices)
    assert [o.start for o in moved] == [local(2026, 11, 3, 9), local(2026, 11, 3, 11)]
    result = apply.sla_for_month(AVANCE, 2026, 11, outages, D(1000), failure_notices=notices)
    assert result.report.unavailable_minutes == 50


def test_002_s6_no_coverage_left_is_full_availability() -> None:
    """A month whose every covered minute was planned maintenance has nothing to miss:
    availability 100 %, no credit (never a division by zero)."""
    assert sla.availability_pct(D(0), D(0)) == 100


def test_002_s6_seed_offers_state_the_denominator_and_the_notice() -> None:
    """The three 002 files state ``denominator = "coverage_minutes"`` and
    ``failure_notice = true`` (002 §6)."""
    for offer in (AVANCE, DATACENTER):
        assert offer.sla.denominator == "coverage_minutes" and offer.sla.failure_notice
