"""Seed 003 (Virtual SR): offers/virtualsr-svp.toml and virtualsr-pcv.toml through the
calculators and the deadline computation. Hand computations in docstrings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import liability
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.loader import load_offer
from nuages.terms.schema import Offer

OFFERS = Path(__file__).resolve().parents[2] / "offers"
SVP = load_offer(OFFERS / "virtualsr-svp.toml")
PCV = load_offer(OFFERS / "virtualsr-pcv.toml")
BOTH = [SVP, PCV]
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def named(offer: Offer, event: Event, at: dt.datetime, **kw: object) -> dict[str, dt.datetime]:
    found = deadlines_for(offer, event, at, **kw)  # type: ignore[arg-type]
    return {d.name: d.ends_at for d in found}


@pytest.mark.parametrize("offer", BOTH, ids=lambda o: o.id)
def test_003_s12_withdrawal_seven_clear_days(offer: Offer) -> None:
    """003 §12: 7 clear days for a consumer. Order Wed 1 July 2026: clear days 2–8 July,
    the last day (9 July) excluded too → withdrawal until the end of Thu 9 July."""
    got = named(offer, Event.withdrawal_start, local(2026, 7, 1, 15), consumer=True)
    assert got["consumer-withdrawal"] == local(2026, 7, 10).astimezone(UTC)


def test_003_s12_withdrawal_extended_past_a_holiday() -> None:
    """003 §12: order Mon 6 July 2026 → would end with Tue 14 July, Bastille Day → extended
    to the next jour ouvrable, Wed 15 July (end of day)."""
    got = named(SVP, Event.order, local(2026, 7, 6, 11), consumer=True)
    assert got["consumer-withdrawal"] == local(2026, 7, 16).astimezone(UTC)


def test_003_s12_withdrawal_extended_past_a_weekend() -> None:
    """003 §12: order Fri 3 July 2026 → 7 clear days 4–10, last day Sat 11 July →
    extended past the weekend to Mon 13 July (end of day)."""
    got = named(PCV, Event.withdrawal_start, local(2026, 7, 3, 11), consumer=True)
    assert got["consumer-withdrawal"] == local(2026, 7, 14).astimezone(UTC)


def test_003_s12_withdrawal_is_for_consumers_only() -> None:
    """003 §12: a business client has no withdrawal right."""
    assert named(SVP, Event.withdrawal_start, local(2026, 7, 1, 15)) == {}


def test_003_s13_1_2_eight_days_after_formal_notice() -> None:
    """003 §13.1.2: formal notice 2 March 2026 without effect for 8 days → end of 10 March."""
    got = named(SVP, Event.breach_notice, local(2026, 3, 2, 10))
    assert got["breach-cure-end"] == local(2026, 3, 11).astimezone(UTC)


def test_003_s13_1_4_termination_90_days_before_expiry() -> None:
    """003 §11, §13.1.4: yearly from 1 February 2026 00:00 → term ends 1 February 2027
    00:00. A letter on 2 November 2026 (+90 days = 31 January, day not counted) is in
    time; on 3 November it is late and the contract runs to 1 February 2028."""
    start = local(2026, 2, 1)
    assert named(SVP, Event.termination_notice, local(2026, 11, 2, 9), contract_start=start) == {
        "termination-effective": local(2027, 2, 1).astimezone(UTC)
    }
    late = named(SVP, Event.termination_notice, local(2026, 11, 3, 9), contract_start=start)
    assert late["termination-effective"] == local(2028, 2, 1).astimezone(UTC)


def test_003_s13_2_data_withdrawn_within_72_hours_across_dst() -> None:
    """003 §13.2.1: 72 h after termination. Sat 24 October 2026 18:00 CEST (16:00Z) + 72
    real hours = Tue 27 October 16:00Z = 17:00 CET (the clocks went back)."""
    got = named(SVP, Event.contract_end, local(2026, 10, 24, 18))
    assert got["reversibility-window"] == dt.datetime(2026, 10, 27, 16, tzinfo=UTC)
    rev = SVP.reversibility
    assert rev.after_window == "extract_to_media_at_client_cost" and rev.requires_paid_up


def test_003_s14_3_revision_capped_at_5pct() -> None:
    """003 §14.3: P0 100.00, proposed 110.00 → capped at 105.00; proposed 103.00 kept."""
    capped = apply.revise_price(SVP, Decimal(100), proposed=Decimal(110))
    assert capped.price == Decimal(105) and capped.capped
    kept = apply.revise_price(SVP, Decimal(100), proposed=Decimal(103))
    assert kept.price == Decimal(103) and not kept.capped
    assert SVP.indexation.client_may_terminate


def test_003_s14_3_upgrade_prorata_downgrade_free() -> None:
    """003 §14.3: SVP S (59.00) → SVP M (109.00) on 17 October, period 1 Oct – 1 Nov:
    50.00 × 15 / 31 = 24.1935… → 24.19; the downgrade costs and refunds nothing."""
    old, new = SVP.flavour("svp-s").price, SVP.flavour("svp-m").price
    up = apply.upgrade_charge(
        SVP, old, new, dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 10, 17)
    )
    assert (up.days_charged, up.amount) == (15, Decimal("24.19"))
    down = apply.upgrade_charge(
        SVP, new, old, dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 10, 17)
    )
    assert down.amount == 0


def test_003_s14_1_prices_all_taxes_in_advance_monthly_or_quarterly() -> None:
    """003 §14.1: TTC, payable in advance monthly or quarterly; 003 §14.2 direct debit only
    after a first payment by debit, transfer or cheque; 003 §14.5 partial payments rejected."""
    invoiced = SVP.billing.invoiced
    assert invoiced is not None and SVP.catalogue.prices_include_vat
    assert (invoiced.timing, invoiced.periods_allowed) == ("advance", ["month", "quarter"])
    assert invoiced.payment_means == ["direct_debit"]
    assert invoiced.first_payment_means == ["direct_debit", "transfer", "cheque"]
    assert not invoiced.partial_payments_accepted and SVP.billing.all_sums_due_on_default


def test_003_s14_5_access_blocked_at_due_plus_30_issue_plus_60() -> None:
    """003 §14.5: blocked at due date + 30 days = issue date + 60. Issued 2 March 2026 →
    due end of 1 April; blocking from the end of 1 May = 2 March + 60 days."""
    due = named(SVP, Event.invoice_issued, local(2026, 3, 2, 9))["payment-due"]
    assert due == local(2026, 4, 2).astimezone(UTC)
    blocked = named(SVP, Event.due_date, local(2026, 4, 1, 12))["suspension-unpaid-invoice"]
    assert blocked == local(2026, 5, 2).astimezone(UTC)
    assert dt.date(2026, 3, 2) + dt.timedelta(days=60) == dt.date(2026, 5, 1)


def test_003_s6_1_liability_amounts_received_and_8_working_day_claims() -> None:
    """003 §6.1: cap = amounts received until the event (that day included): 100 + 100 of
    three payments before 15 March. Claims within 8 working days: fact on Fri 6 March →
    9–13 (5), 16, 17, 18 → end of Wed 18 March."""
    payments = [
        liability.PaymentRecord(dt.date(2026, 1, 15), Decimal(100)),
        liability.PaymentRecord(dt.date(2026, 3, 15), Decimal(100)),
        liability.PaymentRecord(dt.date(2026, 3, 16), Decimal(100)),
    ]
    assert apply.liability_cap_for(SVP, dt.date(2026, 3, 15), payments=payments) == Decimal(200)
    assert named(SVP, Event.incident_known, local(2026, 3, 6, 10))["liability-claim"] == local(
        2026, 3, 19
    ).astimezone(UTC)
    assert SVP.liability.claim_by == "registered_letter"


def test_003_s9_force_majeure_timings() -> None:
    """003 §9: notify within 8 days; after 2 months suspended, terminated with 15 days'
    notice; after 30 days either party may terminate. Start 2 March 2026: notify by end
    of 10 March; either party from end of 1 April; the 2 months are over at the end of
    2 May, so the termination letter goes on 3 May at the earliest and its 15 days end
    with 18 May."""
    got = named(PCV, Event.force_majeure_start, local(2026, 3, 2, 10))
    assert got["force-majeure-notify"] == local(2026, 3, 11).astimezone(UTC)
    assert got["force-majeure-either-party"] == local(2026, 4, 2).astimezone(UTC)
    assert got["force-majeure-automatic-termination"] == local(2026, 5, 3).astimezone(UTC)
    assert got["force-majeure-termination-effective"] == local(2026, 5, 19).astimezone(UTC)


def test_003_s14_4_terminate_within_30_days_of_a_service_change() -> None:
    """003 §14.4: change in force 2 March 2026 → may terminate to the end of 1 April."""
    got = named(SVP, Event.service_change, local(2026, 3, 2, 10))
    assert got["terminate-after-service-change"] == local(2026, 4, 2).astimezone(UTC)


def test_003_s7_mail_servers_and_bandwidth() -> None:
    """003 §7.4: only declared mail servers send e-mail; 003 §7.7: best effort above 101 Mbps."""
    senders = {o.id for o in SVP.catalogue.options if o.sends_mail}
    assert senders == {"svp-mails", "svp-emailing"}
    assert SVP.catalogue.hosting.bandwidth_best_effort_above_mbps == 101
    assert {f.id for f in PCV.catalogue.flavours} == {"vstandard", "vpremium", "vexpert"}


def test_003_s15_confidentiality_one_year_and_s5_1_3_four_hours() -> None:
    """003 §15: one year after the end; 003 §5.1.3: intervention within 4 hours."""
    assert SVP.confidentiality is not None and str(SVP.confidentiality.after_end) == "1 year"
    assert SVP.support is not None and str(SVP.support.intervention_within) == "4 hours"
    assert not SVP.sla.enabled  # 003 §2: obligation de moyens, no credits


def test_003_s5_1_2_availability_reported_24_7_without_credit() -> None:
    """003 §5.1.2: access 24/7; no credit. 3 hours on Sunday 8 March 2026 count:
    March 2026 in Paris has 44,580 minutes → 180 counted, credit 0.00."""
    from nuages.terms.calc import sla

    outage = sla.Outage(local(2026, 3, 8, 1), local(2026, 3, 8, 4))
    result = apply.sla_for_month(SVP, 2026, 3, [outage], Decimal(300))
    assert result.report.unavailable_minutes == 180 and result.report.minutes_in_month == 44_580
    assert result.credit_amount == Decimal("0.00")
