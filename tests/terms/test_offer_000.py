"""Seed 000 (IS.Star, CGV SOPRIVE V.0.1): every stated number, from offers/isstar-cloud.toml
through the calculators. Hand computations are in each docstring."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import interest, liability, sla
from nuages.terms.deadlines import Event, deadlines_for, term_ends
from nuages.terms.loader import load_offer

OFFER = load_offer(Path(__file__).resolve().parents[2] / "offers" / "isstar-cloud.toml")
BXL = ZoneInfo("Europe/Brussels")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BXL)


def only(event: Event, at: dt.datetime, name: str) -> dt.datetime:
    found = [d for d in deadlines_for(OFFER, event, at) if d.name == name]
    assert len(found) == 1, found
    return found[0].ends_at


def test_000_identity_belgian_law_business_only() -> None:
    """000 §19 Belgian law; 000 §1: offers are not designed for consumers."""
    assert OFFER.id == "isstar-cloud"
    assert (OFFER.offer.law, OFFER.offer.holidays) == ("BE", "BE")
    assert OFFER.offer.timezone == "Europe/Brussels"
    assert OFFER.offer.clients == ["business"]
    assert OFFER.offer.source.version == "V.0.1"


def test_000_s3_3_derogation_formula() -> None:
    """000 §3.3: a negotiated clause prevails only if it opens with the formula."""
    derogations = OFFER.offer.derogations
    assert derogations.allowed and derogations.only_in_negotiated_agreement
    assert derogations.formula == "Par dérogation aux Conditions Générales de Vente SOPRIVE V.0.1"


def test_000_s4_one_month_to_refuse_a_terms_change() -> None:
    """000 §4: e-mail received Tue 10 March 2026 10:00 → refusal possible to the end of
    10 April (event day not counted, one month later): 11 April 00:00 CEST = 10 April 22:00Z."""
    end = only(Event.terms_change, local(2026, 3, 10, 10), "refuse-terms-change")
    assert end == dt.datetime(2026, 4, 10, 22, tzinfo=UTC)
    assert OFFER.changes.refusal_by == "registered_letter"
    assert OFFER.changes.silence_is_acceptance and not OFFER.changes.legal_changes_refusable


def test_000_s7_maintenance_two_clear_days() -> None:
    """000 §7: announced Mon 2 March 2026 15:00 → clear days 3 and 4 March, the last day
    (5 March) does not count either → may start from Fri 6 March 00:00 (5 March 23:00Z)."""
    end = only(Event.maintenance_announcement, local(2026, 3, 2, 15), "maintenance-earliest-start")
    assert end == dt.datetime(2026, 3, 5, 23, tzinfo=UTC)
    assert OFFER.maintenance.preferred_window is not None
    assert (OFFER.maintenance.preferred_window.start, OFFER.maintenance.preferred_window.end) == (
        22 * 60,
        8 * 60,
    )


def test_000_s7_late_announced_maintenance_counts_against_the_sla() -> None:
    """000 §7: a 2-hour maintenance on Thu 5 March 2026 01:00–03:00 announced on 3 March
    (too late: the earliest start was 7 March 00:00) counts: 120 of the 44,580 minutes of
    March 2026 in Brussels (31 × 1440 − 60) → 99.73 % → example tier 10 % of 1,000.00;
    announced on 1 March (earliest 5 March 00:00) it is excluded → 100 %."""
    outage = sla.Outage(local(2026, 3, 5, 1), local(2026, 3, 5, 3))
    late = apply.MaintenanceWindow(outage.start, outage.end, local(2026, 3, 3, 9))
    timely = apply.MaintenanceWindow(outage.start, outage.end, local(2026, 3, 1, 9))
    counted = apply.sla_for_month(OFFER, 2026, 3, [outage], Decimal(1000), maintenance=[late])
    assert counted.report.minutes_in_month == 44_580
    assert counted.report.unavailable_minutes == 120
    assert counted.credit_amount == Decimal("100.00")
    excused = apply.sla_for_month(OFFER, 2026, 3, [outage], Decimal(1000), maintenance=[timely])
    assert excused.report.unavailable_minutes == 0 and excused.credit_amount == 0


def test_000_s5_penalty_cap_30pct() -> None:
    """000 §5: penalties ≤ 30 % of the month's invoice. A 10-hour outage in March 2026
    (600 / 44,580 → 98.65 %) falls in the example < 99 % tier (50 %); on a 1,000.00 invoice
    that is 500.00, capped at 300.00."""
    outage = sla.Outage(local(2026, 3, 10, 8), local(2026, 3, 10, 18))
    result = apply.sla_for_month(OFFER, 2026, 3, [outage], Decimal(1000))
    assert result.report.credit_rate_pct == 50
    assert result.report.credit_before_cap == Decimal(500)
    assert result.credit_amount == Decimal("300.00")
    assert OFFER.sla.credit_basis == "month_invoice" and OFFER.sla.full_settlement


def test_000_s5_penalties_suspended_while_balance_negative() -> None:
    """000 §5: a 3-hour outage 10 March 09:00–12:00 while the account was negative from
    10:00 to 11:00: only 2 hours count (120 min); with a positive balance all 180 count."""
    outage = sla.Outage(local(2026, 3, 10, 9), local(2026, 3, 10, 12))
    negative = sla.negative_balance_periods(
        [
            sla.BalancePoint(local(2026, 3, 10, 10), Decimal("-5")),
            sla.BalancePoint(local(2026, 3, 10, 11), Decimal("20")),
        ],
        until=local(2026, 4, 1),
    )
    suspended = apply.sla_for_month(
        OFFER, 2026, 3, [outage], Decimal(100), negative_balance=negative
    )
    assert suspended.report.unavailable_minutes == 120
    normal = apply.sla_for_month(OFFER, 2026, 3, [outage], Decimal(100))
    assert normal.report.unavailable_minutes == 180


def test_000_s9_never_less_than_one_hour() -> None:
    """000 §9: a service never lasts less than 1 hour: ordered at 10:17 → billed to 11:17."""
    prepaid = OFFER.billing.prepaid
    assert prepaid is not None
    assert (prepaid.minimum_billed.amount, prepaid.minimum_billed.unit.value) == (1, "hours")
    end = only(Event.order, local(2026, 3, 2, 10, 17), "minimum-service-end")
    assert end == local(2026, 3, 2, 11, 17).astimezone(UTC)


def test_000_s9_one_month_default_renewed_for_the_same_duration() -> None:
    """000 §9: default 1 month, tacitly renewed for the same duration: a contract from
    31 January 2026 09:00 ends 28 February, then 31 March, then 30 April (from the start)."""
    ends = term_ends(OFFER, local(2026, 1, 31, 9))
    got = [next(ends) for _ in range(3)]
    assert got == [local(2026, 2, 28, 9), local(2026, 3, 31, 9), local(2026, 4, 30, 9)]


def test_000_s11_2_negative_balance_suspends_without_notice() -> None:
    """000 §11.2: a negative balance allows suspension without notice; 000 §11.1 suspension
    is still billed."""
    ground = {g.cause: g for g in OFFER.suspension.grounds}["negative-balance"]
    assert ground.notice == "none" and ground.billed
    assert OFFER.billing.prepaid is not None
    assert OFFER.billing.prepaid.on_negative_balance == "suspend_without_notice"


def test_000_s12_1_liability_cap_two_monthly_or_one_yearly() -> None:
    """000 §12.1: monthly amount 400: a 15-day failure → 2 × 400 = 800; 16 days → 1 × the
    yearly amount (12 × 400 = 4,800); both agree with calc.liability.cap_000_s12_1."""
    for days, expected in ((15, Decimal(800)), (16, Decimal(4800))):
        cap = apply.liability_cap_for(
            OFFER,
            dt.date(2026, 3, 1),
            monthly_amount=Decimal(400),
            failure_duration=dt.timedelta(days=days),
        )
        assert cap == expected
        assert cap == liability.cap_000_s12_1(Decimal(400), dt.timedelta(days=days))


def test_000_s13_1_three_times_the_legal_rate() -> None:
    """000 §13.1: 1,000.00 due 31 January 2026, paid 2 March: 30 days late; Belgian legal
    rate 3.50 % → 10.50 %; 1000 × 10.5 % × 30 / 365 = 8.6301… → 8.63."""
    rates = [interest.LegalRate(dt.date(2026, 1, 1), dt.date(2027, 1, 1), Decimal("3.50"), "BE")]
    result = apply.interest_for(
        OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 3, 2), rates
    )
    assert result.annual_rate_pct == Decimal("10.50")
    assert result.days == 30
    assert result.amount == Decimal("8.63")


def test_000_s13_2_balance_refund_by_cause() -> None:
    """000 §13.2: balance 200.01: non-renewal and provider fault 200.01, client fault 0,
    shared fault half = 100.005 → 100.01 (half-up)."""
    cause = liability.TerminationCause
    expected = {
        cause.NON_RENEWAL: Decimal("200.01"),
        cause.PROVIDER_FAULT: Decimal("200.01"),
        cause.CLIENT_FAULT: Decimal("0.00"),
        cause.SHARED_FAULT: Decimal("100.01"),
    }
    for why, amount in expected.items():
        assert apply.balance_refund_for(OFFER, Decimal("200.01"), why) == amount
        assert amount == liability.balance_refund_000_s13_2(Decimal("200.01"), why)


def test_000_s13_3_indexation_formula() -> None:
    """000 §13.3: P0 100, Syntec 250 → 262.5 (+5 %), ElecVert 120 → 132 (+10 %):
    0.30 × 1.05 + 0.70 × 1.10 = 1.085 → 108.50."""
    result = apply.revise_price(
        OFFER,
        Decimal(100),
        {"syntec": (Decimal(250), Decimal("262.5")), "elecvert": (Decimal(120), Decimal(132))},
    )
    assert result.factor == Decimal("1.085")
    assert result.price == Decimal("108.5")
    assert OFFER.indexation.anniversary_of == "minimum_amount_paid"


def test_000_s13_3_unchanged_indices_give_p0() -> None:
    """000 §13.3: S = S0 and ElecVert = ElecVert0 → P = P0 exactly."""
    result = apply.revise_price(
        OFFER,
        Decimal("0.0480"),
        {"syntec": (Decimal(250), Decimal(250)), "elecvert": (Decimal(9), Decimal(9))},
    )
    assert result.price == Decimal("0.0480")


def test_000_s16_fifteen_clear_days_after_formal_notice() -> None:
    """000 §16: formal notice received Mon 2 March 2026 → 15 clear days 3–17 March, the
    last day (18 March) excluded too → termination possible from 19 March 00:00 CET
    (18 March 23:00Z)."""
    end = only(Event.breach_notice, local(2026, 3, 2, 11), "breach-cure-end")
    assert end == dt.datetime(2026, 3, 18, 23, tzinfo=UTC)
    assert OFFER.termination.may_suspend_during_cure


def test_000_s18_vm_images_whatever_the_cause() -> None:
    """000 §18: an image of each VM in a standard format; no window is stated."""
    assert OFFER.reversibility.vm_images_standard_format
    assert OFFER.reversibility.window is None


@pytest.mark.parametrize("years", [5])
def test_000_s15_confidentiality_five_years(years: int) -> None:
    """000 §15: confidentiality lasts 5 years after the end: end 30 June 2026 → 30 June 2031."""
    end = only(Event.contract_end, local(2026, 6, 30, 12), "confidentiality-end")
    assert end == local(2026 + years, 7, 1).astimezone(UTC)


def test_000_s13_1_belgian_legal_rate_series_not_the_french_one() -> None:
    """000 §13.1 / SPEC §17: a Belgian-law contract citing the French commercial code uses
    three times the legal rate of its law. Entered (example figures): France 6.65 % for the
    first half of 2026, Belgium 4.50 % for 2026. 1,000.00 due 31 January paid 2 March (30
    days): 3 × 4.50 = 13.50 %; 1000 × 13.5 % × 30 / 365 = 11.0958… → 11.10 (the French
    series would give 19.95 % → 16.40). The result names the rate and its series."""
    assert OFFER.billing.late_payment.legal_rate_series == "BE"
    assert apply.legal_rate_series(OFFER) == "BE"
    french = interest.LegalRate(dt.date(2026, 1, 1), dt.date(2026, 7, 1), Decimal("6.65"), "FR")
    belgian = interest.LegalRate(dt.date(2026, 1, 1), dt.date(2027, 1, 1), Decimal("4.50"), "BE")
    result = apply.interest_for(
        OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 3, 2), [french, belgian]
    )
    assert (result.annual_rate_pct, result.amount) == (Decimal("13.50"), Decimal("11.10"))
    assert result.legal_rate == belgian
    with pytest.raises(LookupError, match="series BE"):
        apply.interest_for(
            OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 3, 2), [french]
        )
