"""Seed 004 (Optima DSI, Cloud Azure): offers/optima-cloud-azure.toml through the
calculators and the deadline computation. Hand computations in docstrings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import liability, sla
from nuages.terms.deadlines import Event, deadlines_for, term_ends
from nuages.terms.loader import load_offer

OFFER = load_offer(Path(__file__).resolve().parents[2] / "offers" / "optima-cloud-azure.toml")
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def named(event: Event, at: dt.datetime, **kw: dt.datetime) -> dict[str, dt.datetime]:
    return {d.name: d.ends_at for d in deadlines_for(OFFER, event, at, **kw)}


def test_004_s5_36_months_then_12_month_renewals() -> None:
    """004 §5: 36 months from 15 January 2026 10:00 → 15 January 2029 10:00, then each
    12 calendar months: 15 January 2030 10:00."""
    ends = term_ends(OFFER, local(2026, 1, 15, 10))
    assert next(ends) == local(2029, 1, 15, 10).astimezone(UTC)
    assert next(ends) == local(2030, 1, 15, 10).astimezone(UTC)


def test_004_s5_three_months_notice() -> None:
    """004 §5: 3 months' notice ("mois ouvrés" read as months). Term ends 15 January 2029
    10:00: a letter on 14 October 2028 (+3 months = 14 January, day not counted) is in
    time; on 15 October it is late and the contract runs to 15 January 2030."""
    start = local(2026, 1, 15, 10)
    assert named(Event.termination_notice, local(2028, 10, 14, 18), contract_start=start) == {
        "termination-effective": local(2029, 1, 15, 10).astimezone(UTC)
    }
    late = named(Event.termination_notice, local(2028, 10, 15, 8), contract_start=start)
    assert late["termination-effective"] == local(2030, 1, 15, 10).astimezone(UTC)


def test_004_s5_effective_only_once_data_recovered() -> None:
    """004 §5: termination takes effect when the client confirms it has its data; billed
    until then."""
    assert OFFER.duration.effective_when_data_recovered
    found = deadlines_for(OFFER, Event.termination_notice, local(2028, 10, 14, 18))
    assert "confirms it has its data" in found[0].meaning


def test_004_s8_1_syntec_indexation() -> None:
    """004 §8.1: P = P0 × S/S0: 200.00 with Syntec 280 → 294 (+5 %) → 210.00."""
    result = apply.revise_price(OFFER, Decimal(200), {"syntec": (Decimal(280), Decimal(294))})
    assert result.price == Decimal(210)


@pytest.mark.parametrize("p0", ["200", "0.0150", "159.99"])
def test_004_s8_1_unchanged_syntec_keeps_the_price(p0: str) -> None:
    """004 §8.1: S = S0 → P = P0 exactly."""
    result = apply.revise_price(
        OFFER, Decimal(p0), {"syntec": (Decimal("281.3"), Decimal("281.3"))}
    )
    assert result.price == Decimal(p0)


def test_004_s8_2_debit_during_the_month_after_issue() -> None:
    """004 §8.2: issued 20 January 2026 → debited during February: due by the end of
    28 February (1 March 00:00 CET = 28 February 23:00Z); disputes within 15 days after
    issue: to the end of 4 February."""
    got = named(Event.invoice_issued, local(2026, 1, 20, 9))
    assert got["payment-due"] == dt.datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert got["invoice-dispute"] == local(2026, 2, 5).astimezone(UTC)
    invoiced = OFFER.billing.invoiced
    assert invoiced is not None and (invoiced.period, invoiced.timing) == ("month", "advance")
    assert invoiced.payment_means == ["direct_debit"] and invoiced.delivery == "email"


def test_004_s13_cap_invoiced_last_12_months_all_events_together() -> None:
    """004 §13: 100.00 invoiced monthly from January 2025; failure on 10 March 2026 →
    invoices of [10 March 2025, 10 March 2026) = 1 April 2025 … 1 March 2026 = 12 × 100 =
    1,200.00; 450.00 already paid out for earlier events → 750.00 left."""
    invoices = [
        liability.InvoiceRecord(dt.date(2025 + (m // 12), m % 12 + 1, 1), Decimal(100))
        for m in range(15)
    ]
    cap = apply.liability_cap_for(
        OFFER, dt.date(2026, 3, 10), invoices=invoices, already_paid_out=Decimal(450)
    )
    assert cap == Decimal(750)
    assert apply.liability_cap_for(OFFER, dt.date(2026, 3, 10), invoices=invoices) == Decimal(1200)


def test_004_s17_1_suspension_over_15_days_lets_the_provider_terminate() -> None:
    """004 §17.1: suspended from 2 March 2026 → may terminate after the end of 17 March."""
    assert named(Event.suspension_start, local(2026, 3, 2, 9)) == {
        "terminate-after-suspension": local(2026, 3, 18).astimezone(UTC)
    }


def test_004_s17_2_full_backup_within_15_days_360_per_vm() -> None:
    """004 §17.2: within 15 days of termination, EUR 360 excl. VAT per VM plus media:
    terminated 30 June 2026 → to the end of 15 July."""
    assert named(Event.contract_end, local(2026, 6, 30, 12))["reversibility-window"] == local(
        2026, 7, 16
    ).astimezone(UTC)
    rev = OFFER.reversibility
    assert (rev.fee, rev.fee_per, rev.media_billed) == (Decimal(360), "vm", True)


def test_004_s3_refuse_new_terms_within_30_days() -> None:
    """004 §3: new terms in force 2 March 2026 → refusal until the end of 1 April."""
    assert named(Event.terms_change, local(2026, 3, 2, 9)) == {
        "refuse-terms-change": local(2026, 4, 2).astimezone(UTC)
    }


def test_004_s4_datacentres_in_france() -> None:
    """004 §4: data centres located in France."""
    hosting = OFFER.catalogue.hosting
    assert hosting.allows("FR") and not hosting.allows("DE") and not hosting.allows("IE")


def test_004_s10_no_availability_credit() -> None:
    """004 §10: obligation de moyens, no SLA: the SLA command has no coverage to measure."""
    assert not OFFER.sla.enabled
    with pytest.raises(apply.TermsNotApplicable):
        apply.sla_for_month(
            OFFER, 2026, 3, [sla.Outage(local(2026, 3, 2, 9), local(2026, 3, 2, 10))]
        )


def test_004_s3_refusal_runs_30_days_after_entry_into_force() -> None:
    """004 §3: new CGV e-mailed Mon 2 February 2026, in force Mon 2 March 2026 → the
    client may refuse until the end of Wed 1 April (30 days after entry into force, the
    day of entry not counted), not 30 days after the e-mail (4 March)."""
    assert OFFER.changes.refusal_window_from == "entry_into_force"
    found = deadlines_for(
        OFFER, Event.terms_change, local(2026, 2, 2, 9), in_force_at=local(2026, 3, 2)
    )
    assert [(d.name, d.ends_at) for d in found] == [
        ("refuse-terms-change", local(2026, 4, 2).astimezone(UTC))
    ]
    assert "without refusing is acceptance" in found[0].meaning
    assert OFFER.changes.silence_is_acceptance


def test_004_s4_s8_1_change_gives_no_30_day_exit_but_the_s5_notice() -> None:
    """004 §4, §8.1: after a change of service or price the client may terminate
    "conformément à l'article Durée": §5's 3 months. A notice given Tue 10 March 2026
    14:00 (contract started 15 January 2026, term 15 January 2029) takes effect 3 months
    later, the notice's day not counted (SPEC §17): at the end of Wed 10 June 2026 (read
    for the client: not at the term) — and there is no 30-day window to give it."""
    assert OFFER.changes.service_change_termination_window is None
    assert OFFER.changes.on_refusal == "old_terms_continue"
    change = named(Event.service_change, local(2026, 3, 1, 10))
    assert set(change) == {"change-termination-earliest-effect"}
    assert change["change-termination-earliest-effect"] == local(2026, 6, 2).astimezone(UTC)
    found = deadlines_for(OFFER, Event.change_termination_notice, local(2026, 3, 10, 14))
    assert [(d.name, d.ends_at, d.clause) for d in found] == [
        ("termination-effective", local(2026, 6, 11).astimezone(UTC), "004 §5")
    ]
    assert "confirms it has its data" in found[0].meaning
