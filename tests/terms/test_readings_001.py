"""001 §4.1, §4.4, §16.8 and §4.1–4.3 read again (issue 20, SPEC §8, §14, §17).

Cloudbizz (001) is Belgian law: Europe/Brussels, Belgian public holidays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nuages.terms import apply
from nuages.terms.calc import seats
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.loader import load_offer

OFFER = load_offer(Path(__file__).resolve().parents[2] / "offers" / "cloudbizz.toml")
BRUSSELS = ZoneInfo("Europe/Brussels")
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BRUSSELS)


def named(event: Event, at: dt.datetime) -> dict[str, dt.datetime]:
    return {d.name: d.ends_at for d in deadlines_for(OFFER, event, at)}


def test_001_s4_1_receipt_is_issue_date_plus_one_day_until_recorded() -> None:
    """SPEC §17 / 001 §4.1: an invoice issued Tue 3 November 2026 at 06:00 with no
    recorded e-mail acceptance counts as received Wed 4 November 00:00; when the notices
    slice records the mail server's acceptance at Tue 3 November 06:02, that moment."""
    assert OFFER.billing.invoiced is not None
    assert OFFER.billing.invoiced.assumed_receipt_after_issue == 1
    issued = local(2026, 11, 3, 6)
    assert apply.invoice_received_at(OFFER, issued) == local(2026, 11, 4).astimezone(UTC)
    accepted = local(2026, 11, 3, 6, 2)
    assert apply.invoice_received_at(OFFER, issued, accepted) == accepted


def test_001_s4_1_s4_4_payable_15_days_and_undisputed_8_days_from_receipt() -> None:
    """001 §4.1: payable "dans les 15 jours de la réception"; §4.4: undisputed after 8
    days from receipt. Issued Tue 3 November 2026 → received Wed 4 November (SPEC §17);
    the receipt day not counted: due by the end of Thu 19 November, disputable until the
    end of Thu 12 November (counted from the issue they would end on the 18th and 11th)."""
    found = named(Event.invoice_issued, local(2026, 11, 3, 6))
    assert found["payment-due"] == local(2026, 11, 20).astimezone(UTC)
    assert found["invoice-dispute"] == local(2026, 11, 13).astimezone(UTC)


def test_001_s16_8_audit_notice_5_jours_ouvrables() -> None:
    """001 §16.8 / SPEC §16: 5 jours ouvrables (Monday–Saturday minus Belgian holidays).
    Announced Mon 9 November 2026 (day not counted): Tue 10, Thu 12, Fri 13, Sat 14,
    Mon 16 — Wed 11 November (Armistice) is a Belgian holiday, Sunday 15 does not count —
    so the audit may start Tue 17 November; in working days (Mon–Fri) it would be Wed 18."""
    assert OFFER.data_protection is not None
    assert OFFER.data_protection.audit_free_hours == 3
    found = named(Event.audit_request, local(2026, 11, 9, 10))
    assert found == {"audit-earliest-start": local(2026, 11, 17).astimezone(UTC)}


def test_001_s4_2_seat_removed_before_12_months_stays_billed() -> None:
    """001 §4.1–4.3: each user is subscribed for at least 12 months. A seat added 15
    January 2026 and removed 1 June 2026 stays billed until 15 January 2027 (exclusive);
    the message names the clause. Removed 20 January 2027 it stops then."""
    early = apply.seat_removal_for(OFFER, dt.date(2026, 1, 15), dt.date(2026, 6, 1))
    assert early.early and early.billed_until == dt.date(2027, 1, 15)
    assert "001 §4.1–4.3" in early.message and "2027-01-15" in early.message
    late = apply.seat_removal_for(OFFER, dt.date(2026, 1, 15), dt.date(2027, 1, 20))
    assert not late.early and late.billed_until == dt.date(2027, 1, 20)


def test_001_s4_2_removed_seat_is_counted_until_its_12_months() -> None:
    """001 §4.1–4.3: seats added 15 January 2026 (removed 1 June) and 1 March 2026 (kept):
    both billed in December 2026; in February 2027 only the kept one (the removed one's
    12 months ended 15 January 2027)."""
    book = [
        seats.Seat(dt.date(2026, 1, 15), dt.date(2026, 6, 1)),
        seats.Seat(dt.date(2026, 3, 1)),
    ]
    assert seats.billed_seats(book, dt.date(2026, 12, 1), dt.date(2027, 1, 1), 12) == 2
    assert seats.billed_seats(book, dt.date(2027, 2, 1), dt.date(2027, 3, 1), 12) == 1


def test_001_s4_2_seat_removal_before_it_was_added_is_refused() -> None:
    """Bad input: a removal dated before the seat's addition names the field."""
    with pytest.raises(ValueError, match="removed_on"):
        apply.seat_removal_for(OFFER, dt.date(2026, 3, 1), dt.date(2026, 2, 1))
