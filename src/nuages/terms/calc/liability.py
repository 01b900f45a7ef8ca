"""Liability caps and the refund of a prepaid balance at termination.

000 §12.1, 001 §12 and §13.1, 003 §6.1, 004 §13 cap what the provider may owe; 000 §13.2
says how much of a credit balance goes back to the client when the contract ends. The
amounts passed in are whatever the terms file says the clause is measured on (invoiced
amounts, payments received); the functions only select and add them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from nuages.kernel.calendar import shift_date_months
from nuages.kernel.money import round_cents

ZERO = Decimal(0)
TWO = Decimal(2)


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice as the caps see it: issue date, amount, and payment date if paid."""

    issued_on: dt.date
    amount: Decimal
    paid_on: dt.date | None = None


@dataclass(frozen=True)
class PaymentRecord:
    """A sum the provider received, on the contract-local date it was received."""

    received_on: dt.date
    amount: Decimal


def _twelve_months_before(day: dt.date) -> tuple[dt.date, dt.date]:
    """The 12 months preceding ``day``: ``[day − 12 months, day)``."""
    return shift_date_months(day, -12), day


def cap_000_s12_1(
    monthly_amount: Decimal,
    failure_duration: dt.timedelta,
    *,
    yearly_amount: Decimal | None = None,
) -> Decimal:
    """000 §12.1: 2 × the monthly amount if the failure lasted ≤ 15 days, else 1 × yearly.

    "2 (deux) fois le montant mensuel … si le manquement … a duré au plus 15 (quinze)
    jours ; si le manquement a duré 16 (seize) jours ou plus, … 1 (une) fois le montant
    annuel". A failure between 15 and 16 days falls in neither sentence; read in the
    client's favour (SPEC §17), anything longer than 15 days takes the yearly cap.
    ``yearly_amount`` defaults to 12 × the monthly amount.
    """
    if monthly_amount < 0 or failure_duration < dt.timedelta(0):
        raise ValueError("amounts and durations are never negative")
    if failure_duration <= dt.timedelta(days=15):
        return TWO * monthly_amount
    return 12 * monthly_amount if yearly_amount is None else yearly_amount


def cap_001_s12(invoices: Sequence[InvoiceRecord], failure_on: dt.date) -> Decimal:
    """001 §12: the yearly fee from invoices issued *and paid* in the 12 months before.

    "calculé en tenant compte des factures établies et payées au courant des 12 mois qui
    précèdent la date du manquement": both the issue and the payment fall in
    ``[failure_on − 12 months, failure_on)``.
    """
    first, end = _twelve_months_before(failure_on)
    return sum(
        (
            i.amount
            for i in invoices
            if first <= i.issued_on < end and i.paid_on is not None and first <= i.paid_on < end
        ),
        ZERO,
    )


def cap_001_s13_1(invoices: Sequence[InvoiceRecord], indemnified_on: dt.date) -> Decimal:
    """001 §13.1: termination damages ≤ the invoices issued in the 12 months before.

    "calculé en tenant compte des factures établies au courant des 12 mois qui précèdent
    la date de l'indemnisation" — issued, paid or not.
    """
    first, end = _twelve_months_before(indemnified_on)
    return sum((i.amount for i in invoices if first <= i.issued_on < end), ZERO)


def cap_003_s6_1(payments: Sequence[PaymentRecord], event_on: dt.date) -> Decimal:
    """003 §6.1: at most the amounts received until the date of the triggering event.

    "le montant perçu … jusqu'à la date du fait générateur": sums received on that date
    are included.
    """
    return sum((p.amount for p in payments if p.received_on <= event_on), ZERO)


def cap_004_s13(
    invoices: Sequence[InvoiceRecord], as_of: dt.date, already_paid_out: Decimal = ZERO
) -> Decimal:
    """004 §13: what is left of the cap for the whole contract, all events together.

    "le montant global cumulé des réparations … est limité, pour la durée du Contrat, tous
    faits générateurs confondus, à … un montant égal au montant facturé … au cours des
    douze derniers mois": the amount invoiced in ``[as_of − 12 months, as_of)`` minus
    what was already paid out under this clause; never negative.
    """
    if already_paid_out < 0:
        raise ValueError("amounts paid out are never negative")
    first, end = _twelve_months_before(as_of)
    invoiced = sum((i.amount for i in invoices if first <= i.issued_on < end), ZERO)
    return max(ZERO, invoiced - already_paid_out)


def capped_damages(claimed: Decimal, cap: Decimal) -> Decimal:
    """The damages owed: the proven claim, limited to the clause's cap, to the cent."""
    if claimed < 0 or cap < 0:
        raise ValueError("claims and caps are never negative")
    return round_cents(min(claimed, cap))


class TerminationCause(StrEnum):
    """Why a prepaid contract ended, as 000 §13.2 distinguishes it."""

    NON_RENEWAL = "non_renewal"
    PROVIDER_FAULT = "provider_fault"
    CLIENT_FAULT = "client_fault"
    SHARED_FAULT = "shared_fault"


def balance_refund_000_s13_2(balance: Decimal, cause: TerminationCause) -> Decimal:
    """000 §13.2: how much of a credit balance is refunded when the contract ends.

    Non-renewal: all of it. Early termination for the provider's fault: all of it; for
    the client's fault: nothing; shared fault: half. A zero or negative balance refunds
    nothing. Rounded half-up to the cent (half of 10.01 is 5.01).
    """
    if balance <= 0:
        return ZERO
    if cause in (TerminationCause.NON_RENEWAL, TerminationCause.PROVIDER_FAULT):
        return round_cents(balance)
    if cause is TerminationCause.SHARED_FAULT:
        return round_cents(balance / TWO)
    return ZERO
