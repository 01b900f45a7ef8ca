"""Index-based price revisions applied at each anniversary (000 §13.3, 004 §8.1).

The index values are staff's monthly entries (``nuages index set``, this slice's
``IndexValue``); at each anniversary the revision P = P0 × (fixed + Σ w × I/I0) is
computed from the last values known then (I0 the last known at formation) and recorded
on the contract (``contracts.revisions``), from which invoiced lines and prepaid rates
read it. A missing index value stops that contract's revision (reported, retried on
the next run) rather than using a stale one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.contracts import revisions
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor
from nuages.invoicing.pricing import PricingProblem
from nuages.invoicing.sources import IndexBook
from nuages.terms import apply
from nuages.terms.apply import calendar_for

RUNNING = (ContractState.ACTIVE.value, ContractState.SUSPENDED.value, ContractState.ENDING.value)


@dataclass
class RevisionReport:
    """What one pass applied, and what it could not."""

    applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def apply_due(
    session: Session, who: Actor, registry: OfferRegistry, now: dt.datetime
) -> RevisionReport:
    """Record every index revision whose anniversary is reached (once per date)."""
    report = RevisionReport()
    book: IndexBook | None = None
    for contract in session.execute(
        select(Contract).where(Contract.state.in_(RUNNING)).order_by(Contract.id)
    ).scalars():
        offer = registry.for_contract(session, contract)
        if offer.indexation.formula != "weighted_indices" or contract.activated_at is None:
            continue
        done = {r.effective_at for r in revisions.revisions_of(session, contract.id)}
        calendar = calendar_for(offer)
        first_day = calendar.local_date(contract.activated_at)
        for at in revisions.anniversaries(offer, contract, now):
            if at in done:
                continue
            book = book or IndexBook(session)
            try:
                indices: dict[str, tuple[Decimal, Decimal]] = {}
                parts = []
                for weight in offer.indexation.indices:
                    base_month, base = book.last_known(weight.name, first_day)
                    month, current = book.last_known(weight.name, calendar.local_date(at))
                    indices[weight.name] = (base, current)
                    parts.append(
                        f"{weight.name} {month:%Y-%m} {current} / {base_month:%Y-%m} {base}"
                    )
            except PricingProblem as exc:
                report.problems.append(f"{contract.id}: {exc}")
                break
            total = apply.revise_price(offer, Decimal(1), indices).price
            before = revisions.factor_at(session, contract.id, at)
            row = revisions.record(
                session, who, offer, contract, effective_at=at, factor=total / before,
                capped=False, note=", ".join(parts), cumulative=total,
            )  # fmt: skip
            if row is not None:
                report.applied.append(row.id)
    return report
