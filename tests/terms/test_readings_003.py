"""003 §13.1.5, §13.2.1, §7.9, §8 read again (issue 20, SPEC §4, §11, §12): the
terms-file and calculator parts (acting on contracts is the lifecycle issue's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.kernel.clock import frozen_at
from nuages.kernel.errors import ValidationFailed
from nuages.terms import apply
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.loader import load_offer

OFFERS = Path(__file__).resolve().parents[2] / "offers"
SVP = load_offer(OFFERS / "virtualsr-svp.toml")
PCV = load_offer(OFFERS / "virtualsr-pcv.toml")
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def test_003_s13_1_5_notice_dated_by_first_presentation() -> None:
    """003 §13.1.5: a breach notice first presented Mon 2 November 2026 10:00 (postmark),
    collected Fri 6 November: the 8-day cure (003 §13.1.2) runs from the presentation —
    the day not counted, over at the end of Tue 10 November — not from the 6th."""
    assert SVP.termination.notice_dated_by == "first_presentation"
    with frozen_at(local(2026, 11, 9, 12)):
        when = apply.notice_date(
            SVP, first_presented_at=local(2026, 11, 2, 10), received_at=local(2026, 11, 6, 9)
        )
    assert when == local(2026, 11, 2, 10).astimezone(UTC)
    found = {d.name: d.ends_at for d in deadlines_for(SVP, Event.breach_notice, when)}
    assert found["breach-cure-end"] == local(2026, 11, 11).astimezone(UTC)


def test_003_s13_1_5_registered_letter_dated_in_the_future_is_refused() -> None:
    """Bad input: a first presentation after now is refused, naming the field and the
    clause; a missing date too."""
    with frozen_at(local(2026, 11, 2, 9)):
        with pytest.raises(ValidationFailed, match=r"first_presented_at.*003 §13\.1\.5"):
            apply.notice_date(SVP, first_presented_at=local(2026, 11, 3, 10))
        with pytest.raises(ValidationFailed, match="first_presented_at: required"):
            apply.notice_date(SVP, received_at=local(2026, 11, 1, 10))


def test_003_s13_2_1_early_termination_makes_the_rest_of_the_duration_due() -> None:
    """003 §13.2.1: a 12-month contract to 1 January 2027 at 250.00 a month ends early,
    its first day not invoiced being 15 August 2026, with 250.00 unpaid: 15 Aug–15 Dec
    is 4 whole months (1,000.00) and 15 Dec–1 Jan 17 of the 31 days of the month from
    15 Dec (250 × 17/31 = 137.10; read for the client, SPEC §17: a month begun is owed
    for its days, not in full) → 1,137.10, plus the unpaid 250.00 → 1,387.10 due at
    once; data is returned only once it is paid. A first day on the term end owes
    nothing more."""
    due = apply.early_termination_due_for(
        SVP, Decimal(250), dt.date(2026, 8, 15), dt.date(2027, 1, 1), [Decimal(250)]
    )
    assert (due.remaining_months, due.remaining_days) == (4, 17)
    assert (due.remaining_amount, due.total) == (Decimal("1137.10"), Decimal("1387.10"))
    assert SVP.reversibility.requires_paid_up
    whole = apply.early_termination_due_for(
        SVP, Decimal(250), dt.date(2026, 9, 1), dt.date(2027, 1, 1)
    )
    assert (whole.remaining_months, whole.remaining_days, whole.total) == (
        4,
        0,
        Decimal("1000.00"),
    )
    none = apply.early_termination_due_for(
        SVP, Decimal(250), dt.date(2027, 1, 1), dt.date(2027, 1, 1)
    )
    assert none.total == Decimal("0.00")


def test_003_s7_9_s8_abuse_and_suspension_keys() -> None:
    """003 §7.9: a new French IP after a misuse report, switch-over set by staff, reports
    kept per client; 003 §8: suspension placed and lifted by written notice, never a
    termination by itself."""
    for offer in (SVP, PCV):
        assert offer.abuse is not None and offer.abuse.ip_reassignment_after_misuse
        assert offer.abuse.ip_country == "FR" and offer.abuse.reports_kept_per_client
        assert offer.abuse.suspension_after_violation_notice
        assert offer.suspension.by_written_notice and offer.suspension.never_becomes_termination
