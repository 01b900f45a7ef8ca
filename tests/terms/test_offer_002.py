"""Seed 002 (Axantis, Conditions Particulières v03.2025): the three offers files
(Cloud Datacenter, Cloud VM Avancé, Cloud VM Essentiel) through the calculators.

002 §6 read per SPEC §17: availability is a share of the month's coverage minutes,
Monday–Friday 08:00–18:00 (600 minutes a day) minus French public holidays and planned
maintenance. November 2026: 21 weekdays, Wed 11 November (Armistice) a holiday (1 November
is a Sunday) → 20 × 600 = 12,000. October 2026 (clocks go back on the 25th): 22 weekdays ×
600 = 13,200 coverage minutes, though the month has 44,700 real minutes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import sla
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.loader import load_offer
from nuages.terms.schema import Offer

OFFERS = Path(__file__).resolve().parents[2] / "offers"
DATACENTER = load_offer(OFFERS / "axantis-cloud-datacenter.toml")
AVANCE = load_offer(OFFERS / "axantis-cloud-vm-avance.toml")
ESSENTIEL = load_offer(OFFERS / "axantis-cloud-vm-essentiel.toml")
ALL = [DATACENTER, AVANCE, ESSENTIEL]
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def covered_outages(minutes: Decimal, first: dt.date = dt.date(2026, 10, 5)) -> list[sla.Outage]:
    """Outages filling whole coverage days from ``first`` (a Monday), then the remainder."""
    out: list[sla.Outage] = []
    day = first
    left = minutes
    while left > 0:
        chunk = min(left, Decimal(600))
        start = dt.datetime.combine(day, dt.time(8), tzinfo=PARIS)
        out.append(sla.Outage(start, start + dt.timedelta(microseconds=int(chunk * 60_000_000))))
        left -= chunk
        day += dt.timedelta(days=1)
    return out


def october(offer: Offer, minutes: str, amount: str = "1000") -> apply.SlaAssessment:
    return apply.sla_for_month(offer, 2026, 10, covered_outages(Decimal(minutes)), Decimal(amount))


def november(offer: Offer, minutes: str, amount: str = "1000") -> apply.SlaAssessment:
    outages = covered_outages(Decimal(minutes), dt.date(2026, 11, 2))
    return apply.sla_for_month(offer, 2026, 11, outages, Decimal(amount))


@pytest.mark.parametrize("offer", ALL, ids=lambda o: o.id)
def test_002_s6_denominator_is_coverage_minutes_12000_in_november_2026(offer: Offer) -> None:
    """002 §6 / SPEC §17: the seeds state ``denominator = "coverage_minutes"``; November
    2026 has 21 weekdays − Wed 11 November = 20 × 600 = 12,000 (of 43,200 minutes)."""
    assert offer.sla.denominator == "coverage_minutes"
    report = november(offer, "0").report
    assert (report.denominator, report.denominator_minutes) == ("coverage_minutes", 12_000)
    assert report.coverage_minutes == 12_000 and report.minutes_in_month == 43_200


@pytest.mark.parametrize("offer", ALL, ids=lambda o: o.id)
def test_002_s6_dst_month_october_2026_has_13200_coverage_minutes(offer: Offer) -> None:
    """002 §6: October 2026 (clocks go back Sun 25th): 22 weekdays × 600 = 13,200 coverage
    minutes — 08:00–18:00 on Mon 26 is still 10 real hours — of 44,700 real minutes.
    60 minutes down → (13200 − 60) / 13200 = 99.5454…% → 5 %."""
    result = october(offer, "60")
    assert result.report.minutes_in_month == 44_700
    assert result.report.denominator_minutes == 13_200
    assert result.report.availability_pct == (Decimal(13_200) - 60) / 132
    assert result.report.credit_rate_pct == 5


@pytest.mark.parametrize(
    ("minutes", "availability", "rate"),
    [
        # 18 min = 0.15 % of 12,000 → exactly 99.85 %: objective met, no credit.
        ("18", "99.85", "0"),
        # 30 min → 99.75 %: above 99.5, below 99.85 → 5 %.
        ("30", "99.75", "5"),
        # 59.99 min → 99.5000833… %: just above 99.5 → 5 %.
        ("59.99", None, "5"),
        # 60 min = 0.5 % → exactly 99.5 %: both written rows, the client's one: 10 %.
        ("60", "99.5", "10"),
        # 360 min = 3 % → exactly 97 %: "de 99,5 à 97 %" inclusive → 10 %.
        ("360", "97", "10"),
        # 361 min → 96.9916… %: below 97 → 20 %.
        ("361", None, "20"),
    ],
)
@pytest.mark.parametrize("offer", ALL, ids=lambda o: o.id)
def test_002_s6_credit_tiers(
    offer: Offer, minutes: str, availability: str | None, rate: str
) -> None:
    """002 §6 credit table read per SPEC §17 over November 2026's 12,000 coverage minutes:
    ≥ 99.85 none; ]99.5, 99.85[ 5 %; [97, 99.5] 10 % (the exact 99.5 % boundary is 60
    minutes); < 97 20 % — of a monthly amount of 1,000.00 (before the 20 % cap)."""
    result = november(offer, minutes)
    assert result.report.unavailable_minutes == Decimal(minutes)
    if availability is not None:
        assert result.report.availability_pct == Decimal(availability)
    assert result.report.credit_rate_pct == Decimal(rate)
    assert result.report.credit_before_cap == Decimal(rate) * 10
    assert result.objective_met is (rate == "0")


def test_002_s6_only_coverage_counts() -> None:
    """002 §6: Sat 10 October all day, Mon 12 October 18:00–23:00 and 06:00–08:00 are
    outside Mon–Fri 08:00–18:00: 0 minutes counted; Mon 12 October 17:00–19:00 counts 60."""
    outages = [
        sla.Outage(local(2026, 10, 10, 0), local(2026, 10, 11, 0)),
        sla.Outage(local(2026, 10, 12, 18), local(2026, 10, 12, 23)),
        sla.Outage(local(2026, 10, 12, 6), local(2026, 10, 12, 8)),
    ]
    assert (
        apply.sla_for_month(AVANCE, 2026, 10, outages, Decimal(1000)).report.unavailable_minutes
        == 0
    )
    straddling = [sla.Outage(local(2026, 10, 12, 17), local(2026, 10, 12, 19))]
    assert apply.sla_for_month(AVANCE, 2026, 10, straddling).report.unavailable_minutes == 60


def test_002_s6_public_holidays_excluded() -> None:
    """002 §6 "hors jours fériés": Wed 11 November 2026 (Armistice) 08:00–18:00 → 0."""
    outage = sla.Outage(local(2026, 11, 11, 8), local(2026, 11, 11, 18))
    assert apply.sla_for_month(ESSENTIEL, 2026, 11, [outage]).report.unavailable_minutes == 0


def test_002_s6_excusable_events_do_not_count() -> None:
    """002 §6 (i)–(vi): an outage caused by another telecom operator or the client's acts
    does not count; an unexplained one of the same 2 hours counts 120 minutes."""
    causes = set(AVANCE.sla.excusable_causes)
    assert {
        "client-acts",
        "planned-maintenance",
        "other-telecom-operator",
        "force-majeure",
    } <= causes
    start, end = local(2026, 10, 6, 9), local(2026, 10, 6, 11)
    for cause in ("other-telecom-operator", "client-acts", "traffic-above-capacity"):
        excused = apply.sla_for_month(AVANCE, 2026, 10, [sla.Outage(start, end, cause)])
        assert excused.report.unavailable_minutes == 0
    assert (
        apply.sla_for_month(AVANCE, 2026, 10, [sla.Outage(start, end)]).report.unavailable_minutes
        == 120
    )


def test_002_s6_planned_maintenance_excluded() -> None:
    """002 §6 "hors périodes de maintenance programmées": no notice is stated, so planned
    maintenance over the outage removes it: 0 minutes."""
    outage = sla.Outage(local(2026, 10, 6, 9), local(2026, 10, 6, 11))
    window = apply.MaintenanceWindow(outage.start, outage.end, None)
    result = apply.sla_for_month(DATACENTER, 2026, 10, [outage], maintenance=[window])
    assert result.report.unavailable_minutes == 0


def test_002_s6_rolling_cap_20pct_per_30_days() -> None:
    """002 §6: credits over any 30 consecutive days ≤ 20 % of the monthly fees (1,000.00 →
    200.00). 150.00 was issued on 20 October. October's 10 % (100.00) issued on 10 November
    shares a 30-day window with 20 October → room 200 − 150 = 50.00; issued on 1 December
    (42 days later) no window holds both → the full 100.00."""
    outages = covered_outages(Decimal("66"))  # 0.5 % of 13,200 → 99.5 %: 10 % in October
    previous = [sla.IssuedCredit(dt.date(2026, 10, 20), Decimal(150))]
    capped = apply.sla_for_month(
        AVANCE,
        2026,
        10,
        outages,
        Decimal(1000),
        previous_credits=previous,
        issued_on=dt.date(2026, 11, 10),
    )
    assert capped.report.credit_amount == Decimal("100.00")
    assert capped.credit_amount == Decimal("50.00") and capped.rolling_cap_applied
    later = apply.sla_for_month(
        AVANCE,
        2026,
        10,
        outages,
        Decimal(1000),
        previous_credits=previous,
        issued_on=dt.date(2026, 12, 1),
    )
    assert later.credit_amount == Decimal("100.00") and not later.rolling_cap_applied


def test_002_s6_single_month_never_above_20pct() -> None:
    """002 §6: even at 0 % availability one month's credit (20 %) fits the 20 % cap."""
    assert october(AVANCE, "13200", "1000").credit_amount == Decimal("200.00")
    assert AVANCE.sla.claim is not None and AVANCE.sla.claim.mode == "on_request"


def test_002_s4_three_month_probation_of_managed_services() -> None:
    """002 §4: footprint audit ended Sat 31 January 2026 → 3 calendar months → 30 April
    (clamped): the SLA applies to managed services from 1 May 00:00 CEST."""
    found = deadlines_for(AVANCE, Event.footprint_audit_end, local(2026, 1, 31, 17))
    assert [(d.name, d.ends_at) for d in found] == [
        ("sla-probation-end", local(2026, 5, 1).astimezone(UTC))
    ]


@pytest.mark.parametrize("offer", [AVANCE, ESSENTIEL], ids=lambda o: o.id)
def test_002_s3_snapshots_two_kept_seven_days(offer: Offer) -> None:
    """002 §3 (Avancé, Essentiel): at most 2 snapshots per VM, kept 7 days."""
    snaps = offer.snapshots
    assert snaps.available and snaps.max_per_vm == 2
    assert snaps.retention is not None and (snaps.retention.amount, snaps.retention.unit.value) == (
        7,
        "calendar_days",
    )


def test_002_s3_datacenter_has_no_snapshot_feature() -> None:
    """002 §3 Cloud Datacenter lists no snapshots."""
    assert not DATACENTER.snapshots.available


@pytest.mark.parametrize("offer", [DATACENTER, AVANCE], ids=lambda o: o.id)
def test_002_s3_5_backups_daily_7_or_31_days_offsite(offer: Offer) -> None:
    """002 §3.5: daily outside working hours, 7 or 31 rolling days, in another data
    centre (two sites at least), volume shown; custom retention only for Datacenter."""
    backups = offer.backups
    assert backups.available and backups.on_request
    assert (backups.frequency, backups.window) == ("daily", "outside_working_hours")
    assert backups.retention_days_choices == [7, 31]
    assert backups.offsite and backups.min_sites == 2 and backups.volume_shown
    assert backups.custom_retention_on_quote is (offer is DATACENTER)
    assert len(offer.catalogue.hosting.sites) >= 2


def test_002_s3_essentiel_single_french_datacenter_without_backups() -> None:
    """002 §3 Cloud VM Essentiel: one Ikoula data centre in France, no redundancy, and the
    listed features (exclusively) do not include backups."""
    hosting = ESSENTIEL.catalogue.hosting
    assert [s.id for s in hosting.sites] == ["ikoula-fr"]
    assert hosting.allows("FR") and not hosting.allows("BE")
    assert hosting.geo_redundancy == "none"
    assert not ESSENTIEL.backups.available
    assert AVANCE.catalogue.hosting.geo_redundancy == "optional"


def test_002_s3_6_firewall_tiers() -> None:
    """002 §3.6: basic built into Cloud VM offers; standard or advanced for Datacenter."""
    tiers = {o.firewall_tier for o in DATACENTER.catalogue.options if o.kind == "firewall"}
    assert tiers == {"standard", "advanced"}
    for offer in (AVANCE, ESSENTIEL):
        basic = [o for o in offer.catalogue.options if o.kind == "firewall"]
        assert [(o.firewall_tier, o.included) for o in basic] == [("basic", True)]


@pytest.mark.parametrize("offer", ALL, ids=lambda o: o.id)
def test_002_s10_reversibility_30_working_days(offer: Offer) -> None:
    """002 §10: 30 working days from receipt of the letter. Received Fri 3 April 2026:
    Easter Monday 6 April, 1 May, 8 May, Ascension 14 May are holidays → 7–10 Apr (4),
    13–17 (9), 20–24 (14), 27–30 (18), 4–7 May (22), 11–13 (25), 15 (26), 18–21 (30):
    ends with Thu 21 May 2026."""
    found = {
        d.name: d for d in deadlines_for(offer, Event.termination_notice, local(2026, 4, 3, 10))
    }
    window = found["reversibility-window"]
    assert window.last_day == dt.date(2026, 5, 21)
    assert window.ends_at == local(2026, 5, 22).astimezone(UTC)
    assert offer.reversibility.denied_after_payment_default
    assert offer.reversibility.after_window == "erase"
