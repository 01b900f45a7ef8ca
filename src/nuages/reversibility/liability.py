"""The liability cap of a contract for one failure (SPEC §15: computed, not argued),
from its own invoices and payments, with the deadline to claim.

000 §12.1: 2 × the monthly amount of the failing service for a failure of at most 15
days, else 1 × the yearly amount — for a prepaid contract the monthly amount is what
its account was debited for services in the month before the failure (the yearly one,
in the 12 months before, never less than 12 × that month: SPEC §17); 001 §12: the
invoices issued *and paid* in the 12 months before the failure; 003 §6.1: the amounts
received until the event; 004 §13: the amount invoiced over the last 12 months, all
events together (nothing paid out under the clause is recorded yet). Claims: 001 §12
within 72 calendar hours of knowing the failure, 003 §6.1 within 8 working days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.calendar import shift_date_months
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.money import round_cents
from nuages.reversibility import money
from nuages.terms import apply


@dataclass
class CapView:
    """A cap, its rule and clause, what it was measured on, and the claim deadline."""

    contract_id: str
    clause: str
    rule: str
    cap: Decimal
    currency: str
    failure_at: dt.datetime
    failure_end: dt.datetime | None
    claim_deadline: dt.datetime | None
    claim_by: str
    basis: dict[str, str] = field(default_factory=dict)


def liability_cap(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    failure_at: dt.datetime | None,
    failure_end: dt.datetime | None = None,
    known_at: dt.datetime | None = None,
) -> CapView:
    """The cap of the contract's clause for a failure that started at ``failure_at``
    (and lasted until ``failure_end``, 000 §12.1; still running: until now), and the
    deadline of a claim made from ``known_at`` (default: the failure's start)."""
    actor.require(Scope.BILLING)
    contract = contracts.get_contract(session, actor, contract_id)
    offer = registry.for_contract(session, contract)
    now = utc_now()
    failure_at = failure_at or now
    if failure_at > now:
        raise ValidationFailed("failure: a failure is never in the future")
    if failure_end is not None and failure_end < failure_at:
        raise ValidationFailed("failure_end: before the failure's start")
    if known_at is not None and known_at < failure_at:
        raise ValidationFailed("known_at: before the failure's start")
    calendar = apply.calendar_for(offer)
    day = calendar.local_date(failure_at)
    rule = offer.liability
    basis: dict[str, str] = {}
    monthly = yearly = None
    duration = None
    if rule.cap_rule == "monthly_multiple_by_duration":
        duration = (failure_end or now) - failure_at
        month_start = calendar.start_of_day(shift_date_months(day, -1))
        year_start = calendar.start_of_day(shift_date_months(day, -12))
        start = calendar.start_of_day(day)
        monthly = _monthly(session, contract.id, offer.billing.mode, calendar, month_start, start)
        yearly = max(
            12 * monthly,
            _monthly(session, contract.id, offer.billing.mode, calendar, year_start, start),
        )
        basis = {
            "monthly_amount": str(monthly),
            "yearly_amount": str(yearly),
            "failure_days": str(round(Decimal(duration.total_seconds()) / 86400, 2)),
        }
    invoices = money.invoice_records(session, contract.id, calendar)
    payments = money.payment_records(session, contract.id)
    cap = apply.liability_cap_for(
        offer,
        day,
        monthly_amount=monthly,
        yearly_amount=yearly,
        failure_duration=duration,
        invoices=invoices,
        payments=payments,
    )
    if rule.cap_rule in ("yearly_fee_paid_last_12_months", "invoiced_last_12_months_aggregate"):
        basis["invoices"] = str(len(invoices))
        basis["window"] = f"[{shift_date_months(day, -12)}, {day})"
    elif rule.cap_rule == "amounts_received_until_event":
        basis["payments"] = str(len(payments))
        basis["until"] = str(day)
    deadline = None
    if rule.claim_window is not None:
        deadline = calendar.add(
            known_at or failure_at, rule.claim_window.amount, apply.duration_unit(rule.claim_window)
        )
    return CapView(
        contract_id=contract.id,
        clause=rule.clause or "",
        rule=rule.cap_rule,
        cap=round_cents(cap),
        currency=offer.offer.currency,
        failure_at=failure_at,
        failure_end=failure_end,
        claim_deadline=deadline,
        claim_by=rule.claim_by,
        basis=basis,
    )


def _monthly(
    session: Session,
    contract_id: str,
    mode: str,
    calendar: object,
    start: dt.datetime,
    end: dt.datetime,
) -> Decimal:
    """What the contract cost over ``[start, end)``: its prepaid usage, or the invoices
    issued then."""
    if mode == "prepaid":
        return money.ledger_usage(session, contract_id, start, end)
    from nuages.kernel.calendar import ContractCalendar

    assert isinstance(calendar, ContractCalendar)
    first, last = calendar.local_date(start), calendar.local_date(end)
    return round_cents(
        sum(
            (
                i.amount
                for i in money.invoice_records(session, contract_id, calendar)
                if first <= i.issued_on < last
            ),
            Decimal(0),
        )
    )
