"""Liability caps (000 §12.1, 001 §12, §13.1, 003 §6.1, 004 §13) and balance refund (000 §13.2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuages.terms.calc.liability import (
    InvoiceRecord,
    PaymentRecord,
    TerminationCause,
    balance_refund_000_s13_2,
    cap_000_s12_1,
    cap_001_s12,
    cap_001_s13_1,
    cap_003_s6_1,
    cap_004_s13,
    capped_damages,
)

D = Decimal
day = dt.date


def test_000_s12_1_cap_by_failure_length() -> None:
    """000 §12.1, monthly 300.00: ≤ 15 days → 600.00; 16 days → the yearly amount.

    Between 15 and 16 days (15 d 1 h) the clause is silent: the client-favourable yearly
    cap applies (SPEC §17). The yearly amount defaults to 12 × monthly = 3,600.00.
    """
    monthly = D("300.00")
    assert cap_000_s12_1(monthly, dt.timedelta(days=15)) == D("600.00")
    assert cap_000_s12_1(monthly, dt.timedelta(days=15, hours=1)) == D("3600.00")
    assert cap_000_s12_1(monthly, dt.timedelta(days=16), yearly_amount=D("3400.00")) == D("3400.00")


INVOICES = (
    InvoiceRecord(day(2025, 5, 1), D(100), day(2025, 5, 10)),  # issued before the window
    InvoiceRecord(day(2025, 7, 1), D(200), day(2025, 7, 12)),  # issued and paid inside
    InvoiceRecord(day(2026, 3, 1), D(400), day(2026, 6, 12)),  # paid after the failure
    InvoiceRecord(day(2026, 4, 1), D(800)),  # unpaid
    InvoiceRecord(day(2026, 6, 10), D(1600), day(2026, 6, 10)),  # on the failure date
)


def test_001_s12_invoices_issued_and_paid_in_12_months() -> None:
    """001 §12, failure 10 Jun 2026: window [10 Jun 2025, 10 Jun 2026); only 200 qualifies."""
    assert cap_001_s12(INVOICES, day(2026, 6, 10)) == D(200)


def test_001_s13_1_invoices_issued_in_12_months() -> None:
    """001 §13.1, indemnity on 10 Jun 2026: issued in the window, paid or not: 200+400+800."""
    assert cap_001_s13_1(INVOICES, day(2026, 6, 10)) == D(1400)


def test_003_s6_1_amounts_received_until_the_event() -> None:
    """003 §6.1: payments received up to and including the event date count."""
    payments = [
        PaymentRecord(day(2026, 1, 5), D("120.00")),
        PaymentRecord(day(2026, 2, 5), D("120.00")),
        PaymentRecord(day(2026, 3, 5), D("120.00")),
    ]
    assert cap_003_s6_1(payments, day(2026, 2, 5)) == D("240.00")
    assert cap_003_s6_1(payments, day(2026, 2, 4)) == D("120.00")


def test_004_s13_cap_for_all_events_together() -> None:
    """004 §13: invoiced over the last 12 months (1,400) minus 900 already paid out → 500."""
    assert cap_004_s13(INVOICES, day(2026, 6, 10)) == D(1400)
    assert cap_004_s13(INVOICES, day(2026, 6, 10), already_paid_out=D(900)) == D(500)
    assert cap_004_s13(INVOICES, day(2026, 6, 10), already_paid_out=D(2000)) == 0
    assert capped_damages(D("1234.567"), D(500)) == D("500.00")
    assert capped_damages(D("12.345"), D(500)) == D("12.35")


@pytest.mark.parametrize(
    ("cause", "refund"),
    [
        (TerminationCause.NON_RENEWAL, "10.01"),
        (TerminationCause.PROVIDER_FAULT, "10.01"),
        (TerminationCause.CLIENT_FAULT, "0"),
        (TerminationCause.SHARED_FAULT, "5.01"),  # 5.005 rounds half-up
    ],
)
def test_000_s13_2_balance_refund(cause: TerminationCause, refund: str) -> None:
    """000 §13.2 on a 10.01 credit balance: full, full, nothing, half."""
    assert balance_refund_000_s13_2(D("10.01"), cause) == D(refund)


def test_000_s13_2_negative_balance_refunds_nothing() -> None:
    """A debit balance is not refunded, whatever the cause."""
    for cause in TerminationCause:
        assert balance_refund_000_s13_2(D("-5.00"), cause) == 0


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.decimals(min_value=0, max_value=10_000, places=2), max_size=12),
    claims=st.lists(st.decimals(min_value=0, max_value=20_000, places=2), max_size=6),
)
def test_004_s13_payouts_never_exceed_the_cap(
    amounts: list[Decimal], claims: list[Decimal]
) -> None:
    """004 §13: successive claims, each capped by what is left, never sum past the cap."""
    invoices = [InvoiceRecord(day(2026, 1 + i % 12, 1), a) for i, a in enumerate(amounts)]
    as_of = day(2027, 1, 1)
    paid = D(0)
    for claim in claims:
        paid += capped_damages(claim, cap_004_s13(invoices, as_of, paid))
    assert paid <= sum(amounts, D(0))
