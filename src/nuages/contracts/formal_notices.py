"""Formal notices and force majeure (000 §16, 001 §3.3, 003 §13.1.2, 003 §9).

Staff record a formal notice for the client's breach, or a force-majeure event (which
suspends the contract through a hold); the contract becomes terminable once the offer's
delay is over (``termination.plan_ground``). The daily pass runs force majeure's course:
over once its hold is lifted; still running after 2 months, terminated automatically
with its 15 days' notice.

003 §9: "si le cas de force majeure dure plus de trente (30) jours, consécutifs ou non":
the 30 days are counted over every period of force majeure on the contract, not only
the current one. A new event's right opens once the earlier periods' time (each from
its notice to the lift of its hold) and the current one's together pass the 30 days;
the daily pass tells the client when that happens (once per event). The 2 months of the
automatic termination are the current suspension's ("reste suspendu"): consecutive.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.ending import ENDABLE, EndCause
from nuages.contracts.models import Contract, ContractFormalNotice, ContractHold
from nuages.contracts.states import ContractState
from nuages.contracts.term import offer_of
from nuages.contracts.termination import Plan, _day, _open_notice, pending, record
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from nuages.notices.models import Notice
from nuages.notices.service import queue
from nuages.terms.apply import calendar_for, notice_date
from nuages.terms.deadlines import Event, deadlines_for, shift_by
from nuages.terms.schema import Offer


def give_formal_notice(
    session: Session,
    actor: Principal,
    contract_id: str,
    ground: str,
    reason: str,
    *,
    given_at: dt.datetime | None = None,
    first_presented_at: dt.datetime | None = None,
    suspend: bool = False,
) -> ContractFormalNotice:
    """Staff record a formal notice for a breach (``client_breach``) or a force-majeure
    event (``force_majeure``, 003 §9: it suspends the contract through a hold). The
    contract becomes terminable once the offer's delay is over, counted from
    ``given_at`` or, for a registered letter under 003 §13.1.5, ``first_presented_at``."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff record formal notices")
    if ContractState(contract.state) not in ENDABLE:
        raise InvalidTransition(f"a {contract.state} contract takes no formal notice")
    offer = offer_of(session, contract)
    if first_presented_at is not None:
        # 003 §13.1.5: a registered letter counts from the postmark of its first
        # presentation, and its delay runs from there (not from its collection).
        if given_at is not None:
            raise ValidationFailed("given_at: give either given_at or first_presented_at")
        if offer.termination.notice_dated_by != "first_presentation":
            raise ValidationFailed(
                f"first_presented_at: offer {offer.id} dates a notice by its receipt; give given_at"
            )
        at = notice_date(offer, first_presented_at=first_presented_at)
    else:
        at = given_at or utc_now()
    if at > utc_now():
        raise ValidationFailed("given_at: is in the future")
    if ground == "force_majeure":
        _close_if_over(session, actor.actor, contract)
    if _open_notice(session, contract, ground) is not None:
        raise Conflict(f"a {ground.replace('_', ' ')} notice is already open on this contract")
    automatic = None
    if ground == "client_breach":
        cure = offer.termination.breach_cure
        if cure is None:
            raise ValidationFailed(
                f"ground: offer {offer.id} states no delay after a formal notice "
                f"({offer.termination.clause or 'its terms'})"
            )
        found = {d.name: d for d in deadlines_for(offer, Event.breach_notice, at)}
        terminable = found["breach-cure-end"].ends_at
        clause = cure.clause or offer.termination.clause or ""
    elif ground == "force_majeure":
        fm = offer.termination.force_majeure
        if fm is None or fm.either_party_may_terminate_after is None:
            raise ValidationFailed(f"ground: offer {offer.id} has no force-majeure clause")
        found = {d.name: d for d in deadlines_for(offer, Event.force_majeure_start, at)}
        # 003 §9 "consécutifs ou non": the earlier periods count towards the 30 days.
        terminable = found["force-majeure-either-party"].ends_at - force_majeure_spent(
            session, contract.id, at
        )
        terminable = max(terminable, at)
        auto = found.get("force-majeure-automatic-termination")
        automatic = auto.ends_at if auto else None
        clause = fm.clause or "003 §9"
        suspend = True  # 003 §9: the contract is suspended
    else:
        raise ValidationFailed("ground: client_breach or force_majeure")
    hold_id = None
    if suspend:
        hold_ground = holds.FORCE_MAJEURE if ground == "force_majeure" else _breach_ground(offer)
        hold, _new = holds.place(
            session, actor.actor, offer, contract.id, hold_ground, reason or ground
        )
        hold_id = hold.id
    row = ContractFormalNotice(
        contract_id=contract.id,
        client_id=contract.client_id,
        ground=ground,
        clause=clause,
        reason=reason,
        given_by=actor.actor.id or actor.actor.label,
        given_at=at,
        terminable_from=terminable,
        automatic_at=automatic,
        hold_id=hold_id,
    )
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.formal_notice",
        params={
            "formal_notice_id": row.id,
            "ground": ground,
            "clause": clause,
            "given_at": at.isoformat(),
            "terminable_from": terminable.isoformat(),
            "automatic_at": automatic.isoformat() if automatic else None,
            "hold_id": hold_id,
            "reason": reason,
        },
        client_id=contract.client_id,
    )
    queue(
        session,
        actor.actor,
        "formal_notice_given",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"formal-notice:{row.id}",
        legal_ref=clause,
        context={
            "ground": ground,
            "notice_clause": clause,
            "reason": reason,
            "terminable_on": _day(offer, terminable),
        },
    )
    return row


def _breach_ground(offer: Offer) -> str:
    causes = {g.cause for g in offer.suspension.grounds}
    for name in ("breach", "unremedied-breach"):
        if name in causes:
            return name
    return holds.STAFF_DECISION


def close_formal_notice(
    session: Session, actor: Principal, contract_id: str, ground: str, reason: str
) -> ContractFormalNotice:
    """Staff close an open formal notice (the breach remedied, the force majeure over)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff close formal notices")
    row = _open_notice(session, contract, ground)
    if row is None:
        raise Conflict(f"no open {ground.replace('_', ' ')} notice on this contract")
    _close(session, actor.actor, contract, row, reason)
    return row


def _close(
    session: Session, who: Actor, contract: Contract, row: ContractFormalNotice, reason: str
) -> None:
    row.closed_at = utc_now()
    row.close_reason = reason[:500]
    session.flush()
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.formal_notice.close",
        params={"formal_notice_id": row.id, "ground": row.ground, "reason": reason},
        client_id=contract.client_id,
    )


def open_formal_notices(session: Session, contract_id: str) -> list[ContractFormalNotice]:
    """The contract's open formal notices, oldest first."""
    return list(
        session.execute(
            select(ContractFormalNotice)
            .where(
                ContractFormalNotice.contract_id == contract_id,
                ContractFormalNotice.closed_at.is_(None),
            )
            .order_by(ContractFormalNotice.given_at)
        ).scalars()
    )


def _period_end(session: Session, row: ContractFormalNotice) -> dt.datetime | None:
    """When a force-majeure period ended: the lift of its hold, else its closing (None
    while it runs)."""
    if row.hold_id is not None:
        hold = session.get(ContractHold, row.hold_id)
        if hold is not None and hold.lifted_at is not None:
            return hold.lifted_at
    return row.closed_at


def force_majeure_spent(session: Session, contract_id: str, at: dt.datetime) -> dt.timedelta:
    """003 §9 "consécutifs ou non": the time the contract spent in force majeure before
    ``at``, every period counted (each from its notice to its end, or ``at``)."""
    spent = dt.timedelta(0)
    for row in session.execute(
        select(ContractFormalNotice).where(
            ContractFormalNotice.contract_id == contract_id,
            ContractFormalNotice.ground == "force_majeure",
            ContractFormalNotice.given_at < at,
        )
    ).scalars():
        end = min(_period_end(session, row) or at, at)
        spent += max(end - row.given_at, dt.timedelta(0))
    return spent


def _close_if_over(session: Session, who: Actor, contract: Contract) -> int:
    """Close the open force-majeure notice whose hold was lifted (the event is over)."""
    closed = 0
    for row in open_formal_notices(session, contract.id):
        if row.ground != "force_majeure" or row.hold_id is None:
            continue
        if holds._open_on(session, contract.id, holds.FORCE_MAJEURE) is None:
            _close(session, who, contract, row, "force majeure over: its hold was lifted")
            closed += 1
    return closed


def _announce_terminable(
    session: Session, who: Actor, contract: Contract, offer: Offer, row: ContractFormalNotice
) -> bool:
    """003 §9: tell the client, once per event, that force majeure has now lasted more
    than 30 days in all and either party may terminate (with 15 days' notice)."""
    key = f"force-majeure-terminable:{row.id}"
    if session.execute(select(Notice.id).where(Notice.dedupe_key == key)).first():
        return False
    fm = offer.termination.force_majeure
    spent = force_majeure_spent(session, contract.id, row.terminable_from)
    queue(
        session,
        who,
        "force_majeure_terminable",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=key,
        legal_ref=row.clause,
        context={
            "fm_clause": row.clause,
            "since": _day(offer, row.given_at),
            "terminable_on": _day(offer, row.terminable_from),
            "days": str(spent.days),
            "termination_notice": str(fm.termination_notice) if fm and fm.termination_notice
            else "",
        },
    )  # fmt: skip
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.force_majeure.terminable",
        params={
            "formal_notice_id": row.id,
            "terminable_from": row.terminable_from.isoformat(),
            "spent_seconds": int(spent.total_seconds()),
            "clause": row.clause,
        },
        client_id=contract.client_id,
    )
    return True


def force_majeure_step(
    session: Session, who: Actor, contract: Contract, offer: Offer, now: dt.datetime
) -> int:
    """003 §9 in the daily job: a force majeure whose hold was lifted is over; once the
    periods together pass 30 days the client is told either party may terminate; one
    still running after 2 months gets the automatic termination, effective 15 days
    later."""
    acted = _close_if_over(session, who, contract)
    for row in open_formal_notices(session, contract.id):
        if row.ground != "force_majeure":
            continue
        if row.terminable_from <= now and _announce_terminable(session, who, contract, offer, row):
            acted += 1
        if row.automatic_at is None or now < row.automatic_at or pending(session, contract.id):
            continue
        fm = offer.termination.force_majeure
        effective = row.automatic_at
        if fm is not None and fm.termination_notice is not None:
            effective = shift_by(calendar_for(offer), row.automatic_at, fm.termination_notice)
        p = Plan(
            EndCause.FORCE_MAJEURE, row.automatic_at, effective, contract.term_ends_at, True, "",
            row.clause,
            f"force majeure since {_day(offer, row.given_at)}: the contract is terminated, "
            f"effective {_day(offer, effective)} ({row.clause})",
        )  # fmt: skip
        record(session, who, offer, contract, p, "force majeure over 2 months", who.label)
        acted += 1
    return acted
