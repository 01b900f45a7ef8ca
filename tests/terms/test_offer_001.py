"""Seed 001 (Net Computer Group, Cloudbizz): every stated number, from offers/cloudbizz.toml
through the calculators and the deadline computation. Hand computations in docstrings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from nuages.terms import apply
from nuages.terms.calc import liability, sla
from nuages.terms.deadlines import Event, deadlines_for, term_ends
from nuages.terms.loader import load_offer

OFFER = load_offer(Path(__file__).resolve().parents[2] / "offers" / "cloudbizz.toml")
BXL = ZoneInfo("Europe/Brussels")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BXL)


def only(event: Event, at: dt.datetime, name: str, **kw: dt.datetime) -> dt.datetime:
    found = [d for d in deadlines_for(OFFER, event, at, **kw) if d.name == name]
    assert len(found) == 1, found
    return found[0].ends_at


def test_001_s3_1_first_term_ends_31_december_of_the_following_year() -> None:
    """001 §3.1: signed 10 March 2026 → ends 31 December 2027 (exclusive end 1 January
    2028 00:00 CET = 31 December 2027 23:00Z)."""
    assert next(term_ends(OFFER, local(2026, 3, 10, 15))) == dt.datetime(
        2027, 12, 31, 23, tzinfo=UTC
    )
    assert (OFFER.duration.minimum.amount, OFFER.duration.minimum.unit.value) == (12, "months")  # type: ignore[union-attr]


def test_001_s3_2_renewals_of_twelve_months_from_1_january() -> None:
    """001 §3.2: renewed 1 January – 31 December: second term ends 31 December 2028."""
    ends = term_ends(OFFER, local(2026, 3, 10, 15))
    next(ends)
    assert next(ends) == local(2029, 1, 1).astimezone(UTC)


def test_001_s3_2_non_renewal_three_months_before_the_term() -> None:
    """001 §3.2: term ends 31 December 2027 24:00. A notice received on 30 September
    (+3 months = 30 December, day not counted → over by 31 December) ends the contract
    then; received on 1 October it is too late and the contract runs to end 2028."""
    start = local(2026, 3, 10, 15)
    in_time = only(
        Event.termination_notice,
        local(2027, 9, 30, 16),
        "termination-effective",
        contract_start=start,
    )
    assert in_time == local(2028, 1, 1).astimezone(UTC)
    late = only(
        Event.termination_notice,
        local(2027, 10, 1, 9),
        "termination-effective",
        contract_start=start,
    )
    assert late == local(2029, 1, 1).astimezone(UTC)
    latest = only(Event.contract_end, local(2028, 1, 1), "non-renewal-notice-latest")
    assert latest == local(2027, 10, 1).astimezone(UTC)


def test_001_s4_1_payment_within_15_days_of_receipt() -> None:
    """001 §4.1: invoice received Mon 2 March 2026 → due by the end of 17 March."""
    assert only(Event.invoice_received, local(2026, 3, 2, 9), "payment-due") == local(
        2026, 3, 18
    ).astimezone(UTC)


def test_001_s4_4_invoice_undisputed_after_8_days() -> None:
    """001 §4.4: received 2 March → may be disputed to the end of 10 March."""
    assert only(Event.invoice_received, local(2026, 3, 2, 9), "invoice-dispute") == local(
        2026, 3, 11
    ).astimezone(UTC)


def test_001_s4_4_started_months() -> None:
    """001 §4.4: 8 %/year, every started month in full. 1,000.00 due 31 January 2026, paid
    1 March: 31 Jan + 1 month = 28 February < 1 March → 2 started months →
    1000 × 8 % / 12 × 2 = 13.333… → 13.33; paid 28 February → 1 month → 6.67."""
    two = apply.interest_for(OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 3, 1))
    assert (two.months, two.amount) == (2, Decimal("13.33"))
    one = apply.interest_for(OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 2, 28))
    assert (one.months, one.amount) == (1, Decimal("6.67"))
    on_time = apply.interest_for(OFFER, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 1, 31))
    assert on_time.amount == 0


def test_001_s4_4_reminder_fees_75_then_150() -> None:
    """001 §4.4: EUR 75 per reminder, doubled to EUR 150 on repeat."""
    assert apply.reminder_fee_for(OFFER, 0) == Decimal(75)
    assert apply.reminder_fee_for(OFFER, 1) == Decimal(150)
    assert apply.reminder_fee_for(OFFER, 4) == Decimal(150)


def test_001_s4_6_thirty_percent_deposit_on_hardware() -> None:
    """001 §4.6: 30 % deposit at order, title retained until paid."""
    deposit = OFFER.billing.deposit
    assert deposit is not None
    assert deposit.hardware_pct == Decimal(30) and deposit.title_retained_until_paid


def test_001_s4_2_per_user_pricing_with_tier_clawback() -> None:
    """001 §4.2–4.3: priced per subscribed user, 12 months minimum, tier discount billed
    back if the tier is not kept; tiers start at one user and are contiguous."""
    pricing = OFFER.catalogue.user_pricing
    assert pricing is not None
    assert pricing.minimum_subscription.amount == 12 and pricing.clawback_if_tier_not_kept
    assert pricing.tiers[0].min_users == 1
    assert OFFER.catalogue.prices_include_vat is False


def test_001_s5_eu_only_and_three_months_notice_to_leave_it() -> None:
    """001 §5.2: any EU country; 001 §5.3: leaving the EU needs 3 months' written notice
    and opens a 30-day termination right. Notice 2 March 2026 → move from 3 June 00:00;
    terminate until the end of 1 April."""
    hosting = OFFER.catalogue.hosting
    assert hosting.allows("DE") and hosting.allows("BE") and not hosting.allows("US")
    assert {s.country for s in hosting.sites} == {"BE"}
    assert only(Event.relocation_notice, local(2026, 3, 2, 10), "relocation-earliest") == local(
        2026, 6, 3
    ).astimezone(UTC)
    end = only(Event.relocation_notice, local(2026, 3, 2, 10), "terminate-after-relocation-notice")
    assert end == local(2026, 4, 2).astimezone(UTC)


def test_001_s6_objective_99_5_without_credit() -> None:
    """001 §6: objective 99.5 % a month, 24/7, best effort: 5 hours down in June 2026
    (300 / 43,200 → 99.305 %) misses the objective but pays nothing."""
    outage = sla.Outage(local(2026, 6, 13, 1), local(2026, 6, 13, 6))
    result = apply.sla_for_month(OFFER, 2026, 6, [outage], Decimal(500))
    assert result.report.minutes_in_month == 43_200
    assert result.report.unavailable_minutes == 300
    assert not result.objective_met and result.objective_pct == Decimal("99.5")
    assert result.credit_amount == Decimal("0.00")


def test_001_s6_maintenance_announced_24_hours_ahead_across_dst() -> None:
    """001 §6: at least 24 h: announced Sat 28 March 2026 12:00 CET → 24 real hours later
    is Sun 29 March 13:00 CEST (clocks went forward) = 11:00Z."""
    end = only(Event.maintenance_announcement, local(2026, 3, 28, 12), "maintenance-earliest-start")
    assert end == dt.datetime(2026, 3, 29, 11, tzinfo=UTC)


def test_001_s7_reversibility_three_months_250_per_transfer() -> None:
    """001 §7: within 3 months after expiry, by registered letter, EUR 250 per transfer,
    only once paid up: expiry 1 January 2028 00:00 → to the end of 1 April 2028."""
    rev = OFFER.reversibility
    assert (rev.fee, rev.fee_per, rev.requires_paid_up) == (Decimal(250), "transfer", True)
    assert rev.exercise_by == "registered_letter" and rev.partial_recovery_anytime
    end = only(Event.contract_end, local(2028, 1, 1), "reversibility-window")
    assert end == local(2028, 4, 2).astimezone(UTC)


def test_001_s12_liability_cap_and_72_hour_claims() -> None:
    """001 §12: cap = invoices issued AND paid in the 12 months before the failure.
    Failure 15 March 2026: invoices 15 Feb (paid), 15 Jan (unpaid), 1 March 2025 (paid,
    issued before the window) → 300 only. Claims: 72 calendar hours."""
    invoices = [
        liability.InvoiceRecord(dt.date(2026, 2, 15), Decimal(300), dt.date(2026, 2, 20)),
        liability.InvoiceRecord(dt.date(2026, 1, 15), Decimal(300)),
        liability.InvoiceRecord(dt.date(2025, 3, 1), Decimal(300), dt.date(2025, 3, 20)),
    ]
    assert apply.liability_cap_for(OFFER, dt.date(2026, 3, 15), invoices=invoices) == Decimal(300)
    end = only(Event.incident_known, local(2026, 3, 2, 10), "liability-claim")
    assert end == local(2026, 3, 5, 10).astimezone(UTC)


def test_001_s3_3_thirty_days_after_formal_notice() -> None:
    """001 §3.3: still in default 30 days after formal notice: notice 2 March → end of 1 April."""
    assert only(Event.breach_notice, local(2026, 3, 2, 10), "breach-cure-end") == local(
        2026, 4, 2
    ).astimezone(UTC)


def test_001_s13_2_forty_eight_hours_after_a_reminder() -> None:
    """001 §13.2: not remedied 48 h after a reminder: Fri 6 March 17:00 → Sun 8 March 17:00."""
    at = local(2026, 3, 6, 17)
    assert only(Event.reminder, at, "remedy-after-reminder") == local(2026, 3, 8, 17).astimezone(
        UTC
    )


def test_001_s10_out_of_hours_support_fees() -> None:
    """001 §10.2–10.4: support Mon–Fri 9:00–18:00 except holidays; outside, min. EUR 95
    plus the hourly rate + 50 %; a DRS replaced within 48 h."""
    support = OFFER.support
    assert support is not None and support.hours is not None
    assert (support.hours.start, support.hours.end) == (9 * 60, 18 * 60)
    assert support.out_of_hours_minimum_fee == Decimal(95)
    assert support.out_of_hours_surcharge_pct == Decimal(50)
    assert support.replacement_within is not None and support.replacement_within.amount == 48


def test_001_s2_2_backups_kept_7_calendar_days() -> None:
    """001 §2.2: backups retained 7 calendar days, then destroyed without notice."""
    assert OFFER.backups.retention_days_choices == [7]
    assert OFFER.backups.destroyed_after_retention
    assert [o.retention_days for o in OFFER.catalogue.options if o.kind == "backup"] == [7]


def test_001_s4_5_renewal_tariffs_notified_three_months_before() -> None:
    """001 §4.5: tariffs for the renewal on 1 January 2028 are notified by 30 September 2027."""
    end = only(Event.contract_end, local(2028, 1, 1), "renewal-tariffs-notice-latest")
    assert end == local(2027, 10, 1).astimezone(UTC)
    assert not OFFER.changes.unilateral  # 001 §19: changes need a writing signed by both
