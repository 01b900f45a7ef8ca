"""Price revisions applied to a contract (000 §13.3, 004 §8.1, 003 §14.3; SPEC §9).

A revision multiplies every price of the contract from its ``effective_at`` (the
anniversary: 000 §13.3 the day the minimum amount was paid, i.e. formation; 004 §8.1
each anniversary date). Index-based revisions (000 weighted Syntec/ElecVert, 004
Syntec) are computed from the published index values by invoicing, which holds them,
and recorded here; 003 §14.3 revisions are decided by staff, capped at 5 %, announced
by e-mail and open the client's penalty-free exit for 30 days. Invoiced lines and
prepaid rates read ``factor_at`` (the cumulative product of the revisions in force).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract, ContractPriceRevision
from nuages.contracts.term import offer_of
from nuages.history import service as history
from nuages.history.scopes import BILLING
from nuages.history.service import Actor
from nuages.kernel.calendar import shift_date_months
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, ValidationFailed
from nuages.notices.service import queue
from nuages.terms import apply
from nuages.terms.apply import calendar_for
from nuages.terms.schema import Offer
from nuages.terms.schema_common import Duration, Unit

ONE = Decimal(1)
# 003 §14.3: "le client pourra alors résilier sans pénalité" states no period; read with
# §14.4's 30 days for a change of service (the same kind of exit).
EXIT_WINDOW = Duration(amount=30, unit=Unit.calendar_days, clause="003 §14.3")


def list_revisions(
    session: Session, actor: Principal, contract_id: str
) -> list[ContractPriceRevision]:
    """The revisions of a contract the caller may see; prices are money, read with the
    ``billing`` scope (members never see them, 000 §5)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.BILLING)
    return revisions_of(session, contract.id)


def revisions_of(session: Session, contract_id: str) -> list[ContractPriceRevision]:
    """The contract's revisions, oldest first."""
    return revisions_by_contract(session, [contract_id]).get(contract_id, [])


def revisions_by_contract(
    session: Session, contract_ids: Sequence[str]
) -> dict[str, list[ContractPriceRevision]]:
    """Each contract's revisions, oldest first, in one statement (an invoicing run reads
    a chunk of contracts at once)."""
    out: dict[str, list[ContractPriceRevision]] = {}
    for row in session.execute(
        select(ContractPriceRevision)
        .where(ContractPriceRevision.contract_id.in_(list(contract_ids)))
        .order_by(ContractPriceRevision.effective_at)
    ).scalars():
        out.setdefault(row.contract_id, []).append(row)
    return out


def factor_at(session: Session, contract_id: str, at: dt.datetime) -> Decimal:
    """What the contract's prices are multiplied by at ``at`` (1 before any revision)."""
    row = session.execute(
        select(ContractPriceRevision)
        .where(
            ContractPriceRevision.contract_id == contract_id,
            ContractPriceRevision.effective_at <= at,
        )
        .order_by(ContractPriceRevision.effective_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return ONE if row is None else row.cumulative


def factors_at(session: Session, contract_ids: list[str], at: dt.datetime) -> dict[str, Decimal]:
    """``factor_at`` for many contracts in one read: contract id → the cumulative factor
    in force at ``at``, for those of ``contract_ids`` revised by then (the others: 1)."""
    out: dict[str, Decimal] = {}
    for i in range(0, len(contract_ids), 500):
        rows = session.execute(
            select(ContractPriceRevision.contract_id, ContractPriceRevision.cumulative)
            .where(
                ContractPriceRevision.contract_id.in_(contract_ids[i : i + 500]),
                ContractPriceRevision.effective_at <= at,
            )
            .order_by(ContractPriceRevision.effective_at)
        ).all()
        out.update({contract_id: cumulative for contract_id, cumulative in rows})
    return out


def anniversaries(offer: Offer, contract: Contract, now: dt.datetime) -> list[dt.datetime]:
    """The revision dates reached by ``now``: each anniversary of formation (000 §13.3
    the day the minimum amount was paid, which forms a prepaid contract; 004 §8.1 and
    003 §14.3 the contract's start)."""
    if contract.activated_at is None or offer.indexation.formula == "none":
        return []
    calendar = calendar_for(offer)
    first_day = calendar.local_date(contract.activated_at)
    out: list[dt.datetime] = []
    years = 1
    while True:
        # From the start of the anniversary day, as invoicing periods count (sources.py).
        at = calendar.start_of_day(shift_date_months(first_day, 12 * years))
        if at > now:
            return out
        out.append(at)
        years += 1


def record(
    session: Session,
    who: Actor,
    offer: Offer,
    contract: Contract,
    *,
    effective_at: dt.datetime,
    factor: Decimal,
    capped: bool,
    note: str,
    cumulative: Decimal | None = None,
) -> ContractPriceRevision | None:
    """Apply a revision from ``effective_at`` (once per date: a second call writes
    nothing and returns None); announced by e-mail where the terms say (003 §14.3),
    which opens the penalty-free exit."""
    terms = offer.indexation
    before = factor_at(session, contract.id, effective_at)
    exit_until = None
    if terms.client_may_terminate:
        exit_until = apply.calendar_for(offer).add(
            max(effective_at, utc_now()), EXIT_WINDOW.amount, apply.duration_unit(EXIT_WINDOW)
        )
    row = ContractPriceRevision(
        contract_id=contract.id,
        client_id=contract.client_id,
        effective_at=effective_at,
        factor=factor,
        cumulative=before * factor if cumulative is None else cumulative,
        capped=capped,
        clause=terms.clause or "",
        note=note[:500],
        decided_by=who.id or f"system:{who.label}",
        exit_until=exit_until,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.price_revision",
        params={
            "revision_id": row.id,
            "effective_at": effective_at.isoformat(),
            "factor": str(factor),
            "cumulative": str(row.cumulative),
            "capped": capped,
            "clause": row.clause,
            "note": note,
        },
        client_id=contract.client_id,
        scope=BILLING,  # prices are money: members never read them (000 §5)
    )
    queue(
        session,
        who,
        "price_revision",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"price-revision:{contract.id}:{effective_at.isoformat()}",
        legal_ref=row.clause,
        context={
            "revision_clause": row.clause,
            "effective_on": calendar_for(offer).local_date(effective_at).isoformat(),
            "change_pct": f"{(factor - ONE) * 100:.2f}",
            "note": note,
            "exit_until": calendar_for(offer).local_date(exit_until).isoformat()
            if exit_until
            else "",
        },
    )
    return row


def staff_revise(
    session: Session,
    actor: Principal,
    contract_id: str,
    *,
    proposed_pct: Decimal,
    reason: str = "",
) -> ContractPriceRevision:
    """003 §14.3: staff revise the contract's prices at its latest anniversary by
    ``proposed_pct`` %, capped at the offer's yearly cap (5 %)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff revise prices")
    offer = offer_of(session, contract)
    terms = offer.indexation
    if terms.formula != "capped_increase":
        raise ValidationFailed(
            f"proposed_pct: offer {offer.id} revises by its own formula "
            f"({terms.formula.replace('_', ' ')}, {terms.clause or 'its terms'}), applied at "
            "each anniversary by the daily job"
        )
    now = utc_now()
    dates = anniversaries(offer, contract, now)
    if not dates:
        raise Conflict(
            f"the contract has no anniversary yet: prices are revised yearly ({terms.clause})"
        )
    calendar = calendar_for(offer)
    if now >= calendar.shift_months(dates[-1], 1):
        # A yearly revision is made at the anniversary, not back-dated by months.
        following = calendar.shift_months(dates[-1], 12)
        raise Conflict(
            f"the last anniversary was on {calendar.local_date(dates[-1])}: revise within a "
            f"month of it, or at the next one on {calendar.local_date(following)} "
            f"({terms.clause})"
        )
    p0 = Decimal(100)
    result = apply.revise_price(offer, p0, proposed=p0 + proposed_pct)
    factor = result.price / p0
    note = f"{proposed_pct} % proposed" + (
        f", capped at {terms.yearly_cap_pct} %" if result.capped else ""
    )
    row = record(
        session, actor.actor, offer, contract, effective_at=dates[-1], factor=factor,
        capped=result.capped, note=f"{note}. {reason}".strip(". ").strip(),
    )  # fmt: skip
    if row is None:
        raise Conflict(f"the prices were already revised at this anniversary ({terms.clause})")
    return row
