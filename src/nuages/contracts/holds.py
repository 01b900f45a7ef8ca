"""Holds: the one way a contract is suspended (SPEC §11, 000 §11, 001 §13.2, 003 §8,
§14.5, 004 §7, §17.1).

A contract is suspended while at least one hold is open. A hold names its ground (one of
the terms file's suspension grounds, a staff decision, force majeure 003 §9, or for a
prepaid offer the negative balance 000 §11.2), its clause, who placed it and when, the
expected end where known, and who lifted it and when. Several holds may be open at
once; lifting one leaves the others in force; the contract resumes (to the state it was
suspended from) only when the last one is lifted. Billing, dunning and staff place and
lift holds here; nothing else moves a contract into or out of ``suspended``.

What a hold does to the VMs is compute's work: every place or lift asks, after commit,
for the job ``compute_enforce_holds`` (by name), and compute's reconciliation pass
finishes whatever a crash left between the hold and the VMs (``compute/services/
holds.py``). Client-side acts on a held contract are refused by ``refuse_if_held``
with a problem naming the ground and clause.

A hold's scope is ``contract`` (the above) or ``network``: a partial suspension placed
by compute's network cut on a contractual ground (000 §11.1 "bloquer une ou plusieurs
Machines Virtuelles", 004 §9 "réseau virtuel désactivé"): the named VMs' network is cut
and nothing else — the contract keeps its state, its other VMs run, the client may act
(a compromised server must be reinstallable, 003 §7.3), no pause is asked, and compute
notifies the cut itself. It is billed like any suspension and, lifted as wrongful, gives
back its VMs' held time (000 §11.1). ``open_holds`` and everything that suspends, pauses
or counts the 004 §17.1 fifteen days see only contract-scope holds.

Placing is idempotent per ground and scope: a second hold on a ground already open is the same
hold (one open hold per contract and ground, a partial unique index). Every change is
written with the contract row locked, so concurrent places and lifts leave the holds
and the contract's state consistent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import jobs
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from nuages.notices import announce
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import shift_by
from nuages.terms.schema import Offer

STAFF_DECISION = "staff-decision"
FORCE_MAJEURE = "force-majeure"
NEGATIVE_BALANCE = "negative-balance"
# The compute job that brings the contract's VMs in line with its holds.
ENFORCE_JOB = "compute_enforce_holds"
# The billing job that credits the held time of a hold lifted as wrongful (000 §11.1).
WRONGFUL_JOB = "billing_credit_wrongful_hold"
# Where a hold suspends a contract from (the others keep their state).
SUSPENDABLE = frozenset({ContractState.ACTIVE, ContractState.ENDING})
CONTRACT_SCOPE = "contract"
NETWORK_SCOPE = "network"  # a network cut's partial suspension (compute/net)
SCOPES = (CONTRACT_SCOPE, NETWORK_SCOPE)


class ContractOnHold(Conflict):
    """The contract is suspended: the act is refused until its holds are lifted."""

    slug = "contract-on-hold"
    title = "The contract is suspended"


class HoldNotOpen(Conflict):
    """The hold was lifted already."""

    slug = "hold-not-open"
    title = "The hold is not open"


class UnknownGround(ValidationFailed):
    """The ground is not one of the contract's suspension grounds."""


@dataclass(frozen=True)
class Ground:
    """A reason the provider may suspend under one offer, with its clause."""

    cause: str
    clause: str
    billed: bool = True
    # A network cut on this ground is lifted by staff, or only by the server's reinstall
    # (the terms' ``lifted_by``: 003 §7.3, 004 annexe 1).
    lifted_by: str = "staff"


def grounds_of(offer: Offer) -> dict[str, Ground]:
    """The grounds a hold may name under ``offer``: the terms file's, a staff decision
    (with a reason), force majeure where the offer has one (003 §9), and the negative
    balance of a prepaid account (000 §11.2)."""
    general = offer.suspension.clause or ""
    found = {
        g.cause: Ground(g.cause, g.clause or general, g.billed, g.lifted_by)
        for g in offer.suspension.grounds
    }
    found.setdefault(STAFF_DECISION, Ground(STAFF_DECISION, general))
    force_majeure = offer.termination.force_majeure
    if force_majeure is not None:
        found.setdefault(FORCE_MAJEURE, Ground(FORCE_MAJEURE, force_majeure.clause or "003 §9"))
    if offer.billing.mode == "prepaid":
        found.setdefault(NEGATIVE_BALANCE, Ground(NEGATIVE_BALANCE, "000 §11.2"))
    return found


def _locked(session: Session, contract_id: str) -> Contract:
    """The contract, its row locked until commit (PostgreSQL; SQLite's transactions
    already take the write lock up front)."""
    contract = session.execute(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if contract is None:
        raise NotFound("no such contract")
    return contract


def open_holds(
    session: Session, contract_id: str, scope: str | None = CONTRACT_SCOPE
) -> list[ContractHold]:
    """The contract's open holds of ``scope`` (None: every scope), oldest first."""
    query = select(ContractHold).where(
        ContractHold.contract_id == contract_id, ContractHold.lifted_at.is_(None)
    )
    if scope is not None:
        query = query.where(ContractHold.scope == scope)
    return list(session.execute(query.order_by(ContractHold.placed_at, ContractHold.id)).scalars())


def held_contracts(session: Session) -> set[str]:
    """Every contract with at least one open hold (for reconciliation)."""
    return set(
        session.execute(
            select(ContractHold.contract_id)
            .where(ContractHold.lifted_at.is_(None), ContractHold.scope == CONTRACT_SCOPE)
            .distinct()
        ).scalars()
    )


def _who(who: Actor) -> str:
    return who.id or f"system:{who.label}"


def place(
    session: Session,
    who: Actor,
    offer: Offer,
    contract_id: str,
    ground: str,
    reason: str,
    *,
    expected_end_at: dt.datetime | None = None,
    clause: str | None = None,
    scope: str = CONTRACT_SCOPE,
) -> tuple[ContractHold, bool]:
    """Open a hold on ``ground`` (one of ``offer``'s, the contract's own terms); return
    it and whether it is new (a ground already open in that scope is the same hold,
    nothing written). A contract-scope hold suspends an active or ending contract; a
    network-scope one changes nothing else (see the module)."""
    if scope not in SCOPES:
        raise ValidationFailed(f"scope: {scope!r} is not one of {', '.join(SCOPES)}")
    contract = _locked(session, contract_id)
    if ContractState(contract.state) not in SUSPENDABLE | {ContractState.SUSPENDED}:
        raise InvalidTransition(f"a {contract.state} contract cannot be suspended")
    allowed = grounds_of(offer)
    if ground not in allowed:
        raise UnknownGround(
            f"ground: {ground!r} is not a suspension ground of offer {contract.offer_id} "
            f"({', '.join(sorted(allowed))})"
        )
    if ground == STAFF_DECISION and not reason.strip():
        raise ValidationFailed("reason: a staff decision states its reason")
    now = utc_now()
    if expected_end_at is not None and expected_end_at <= now:
        raise ValidationFailed("expected_end_at: must be in the future")
    existing = _open_on(session, contract.id, ground, scope)
    if existing is not None:
        return existing, False
    hold = ContractHold(
        contract_id=contract.id,
        client_id=contract.client_id,
        ground=ground,
        clause=clause or allowed[ground].clause,
        reason=reason,
        placed_by=_who(who),
        placed_at=now,
        expected_end_at=expected_end_at,
        wrongful=False,
        scope=scope,
    )
    try:
        with session.begin_nested():
            session.add(hold)
            session.flush()
    except IntegrityError:  # placed meanwhile by another transaction: the same hold
        existing = _open_on(session, contract.id, ground, scope)
        if existing is None:  # pragma: no cover - the index only fails on an open twin
            raise
        return existing, False
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.hold.place",
        params={
            "hold_id": hold.id,
            "ground": ground,
            "clause": hold.clause,
            "reason": reason,
            "expected_end_at": expected_end_at.isoformat() if expected_end_at else None,
            "scope": scope,
        },
        client_id=contract.client_id,
    )
    if scope != CONTRACT_SCOPE:
        return hold, True  # compute's network cut notifies and enforces it
    _announce(session, who, hold, lifted=False)
    if ContractState(contract.state) in SUSPENDABLE:
        resumes_to = contract.state
        contracts.transition(
            session, contract, ContractState.SUSPENDED, who, _reason_of(hold), by_hold=True
        )
        contract.resumes_to = resumes_to
        session.flush()
    jobs.enqueue(session, ENFORCE_JOB, contract.id)
    return hold, True


def _announce(session: Session, who: Actor, hold: ContractHold, *, lifted: bool) -> None:
    """The owners' notice (004 §7: the suspension with its ground and expected
    duration; its lifting), written with the hold."""
    still = [h.ground for h in open_holds(session, hold.contract_id) if h.id != hold.id]
    announce.hold_changed(
        session,
        who,
        lifted=lifted,
        hold_id=hold.id,
        contract_id=hold.contract_id,
        client_id=hold.client_id,
        ground=hold.ground,
        clause=hold.clause,
        reason=hold.reason if not lifted else (hold.lift_reason or ""),
        at=hold.lifted_at if lifted and hold.lifted_at else hold.placed_at,
        expected_end_at=hold.expected_end_at,
        still_held=", ".join(still),
    )


def _open_on(
    session: Session, contract_id: str, ground: str, scope: str = CONTRACT_SCOPE
) -> ContractHold | None:
    return session.execute(
        select(ContractHold).where(
            ContractHold.contract_id == contract_id,
            ContractHold.ground == ground,
            ContractHold.scope == scope,
            ContractHold.lifted_at.is_(None),
        )
    ).scalar_one_or_none()


def _reason_of(hold: ContractHold) -> str:
    clause = f" ({hold.clause})" if hold.clause else ""
    return f"hold: {hold.ground}{clause}" + (f": {hold.reason}" if hold.reason else "")[:400]


def lift(
    session: Session,
    who: Actor,
    contract_id: str,
    hold_id: str,
    reason: str,
    *,
    wrongful: bool = False,
) -> ContractHold:
    """Lift one open hold; the contract resumes once no hold is left open."""
    contract = _locked(session, contract_id)
    hold = session.get(ContractHold, hold_id, populate_existing=True)
    if hold is None or hold.contract_id != contract.id:
        raise NotFound("no such hold on this contract")
    if hold.lifted_at is not None:
        raise HoldNotOpen(f"hold {hold.id} ({hold.ground}) was lifted on {hold.lifted_at:%Y-%m-%d}")
    now = utc_now()
    done = session.execute(
        update(ContractHold)
        .where(ContractHold.id == hold.id, ContractHold.lifted_at.is_(None))
        .values(
            lifted_at=now,
            lifted_by=_who(who),
            lift_reason=reason,
            wrongful=wrongful,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise HoldNotOpen(f"hold {hold.id} was lifted meanwhile")
    session.refresh(hold)
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.hold.lift",
        params={
            "hold_id": hold.id,
            "ground": hold.ground,
            "clause": hold.clause,
            "reason": reason,
            "wrongful": wrongful,
            "held_from": hold.placed_at.isoformat(),
            "scope": hold.scope,
        },
        client_id=contract.client_id,
    )
    if hold.scope != CONTRACT_SCOPE:
        if wrongful:  # 000 §11.1: the cut VMs' held time is given back
            jobs.enqueue(session, WRONGFUL_JOB, hold.id)
        return hold
    _announce(session, who, hold, lifted=True)
    if not open_holds(session, contract.id) and contract.state == ContractState.SUSPENDED:
        target = ContractState(contract.resumes_to or ContractState.ACTIVE.value)
        contracts.transition(
            session, contract, target, who, f"last hold lifted: {reason}"[:500], by_hold=True
        )
        contract.resumes_to = None
        session.flush()
    jobs.enqueue(session, ENFORCE_JOB, contract.id)
    if wrongful:
        # 000 §11.1: a wrongful suspension is not billed; billing credits the held time.
        jobs.enqueue(session, WRONGFUL_JOB, hold.id)
    return hold


def lift_ground(
    session: Session, who: Actor, contract_id: str, ground: str, reason: str
) -> ContractHold | None:
    """Lift the open hold on ``ground`` if there is one (billing, dunning: once the
    cause is remedied, 004 §7); None when none is open."""
    hold = _open_on(session, contract_id, ground)
    if hold is None:
        return None
    try:
        return lift(session, who, contract_id, hold.id, reason)
    except HoldNotOpen:
        return None


def refuse_if_held(session: Session, contract: Contract, what: str) -> None:
    """Refuse a client-side act on a suspended contract (003 §8: access is blocked),
    naming the ground and clause of its oldest open hold."""
    holds = open_holds(session, contract.id)
    if not holds and contract.state != ContractState.SUSPENDED:
        return
    if not holds:
        raise ContractOnHold(f"the contract is suspended: cannot {what}; contact the provider")
    first = holds[0]
    clause = f" ({first.clause})" if first.clause else ""
    more = f" and {len(holds) - 1} other hold(s)" if len(holds) > 1 else ""
    raise ContractOnHold(
        f"the contract is suspended on ground {first.ground}{clause}{more} since "
        f"{first.placed_at:%Y-%m-%d}: cannot {what}; contact the provider",
        ground=first.ground,
        clause=first.clause,
        hold_id=first.id,
        grounds=[h.ground for h in holds],
    )


def terminable_from(offer: Offer, holds: list[ContractHold]) -> dt.datetime | None:
    """004 §17.1: when the provider may terminate because a hold stayed open longer
    than the offer's ``provider_may_terminate_after`` (15 calendar days): the end of
    that period after the oldest open hold, in the contract's calendar; None when the
    offer gives no such right or nothing is held."""
    after = offer.suspension.provider_may_terminate_after
    if after is None or not holds:
        return None
    placed = min(h.placed_at for h in holds)
    return shift_by(calendar_for(offer), placed, after)


# ---------------------------------------------------------------- staff and readers


def _visible(session: Session, actor: Principal, contract_id: str) -> Contract:
    return contracts.get_contract(session, actor, contract_id)


def list_holds(session: Session, actor: Principal, contract_id: str) -> list[ContractHold]:
    """Every hold of a contract the caller may see, open and lifted, oldest first."""
    contract = _visible(session, actor, contract_id)
    return list(
        session.execute(
            select(ContractHold)
            .where(ContractHold.contract_id == contract.id)
            .order_by(ContractHold.placed_at, ContractHold.id)
        ).scalars()
    )


def staff_place(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    ground: str,
    reason: str,
    expected_end_at: dt.datetime | None = None,
) -> ContractHold:
    """Staff place a hold (004 §7: the client is told the ground and, where known, the
    expected duration). A ground already open is refused: lift it or name another."""
    contract = _visible(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff place holds")
    offer = registry.for_contract(session, contract)
    hold, new = place(
        session, actor.actor, offer, contract.id, ground, reason, expected_end_at=expected_end_at
    )
    if not new:
        raise Conflict(f"a hold on ground {ground} is already open on this contract ({hold.id})")
    return hold


def staff_lift(
    session: Session,
    actor: Principal,
    contract_id: str,
    hold_id: str,
    reason: str,
    wrongful: bool = False,
) -> ContractHold:
    """Staff lift a hold; ``wrongful`` records that the suspension was manifestly wrong
    (000 §11.1: then the suspended time is not billed)."""
    contract = _visible(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff lift holds")
    return lift(session, actor.actor, contract.id, hold_id, reason, wrongful=wrongful)


def suspend(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str, reason: str
) -> Contract:
    """``POST /contracts/{id}/suspend``, kept as a thin alias: a staff-decision hold."""
    staff_place(session, actor, registry, contract_id, STAFF_DECISION, reason)
    return _visible(session, actor, contract_id)


def resume(session: Session, actor: Principal, contract_id: str, reason: str) -> Contract:
    """``POST /contracts/{id}/resume``, kept as a thin alias: staff lift every open hold
    (004 §7: service restored once the cause is remedied)."""
    contract = _visible(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff resume contracts")
    holds = open_holds(session, contract.id)
    if not holds:
        raise InvalidTransition(f"a {contract.state} contract has no hold to lift")
    for hold in holds:
        lift(session, actor.actor, contract.id, hold.id, reason)
    return _visible(session, actor, contract_id)


@dataclass(frozen=True)
class HoldView:
    """What a contract shows of its holds: the open ones and the 004 §17.1 date."""

    holds: list[ContractHold]
    terminable_from: dt.datetime | None


def views(session: Session, registry: OfferRegistry, shown: list[Contract]) -> dict[str, HoldView]:
    """The open holds of each contract shown, in one query."""
    ids = [c.id for c in shown]
    by_contract: dict[str, list[ContractHold]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(ContractHold)
            .where(
                ContractHold.contract_id.in_(ids),
                ContractHold.lifted_at.is_(None),
                ContractHold.scope == CONTRACT_SCOPE,
            )
            .order_by(ContractHold.placed_at, ContractHold.id)
        ).scalars()
        for hold in rows:
            by_contract[hold.contract_id].append(hold)
    out = {}
    for contract in shown:
        holds = by_contract[contract.id]
        when = terminable_from(registry.for_contract(session, contract), holds) if holds else None
        out[contract.id] = HoldView(holds, when)
    return out
