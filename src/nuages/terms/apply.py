"""An offer's numbers applied: the one place that feeds a terms file into the calculators.

The billing and SLA services and the ``nuages terms`` commands all call these
functions, so an operator's CLI answer is the number the platform itself applies. Pure:
no database, no clock, no I/O — every fact (outages, invoices, legal rates) is passed in.
The calendar basics (``apply_base``) and the SLA (``apply_sla``) have modules of their
own; their names are importable from here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Forbidden, ValidationFailed
from nuages.kernel.money import round_cents
from nuages.terms.apply_base import (
    TermsNotApplicable,
    calendar_for,
    coverage_window,
    duration_unit,
)
from nuages.terms.apply_sla import (
    MaintenanceWindow,
    SlaAssessment,
    assess,
    excluded_maintenance,
    sla_for_month,
    sla_policy,
    suspended_spans,
)
from nuages.terms.calc import indexation, interest, liability, proration, seats, termination
from nuages.terms.schema import Offer, Unit

__all__ = [
    "MaintenanceWindow",
    "SlaAssessment",
    "TermsNotApplicable",
    "assess",
    "balance_refund_for",
    "calendar_for",
    "check_client_feature",
    "check_firewall_at_order",
    "coverage_window",
    "duration_unit",
    "early_termination_due_for",
    "excluded_maintenance",
    "interest_for",
    "invoice_received_at",
    "legal_rate_series",
    "liability_cap_for",
    "notice_date",
    "reminder_fee_for",
    "revise_price",
    "seat_removal_for",
    "sla_for_month",
    "sla_policy",
    "suspended_spans",
    "upgrade_charge",
]

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def interest_for(
    offer: Offer,
    amount: Decimal,
    due_on: dt.date,
    paid_on: dt.date,
    legal_rates: Sequence[interest.LegalRate] = (),
) -> interest.InterestResult:
    """Late-payment interest on ``amount`` due ``due_on`` and paid ``paid_on``.

    000 §13.1: the offer's multiple of the legal rate in force on the due date, from the
    series of the contract's law (``legal_rate_series``; rates entered by staff with
    their validity periods; the result names the rate used); 001 §4.4: a fixed yearly rate, every
    started month counted in full. Other fixed rates accrue per actual day (SPEC §17).
    """
    rule = offer.billing.late_payment
    if rule.rule == "legal_rate_multiple" and rule.legal_rate_multiple is not None:
        return interest.late_interest_000(
            amount,
            due_on,
            paid_on,
            legal_rates,
            multiplier=rule.legal_rate_multiple,
            series=legal_rate_series(offer),
        )
    if rule.rule == "fixed_yearly_rate" and rule.yearly_rate_pct is not None:
        if rule.started_months_in_full:
            return interest.late_interest_001(
                amount, due_on, paid_on, annual_rate_pct=rule.yearly_rate_pct
            )
        days = max(0, (paid_on - due_on).days)
        first = due_on + dt.timedelta(days=1)
        unrounded = interest.actual_365_366(
            amount, rule.yearly_rate_pct, first, first + dt.timedelta(days=days)
        )
        return interest.InterestResult(
            round_cents(unrounded), unrounded, rule.yearly_rate_pct, days, 0
        )
    raise TermsNotApplicable(f"offer {offer.id} states no late-payment interest")


def legal_rate_series(offer: Offer) -> str:
    """Whose legal interest rate the offer applies: its ``legal_rate_series``, else the
    contract's law (SPEC §17: 000 is Belgian law → the Belgian legal rate)."""
    return offer.billing.late_payment.legal_rate_series or offer.offer.law


def reminder_fee_for(offer: Offer, reminders_already_sent: int) -> Decimal:
    """The fee for a payment reminder (001 §4.4: 75, then 150 on repeat); 0 if none."""
    fees = offer.billing.reminder_fees
    if fees is None:
        return ZERO
    return interest.reminder_fee(reminders_already_sent, first=fees.first, repeat=fees.repeat)


def revise_price(
    offer: Offer,
    p0: Decimal,
    indices: Mapping[str, tuple[Decimal, Decimal]] | None = None,
    *,
    proposed: Decimal | None = None,
) -> indexation.IndexationResult:
    """The yearly revision of price ``p0`` under the offer's formula.

    ``indices`` maps an index name to ``(base, current)`` (000 §13.3: Syntec and ElecVert;
    004 §8.1: Syntec). 003 §14.3 has no index: the provider ``proposed`` a new price and
    the increase is capped at 5 % of the price.
    """
    terms = offer.indexation
    given = dict(indices or {})
    if terms.formula == "weighted_indices":
        wanted = [i.name for i in terms.indices]
        missing = [name for name in wanted if name not in given]
        unknown = [name for name in given if name not in wanted]
        if missing or unknown:
            raise TermsNotApplicable(
                f"offer {offer.id} revises on {', '.join(wanted)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        terms_used = [
            indexation.IndexTerm(i.weight, given[i.name][0], given[i.name][1], i.name)
            for i in terms.indices
        ]
        return indexation.revise_price(
            p0, terms_used, fixed=terms.fixed_part, cap_pct=terms.yearly_cap_pct
        )
    if terms.formula == "capped_increase" and terms.yearly_cap_pct is not None:
        if proposed is None:
            raise TermsNotApplicable(
                f"offer {offer.id} has no index formula: give the proposed new price"
            )
        if given:
            raise TermsNotApplicable(f"offer {offer.id} revises on no index")
        price = indexation.cap_yearly_increase(p0, proposed, terms.yearly_cap_pct)
        factor = proposed / p0 if p0 else Decimal(1)
        return indexation.IndexationResult(price, proposed, factor, capped=price < proposed)
    raise TermsNotApplicable(
        f"offer {offer.id} has no yearly revision formula ({terms.formula.replace('_', ' ')})"
    )


def upgrade_charge(
    offer: Offer,
    old_price: Decimal,
    new_price: Decimal,
    period_start: dt.date,
    next_invoice: dt.date,
    changed_on: dt.date,
) -> proration.ProrationResult:
    """003 §14.3: an upgrade costs the price difference prorata to the next invoice;
    a downgrade costs nothing and refunds nothing. Only invoiced offers bill this way."""
    if offer.billing.mode != "invoiced":
        raise TermsNotApplicable(f"offer {offer.id} is prepaid: usage is debited as it runs")
    return proration.config_change_charge(
        old_price, new_price, period_start, next_invoice, changed_on
    )


def liability_cap_for(
    offer: Offer,
    event_on: dt.date,
    *,
    monthly_amount: Decimal | None = None,
    yearly_amount: Decimal | None = None,
    failure_duration: dt.timedelta | None = None,
    invoices: Sequence[liability.InvoiceRecord] = (),
    payments: Sequence[liability.PaymentRecord] = (),
    already_paid_out: Decimal = ZERO,
) -> Decimal:
    """The most the provider may owe for a failure, under the offer's cap rule (SPEC §15).

    000 §12.1: a multiple of the monthly amount for a short failure, of the yearly amount
    for a long one (the multiples and the day limit come from the terms file); 001 §12:
    the yearly fee from invoices issued and paid in the 12 months before; 003 §6.1: the
    amounts received until the event; 004 §13: invoiced over the last 12 months, minus
    what was already paid out for the whole contract.
    """
    rule = offer.liability
    if rule.cap_rule == "monthly_multiple_by_duration":
        if monthly_amount is None or failure_duration is None:
            raise TermsNotApplicable("this cap needs the monthly amount and the failure's length")
        short_days = rule.short_failure_max_days
        short_multiple = rule.short_failure_monthly_multiple
        long_multiple = rule.long_failure_yearly_multiple
        if short_days is None or short_multiple is None or long_multiple is None:
            raise TermsNotApplicable(f"offer {offer.id} leaves its liability cap incomplete")
        # Same reading as calc.liability.cap_000_s12_1: a failure longer than the short
        # limit, even by less than a day, takes the yearly cap (client-favourable).
        if failure_duration <= dt.timedelta(days=short_days):
            return short_multiple * monthly_amount
        yearly = 12 * monthly_amount if yearly_amount is None else yearly_amount
        return long_multiple * yearly
    if rule.cap_rule == "yearly_fee_paid_last_12_months":
        return liability.cap_001_s12(invoices, event_on)
    if rule.cap_rule == "amounts_received_until_event":
        return liability.cap_003_s6_1(payments, event_on)
    if rule.cap_rule == "invoiced_last_12_months_aggregate":
        return liability.cap_004_s13(invoices, event_on, already_paid_out)
    raise TermsNotApplicable(f"offer {offer.id} states no liability cap")


def balance_refund_for(
    offer: Offer, balance: Decimal, cause: liability.TerminationCause
) -> Decimal:
    """000 §13.2: the share of a prepaid credit balance refunded at the end, to the cent.

    The shares come from ``[billing.prepaid.balance_refund]`` (000: non-renewal and
    provider fault 100 %, client fault 0 %, shared fault 50 %).
    """
    prepaid = offer.billing.prepaid
    if prepaid is None:
        raise TermsNotApplicable(f"offer {offer.id} has no prepaid account")
    if balance <= 0:
        return ZERO
    shares = prepaid.balance_refund
    pct = {
        liability.TerminationCause.NON_RENEWAL: shares.non_renewal,
        liability.TerminationCause.PROVIDER_FAULT: shares.provider_fault,
        liability.TerminationCause.CLIENT_FAULT: shares.client_fault,
        liability.TerminationCause.SHARED_FAULT: shares.shared_fault,
    }[cause]
    return round_cents(balance * pct / HUNDRED)


def invoice_received_at(
    offer: Offer, issued_at: dt.datetime, accepted_at: dt.datetime | None = None
) -> dt.datetime:
    """When an invoice counts as received (SPEC §17, 001 §4.1, §4.4).

    The moment the client's mail server accepted its e-mail (``accepted_at``, recorded by
    the notices slice) when known; before that exists, the start of the local issue date
    plus ``assumed_receipt_after_issue`` days (001: 1) — an invoice issued Tue 3 November
    counts as received Wed 4 November 00:00, so its 15 days (day of receipt not counted)
    end with 19 November. An offer without the setting receives at issue.
    """
    if accepted_at is not None:
        return accepted_at
    invoiced = offer.billing.invoiced
    days = invoiced.assumed_receipt_after_issue if invoiced is not None else None
    if days is None:
        return issued_at
    calendar = calendar_for(offer)
    return calendar.start_of_day(calendar.local_date(issued_at) + dt.timedelta(days=days))


def seat_removal_for(offer: Offer, added_on: dt.date, removed_on: dt.date) -> seats.SeatRemoval:
    """Removing a user seat (001 §4.1–4.3): billed to the end of its minimum if earlier.

    Only offers priced per user with ``minimum_per_seat`` commit each seat; others stop
    billing the seat on its removal.
    """
    pricing = offer.catalogue.user_pricing
    if pricing is None:
        raise TermsNotApplicable(f"offer {offer.id} is not priced per user")
    minimum = pricing.minimum_subscription
    if not pricing.minimum_per_seat:
        return seats.seat_removal(added_on, removed_on, 0)
    if minimum.unit is Unit.months:
        months = minimum.amount
    elif minimum.unit is Unit.years:
        months = 12 * minimum.amount
    else:
        raise TermsNotApplicable(f"a minimum subscription of {minimum} is not in months")
    return seats.seat_removal(added_on, removed_on, months)


def notice_date(
    offer: Offer,
    *,
    first_presented_at: dt.datetime | None = None,
    received_at: dt.datetime | None = None,
) -> dt.datetime:
    """The moment a registered letter counts from (003 §13.1.5, SPEC §12).

    Under ``termination.notice_dated_by = "first_presentation"`` it is the postmark of the
    letter's first presentation (deadlines run from it); otherwise its receipt. A date in
    the future, or a missing one, is refused naming the field and the clause.
    """
    by_presentation = offer.termination.notice_dated_by == "first_presentation"
    field, when = (
        ("first_presented_at", first_presented_at)
        if by_presentation
        else ("received_at", received_at)
    )
    clause = "003 §13.1.5" if by_presentation else (offer.termination.clause or "the terms")
    if when is None:
        raise ValidationFailed(f"{field}: required — a notice is dated by it ({clause})")
    now = utc_now()
    if when.tzinfo is None:
        raise ValidationFailed(f"{field}: give a time zone")
    if when > now:
        raise ValidationFailed(
            f"{field}: {when.isoformat()} is in the future (now is "
            f"{now.isoformat(timespec='seconds')}); a registered letter is dated by the "
            f"postmark of its first presentation, which has happened ({clause})"
        )
    return when.astimezone(dt.UTC)


def early_termination_due_for(
    offer: Offer,
    monthly_amount: Decimal,
    terminated_on: dt.date,
    term_end: dt.date,
    unpaid_invoiced: Sequence[Decimal] = (),
) -> termination.EarlyTerminationDue:
    """003 §13.2.1: what early termination makes due at once under the offer; offers
    without the rule make only the unpaid invoices due."""
    if not offer.termination.early_termination_remaining_due:
        return termination.early_termination_due(
            ZERO, terminated_on, terminated_on, unpaid_invoiced
        )
    return termination.early_termination_due(
        monthly_amount, terminated_on, term_end, unpaid_invoiced
    )


def check_client_feature(offer: Offer, feature: str, *, managed: bool, staff: bool) -> None:
    """Refuse (403, naming the clause) a self-service ``feature`` the offer does not give.

    002 §3.8.2: on a managed server the client has no direct access (no console, no SSH
    key, no self-service action) — staff act for it, and their actions are recorded as
    done for the client. 002 §3 Essentiel: only the listed features, "à l'exclusion de
    toute autre". Staff are never refused here.
    """
    features = offer.catalogue.features
    if staff or features is None:
        return
    clause = features.clause or "the terms"
    if managed and not features.managed_client_access:
        raise Forbidden(
            f"{feature}: a managed server is administered entirely by the provider and "
            f"gives the client no direct access (002 §3.8.2); ask the provider's staff"
        )
    if features.exclusive and feature not in features.client:
        listed = ", ".join(features.client)
        raise Forbidden(
            f"{feature}: offer {offer.id} gives only {listed} ({clause}: "
            '"se limitent exclusivement aux suivantes")'
        )


def check_firewall_at_order(offer: Offer, tier: str | None) -> str | None:
    """002 §3.6 Cloud Datacenter: one firewall tier (standard or advanced) chosen at order;
    ``ValidationFailed`` naming ``firewall_tier`` when missing or not offered, or given
    to an offer that asks for no choice (its firewall, if any, comes with the service)."""
    features = offer.catalogue.features
    if features is None or not features.firewall_at_order:
        if tier is not None:
            raise ValidationFailed(
                f"firewall_tier: offer {offer.id} has no firewall chosen at order; leave it out"
            )
        return None
    allowed = features.firewall_at_order
    if tier not in allowed:
        raise ValidationFailed(
            f"firewall_tier: choose one of {', '.join(allowed)} at order "
            f"(002 §3.6, offer {offer.id}); got {tier!r}"
        )
    return tier
