"""Price revisions applied to prepaid consumption (000 §13.3).

Metering debits usage at the catalogue price of the contract's offer version (the bulk
path prices per version, not per contract). Once a revision is recorded on the contract
(``contracts.revisions``, from the anniversary of the day the minimum amount was paid),
this pass adds, for each local day fully elapsed since, one entry for the difference:
(cumulative factor − 1) × that day's usage, a fee when prices rose, a credit when they
fell, keyed by contract and day so it is written once. The account therefore pays the
revised price for every hour from the revision date, a day late at most.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.billing import ledger
from nuages.billing.models import BillingAccount, EntryKind, LedgerEntry
from nuages.contracts import revisions
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.calendar import ONE_DAY
from nuages.kernel.money import round_ledger
from nuages.terms.apply import calendar_for

KEY = "price-revision:"
ONE = Decimal(1)


def settle(session: Session, registry: OfferRegistry, now: dt.datetime) -> list[str]:
    """Write the revision entries of every elapsed day; return their keys."""
    written: list[str] = []
    rows = session.execute(
        select(Contract, BillingAccount).join(
            BillingAccount, BillingAccount.contract_id == Contract.id
        )
    ).all()
    for contract, account in rows:
        revs = revisions.revisions_of(session, contract.id)
        if not revs:
            continue
        calendar = calendar_for(registry.for_contract(session, contract))
        last = session.scalar(
            select(func.max(LedgerEntry.at)).where(
                LedgerEntry.contract_id == contract.id,
                LedgerEntry.idempotency_key.like(f"{KEY}%"),
            )
        )
        first = calendar.local_date(revs[0].effective_at)
        if last is not None:
            first = max(first, calendar.local_date(last - dt.timedelta(microseconds=1)) + ONE_DAY)
        today = calendar.local_date(now)
        start = calendar.start_of_day(first)
        usage = session.execute(
            select(LedgerEntry.period_start, LedgerEntry.amount).where(
                LedgerEntry.contract_id == contract.id,
                LedgerEntry.kind == EntryKind.USAGE.value,
                LedgerEntry.period_start >= start,
                LedgerEntry.period_start < calendar.start_of_day(today),
            )
        ).all()
        by_day: dict[dt.date, Decimal] = {}
        for period_start, amount in usage:
            if period_start is None:  # usage always has its period; keeps the types honest
                continue
            day = calendar.local_date(period_start)
            by_day[day] = by_day.get(day, Decimal(0)) + amount
        for day in sorted(by_day):
            factor = revisions.factor_at(session, contract.id, calendar.start_of_day(day))
            delta = round_ledger(by_day[day] * (factor - ONE))
            if delta == 0:
                continue
            key = f"{KEY}{contract.id}:{day.isoformat()}"
            kind = EntryKind.FEE if delta < 0 else EntryKind.CREDIT
            clause = revs[-1].clause
            _entry, new = ledger.post(
                session,
                account,
                kind=kind,
                amount=delta,
                key=key,
                at=calendar.start_of_day(day + ONE_DAY),
                reference=clause,
                description=f"révision des prix ×{factor:.6f} ({clause})",
            )
            if new:
                written.append(key)
    return written
