"""The daily job of the contract's life: it acts on every deadline reached, once.

For each running contract, in this order: a termination whose date is reached ends the
contract (``ending.py``); force majeure runs its course (003 §9); a terms change whose
refusal window closed in silence moves the contract to the new version (000 §4, 004
§3); a term reached renews the contract tacitly (000 §9, 001 §3.2, 003 §11.1, 004 §5)
unless a refusal of new terms blocks it (000 §4: it ends at the term) or the terms give
no renewal; a renewal coming within the notice of its tariffs is announced (001 §4.5).
Every act is a compare-and-swap or a keyed write, so a second run the same day finds
nothing left to do. One contract's problem is reported and does not stop the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.contracts import formal_notices, termination, terms_changes
from nuages.contracts.ending import EndCause, end
from nuages.contracts.models import Contract, ContractTermination, ContractTermsChange
from nuages.contracts.states import ContractState
from nuages.contracts.term import announce_renewal, backfill_term_end, offer_of, renew
from nuages.history.service import Actor
from nuages.kernel.errors import NuagesError
from nuages.terms.schema import Offer

log = logging.getLogger("nuages.contracts.daily")
LIVE = (ContractState.ACTIVE.value, ContractState.SUSPENDED.value, ContractState.ENDING.value)


@dataclass
class DailyReport:
    """What one pass did (contract ids per act) and the problems it met."""

    ended: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def acts(self) -> int:
        """How many acts the pass performed."""
        return sum(
            len(x) for x in (self.ended, self.renewed, self.announced, self.migrated, self.other)
        )


def run(session: Session, who: Actor, now: dt.datetime) -> DailyReport:
    """Act on every deadline reached by ``now`` (idempotent: see the module)."""
    report = DailyReport()
    ids = list(
        session.execute(
            select(Contract.id).where(Contract.state.in_(LIVE)).order_by(Contract.id)
        ).scalars()
    )
    for contract_id in ids:
        try:
            with session.begin_nested():
                _one(session, who, contract_id, now, report)
        except NuagesError as exc:
            report.problems.append(f"{contract_id}: {exc.detail}")
            log.warning("contract %s: %s", contract_id, exc.detail)
    return report


def _one(
    session: Session, who: Actor, contract_id: str, now: dt.datetime, report: DailyReport
) -> None:
    contract = session.get(Contract, contract_id, populate_existing=True)
    if contract is None or contract.state not in LIVE:
        return
    going = termination.pending(session, contract.id)
    if going is not None and going.effective_at <= now:
        if termination.take_effect(session, who, going, contract):
            report.ended.append(contract.id)
        return
    offer = offer_of(session, contract)
    if contract.term_ends_at is None and contract.activated_at is not None:
        # Formed before term ends were stored: the term running now (renewals implied).
        if backfill_term_end(session, who, contract, offer, now):
            report.other.append(contract.id)
    if formal_notices.force_majeure_step(session, who, contract, offer, now):
        report.other.append(contract.id)
        session.refresh(contract)
        going = termination.pending(session, contract.id)
        if going is not None and going.effective_at <= now:
            if termination.take_effect(session, who, going, contract):
                report.ended.append(contract.id)
            return
    for change in session.execute(
        select(ContractTermsChange).where(
            ContractTermsChange.contract_id == contract.id, ContractTermsChange.state == "open"
        )
    ).scalars():
        if terms_changes.due_to_migrate(change, now) and terms_changes.migrate(
            session, who, contract, change, now
        ):
            report.migrated.append(contract.id)
            offer = offer_of(session, contract)
    if contract.term_ends_at is not None and contract.term_ends_at <= now:
        _at_term(session, who, contract, offer, going, now, report)
        return
    if going is None and announce_renewal(session, who, contract, offer, now):
        report.announced.append(contract.id)


def _at_term(
    session: Session,
    who: Actor,
    contract: Contract,
    offer: Offer,
    going: ContractTermination | None,
    now: dt.datetime,
    report: DailyReport,
) -> None:
    assert contract.term_ends_at is not None
    term_end = contract.term_ends_at
    if going is None and terms_changes.blocks_renewal(session, offer, contract.id):
        # 000 §4: the refused terms never apply; the services run to their term, unrenewed.
        end(session, who, contract, EndCause.TERMS_REFUSED, term_end)
        report.ended.append(contract.id)
        return
    if going is None and not offer.duration.renewal.tacit:
        end(session, who, contract, EndCause.NON_RENEWAL, term_end)
        report.ended.append(contract.id)
        return
    if renew(session, who, contract, offer, now) is not None:
        report.renewed.append(contract.id)
