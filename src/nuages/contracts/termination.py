"""Notices to quit and terminations (SPEC §2, §12; 000 §11.2, §16; 001 §3.2, §3.3;
003 §9, §13.1; 004 §5, §17.1).

A notice to quit is given by the client's Responsable (an owner; members are refused,
000 §1) or recorded by staff from a registered letter; its effective date is computed in
the contract's calendar: the current term end when the notice arrives in time (001 §3.2
3 months before, 003 §13.1.4 90 days, 004 §5 3 months), else the next one. A preview
(``confirm = false``) says the date plainly before anything is written. A penalty-free
window opened by a price revision or a change (003 §14.3, §14.4: 30 days) ends the
contract at once; under 004 §4, §8.1 a change lets the client leave with §5's 3-month
notice counted from its notice, not from the term.

The provider terminates for a ground once it is open: a formal notice whose delay is over
(000 §16 15 clear days, 001 §3.3 30 days, 003 §13.1.2 8 days), force majeure for 30 days
(003 §9), a negative balance still uncovered (000 §11.2), a hold over 15 days (004 §17.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.ending import ENDABLE, EndCause, end
from nuages.contracts.models import (
    Contract,
    ContractFormalNotice,
    ContractPriceRevision,
    ContractTermination,
    ContractTermsChange,
)
from nuages.contracts.states import ContractState
from nuages.contracts.term import offer_of
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from nuages.notices.service import queue
from nuages.terms.apply import calendar_for, notice_date
from nuages.terms.deadlines import Event, deadlines_for, latest_notice, shift_by, term_ends
from nuages.terms.schema import Offer

CLIENT_CAUSES = frozenset({EndCause.CLIENT_NOTICE, EndCause.FORCE_MAJEURE})
STAFF_CAUSES = frozenset(EndCause) - {EndCause.NON_RENEWAL, EndCause.TERMS_REFUSED}


class NoticeAlreadyGiven(Conflict):
    """A termination is already on its way: notice is given once."""

    slug = "notice-already-given"
    title = "Notice was already given"


class GroundNotOpen(Conflict):
    """The ground does not allow termination (yet)."""

    slug = "termination-ground-not-open"
    title = "The contract cannot be terminated on this ground now"


@dataclass(frozen=True)
class Plan:
    """What a termination would do: when it takes effect and why, said plainly."""

    cause: EndCause
    dated_at: dt.datetime
    effective_at: dt.datetime
    current_term_ends_at: dt.datetime | None
    in_time: bool
    penalty_free: str
    clause: str
    message: str


def _day(offer: Offer, at: dt.datetime) -> str:
    return calendar_for(offer).local_date(at).isoformat()


ExitWindow = tuple[str, dt.datetime, str]
"""A penalty-free exit open at some moment: (name, its exclusive end, its clause)."""
ExitWindowSource = Callable[[Session, Contract, dt.datetime], list[ExitWindow]]
# Exits opened by other slices (the reversibility slice's 001 §5.3 move of the data
# outside the EU): it sits above contracts, so it appends its source here on import.
EXIT_WINDOW_SOURCES: list[ExitWindowSource] = []


def exit_windows(session: Session, contract: Contract, at: dt.datetime) -> list[ExitWindow]:
    """The penalty-free exits open at ``at``: (name, exclusive end, clause) — 003 §14.3
    after a price revision, 003 §14.4 after a change of service, and those of
    ``EXIT_WINDOW_SOURCES`` (001 §5.3 after a move of the data outside the EU)."""
    out: list[ExitWindow] = []
    for source in EXIT_WINDOW_SOURCES:
        out += source(session, contract, at)
    for rev in session.execute(
        select(ContractPriceRevision).where(
            ContractPriceRevision.contract_id == contract.id,
            ContractPriceRevision.exit_until.is_not(None),
        )
    ).scalars():
        assert rev.exit_until is not None
        if rev.effective_at <= at < rev.exit_until or rev.created_at <= at < rev.exit_until:
            out.append(("after-price-revision", rev.exit_until, rev.clause))
    for change in session.execute(
        select(ContractTermsChange).where(
            ContractTermsChange.contract_id == contract.id,
            ContractTermsChange.exit_until.is_not(None),
        )
    ).scalars():
        assert change.exit_until is not None
        if change.announced_at <= at < change.exit_until:
            out.append(("after-service-change", change.exit_until, "003 §14.4"))
    return sorted(out, key=lambda w: w[1])


def _changed(session: Session, contract: Contract) -> bool:
    """004 §4, §8.1: a change of service or price happened to this contract."""
    revised = session.execute(
        select(ContractPriceRevision.id).where(ContractPriceRevision.contract_id == contract.id)
    ).first()
    changed = session.execute(
        select(ContractTermsChange.id).where(ContractTermsChange.contract_id == contract.id)
    ).first()
    return bool(revised or changed)


def plan_notice(
    session: Session, offer: Offer, contract: Contract, cause: EndCause, at: dt.datetime
) -> Plan:
    """When a notice to quit received at ``at`` ends the contract (term-based causes)."""
    terms = offer.duration
    notice = terms.notice_before_term_end
    clause = (notice.clause if notice else None) or terms.clause or ""
    current = contract.term_ends_at
    windows = exit_windows(session, contract, at) if cause is EndCause.CLIENT_NOTICE else []
    if windows:
        name, until, wclause = windows[0]
        return Plan(
            cause, at, at, current, True, name, wclause,
            f"received on {_day(offer, at)}, within the penalty-free exit open until "
            f"{_day(offer, until)} ({wclause}): the contract ends at once, without penalty",
        )  # fmt: skip
    calendar = calendar_for(offer)
    start = contract.activated_at or at
    effective = None
    for term_end in term_ends(offer, start):
        if current is not None and term_end < current:
            continue
        limit = term_end if notice is None else latest_notice(calendar, term_end, notice)
        if at < limit:
            effective = term_end
            break
    if effective is None:
        raise InvalidTransition("the terms give no term end at which this notice can take effect")
    change_notice = offer.changes.change_termination_notice
    if (
        cause is EndCause.CLIENT_NOTICE
        and change_notice is not None
        and _changed(session, contract)
    ):
        # 004 §4, §8.1 read for the client: 3 months after its notice, not only at the term.
        found = deadlines_for(offer, Event.change_termination_notice, at)
        sooner = next(d.ends_at for d in found if d.name == "termination-effective")
        if sooner < effective:
            return Plan(
                cause, at, sooner, current, True, "after-change-of-service-or-price",
                change_notice.clause or offer.changes.clause or "",
                f"received on {_day(offer, at)} after a change of service or price: the "
                f"contract ends on {_day(offer, sooner)}, {change_notice} after this notice "
                f"({change_notice.clause or offer.changes.clause})",
            )  # fmt: skip
    in_time = current is None or effective <= current
    if in_time:
        message = (
            f"received on {_day(offer, at)}, in time: the contract ends on "
            f"{_day(offer, effective)}, the end of the current term"
        )
    else:
        assert current is not None
        late = latest_notice(calendar, current, notice) if notice else current
        message = (
            f"received on {_day(offer, at)}, too late for the term ending "
            f"{_day(offer, current)} (the notice had to arrive before {_day(offer, late)}, "
            f"{clause}): the contract ends on {_day(offer, effective)}, the end of the next term"
        )
    if notice is not None:
        message += f" (notice {notice}, {clause})"
    if terms.effective_when_data_recovered:
        message += "; it takes effect only once you confirm you have your data, billed until then"
    return Plan(cause, at, effective, current, in_time, "", clause, message)


def _open_notice(session: Session, contract: Contract, ground: str) -> ContractFormalNotice | None:
    return (
        session.execute(
            select(ContractFormalNotice)
            .where(
                ContractFormalNotice.contract_id == contract.id,
                ContractFormalNotice.ground == ground,
                ContractFormalNotice.closed_at.is_(None),
            )
            .order_by(ContractFormalNotice.given_at)
        )
        .scalars()
        .first()
    )


def plan_ground(
    session: Session, offer: Offer, contract: Contract, cause: EndCause, at: dt.datetime
) -> Plan:
    """When a termination on a ground takes effect: at once, once the ground is open."""
    current = contract.term_ends_at
    if cause in (EndCause.CLIENT_BREACH, EndCause.FORCE_MAJEURE):
        ground = "client_breach" if cause is EndCause.CLIENT_BREACH else "force_majeure"
        formal = _open_notice(session, contract, ground)
        clause = offer.termination.clause or ""
        if formal is None:
            what = "a formal notice" if ground == "client_breach" else "a force-majeure event"
            raise GroundNotOpen(f"{what} must be recorded first ({clause or 'the terms'})")
        if at < formal.terminable_from:
            raise GroundNotOpen(
                f"the {ground.replace('_', ' ')} notice of {_day(offer, formal.given_at)} "
                f"allows termination from {_day(offer, formal.terminable_from)} ({formal.clause})",
                terminable_from=formal.terminable_from.isoformat(),
                clause=formal.clause,
            )
        fm = offer.termination.force_majeure
        if cause is EndCause.FORCE_MAJEURE and fm is not None and fm.termination_notice:
            # 003 §9: "moyennant le respect d'un préavis de quinze (15) jours".
            effective = shift_by(calendar_for(offer), at, fm.termination_notice)
            return Plan(
                cause, at, effective, current, True, "", formal.clause,
                f"terminated for force majeure lasting more than "
                f"{fm.either_party_may_terminate_after} in all, received on {_day(offer, at)}: "
                f"the contract ends on {_day(offer, effective)}, after "
                f"{fm.termination_notice} notice ({formal.clause})",
            )  # fmt: skip
        return Plan(
            cause,
            at,
            at,
            current,
            True,
            "",
            formal.clause,
            f"terminated on {_day(offer, at)} ({formal.clause})",
        )
    if cause is EndCause.NEGATIVE_BALANCE:
        if holds._open_on(session, contract.id, holds.NEGATIVE_BALANCE) is None:
            raise GroundNotOpen("the account is not negative and suspended (000 §11.2)")
        return Plan(
            cause,
            at,
            at,
            current,
            True,
            "",
            "000 §11.2",
            "negative balance left uncovered (000 §11.2)",
        )
    if cause is EndCause.HOLD_OVER_15_DAYS:
        after = offer.suspension.provider_may_terminate_after
        when = holds.terminable_from(offer, holds.open_holds(session, contract.id))
        label = (after.clause if after else None) or "004 §17.1"
        if when is None:
            raise GroundNotOpen(f"no hold gives this right under offer {offer.id} ({label})")
        if at < when:
            raise GroundNotOpen(
                f"the suspension allows termination from {_day(offer, when)} ({label})",
                terminable_from=when.isoformat(),
                clause=label,
            )
        return Plan(
            cause, at, at, current, True, "", label, f"suspended longer than {after} ({label})"
        )
    clause = offer.termination.clause or ""
    return Plan(
        cause, at, at, current, True, "", clause, f"terminated for the provider's fault ({clause})"
    )


def pending(session: Session, contract_id: str) -> ContractTermination | None:
    """The termination on its way, if any."""
    return session.execute(
        select(ContractTermination).where(
            ContractTermination.contract_id == contract_id,
            ContractTermination.state == "pending",
        )
    ).scalar_one_or_none()


def plan(
    session: Session, offer: Offer, contract: Contract, cause: EndCause, at: dt.datetime
) -> Plan:
    """The termination ``cause`` received at ``at`` would bring; refused (4xx, with the
    clause) when the contract cannot end so."""
    if ContractState(contract.state) not in ENDABLE:
        raise InvalidTransition(f"a {contract.state} contract cannot be terminated")
    already = pending(session, contract.id)
    if already is not None:
        raise NoticeAlreadyGiven(
            f"notice was already given on {_day(offer, already.dated_at)} ({already.cause}): "
            f"the contract ends on {_day(offer, already.effective_at)}"
            + (f" ({already.clause})" if already.clause else ""),
            effective_at=already.effective_at.isoformat(),
        )
    if cause in (EndCause.CLIENT_NOTICE, EndCause.PROVIDER_NOTICE):
        return plan_notice(session, offer, contract, cause, at)
    return plan_ground(session, offer, contract, cause, at)


def record(
    session: Session, who: Actor, offer: Offer, contract: Contract, p: Plan, reason: str, by: str
) -> ContractTermination:
    """Write a planned termination: the contract is ending (or ended at once)."""
    now = utc_now()
    row = ContractTermination(
        contract_id=contract.id,
        client_id=contract.client_id,
        cause=p.cause.value,
        clause=p.clause,
        reason=reason,
        given_by=by,
        dated_at=p.dated_at,
        effective_at=p.effective_at,
        penalty_free=p.penalty_free,
        state="pending",
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another notice won the race (one pending per contract)
        raise NoticeAlreadyGiven("notice was given meanwhile: read the contract again") from None
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.termination",
        params={
            "termination_id": row.id,
            "cause": p.cause.value,
            "dated_at": p.dated_at.isoformat(),
            "effective_at": p.effective_at.isoformat(),
            "clause": p.clause,
            "penalty_free": p.penalty_free,
            "reason": reason,
        },
        client_id=contract.client_id,
    )
    queue(
        session,
        who,
        "termination_recorded",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"termination:{row.id}",
        legal_ref=p.clause,
        context={
            "cause": p.cause.value,
            "termination_clause": p.clause,
            "effective_on": _day(offer, p.effective_at),
            "message": p.message,
        },
    )
    if p.effective_at <= now:
        take_effect(session, who, row, contract)
    elif contract.state == ContractState.ACTIVE:
        contracts.transition(session, contract, ContractState.ENDING, who, p.cause.value)
    elif contract.state == ContractState.SUSPENDED:
        contract.resumes_to = ContractState.ENDING.value  # resumes to ending, not active
        session.flush()
    return row


def take_effect(session: Session, who: Actor, row: ContractTermination, contract: Contract) -> bool:
    """End the contract of a pending termination (compare-and-swap: once)."""
    done = session.execute(
        update(ContractTermination)
        .where(ContractTermination.id == row.id, ContractTermination.state == "pending")
        .values(state="effective", done_at=utc_now(), updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    end(session, who, contract, EndCause(row.cause), row.effective_at)
    return True


def terminate(
    session: Session,
    actor: Principal,
    contract_id: str,
    cause: EndCause,
    *,
    confirm: bool,
    reason: str = "",
    received_at: dt.datetime | None = None,
    first_presented_at: dt.datetime | None = None,
) -> tuple[Plan, ContractTermination | None]:
    """``POST /contracts/{id}/termination``: the plan, and the row once confirmed.

    Client side, only an owner (Responsable, 000 §1) gives notice, dated now; staff may
    record a registered letter with its receipt or first presentation (003 §13.1.5) and
    terminate on a provider ground once it is open."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if actor.is_staff:
        allowed = STAFF_CAUSES
    else:
        if actor.role != Role.CLIENT_OWNER:
            raise Forbidden("only a Responsable (owner) gives notice to quit (000 §1)")
        if received_at is not None or first_presented_at is not None:
            raise ValidationFailed(
                "received_at: only staff date a letter; your notice is dated now"
            )
        allowed = CLIENT_CAUSES
    if cause not in allowed:
        raise ValidationFailed(
            f"cause: {cause.value} is not yours to give ({', '.join(sorted(allowed))})"
        )
    offer = offer_of(session, contract)
    at = utc_now()
    if received_at is not None or first_presented_at is not None:
        at = notice_date(offer, first_presented_at=first_presented_at, received_at=received_at)
    p = plan(session, offer, contract, cause, at)
    if not confirm:
        return p, None
    who = actor.actor
    return p, record(session, who, offer, contract, p, reason, who.id or who.label)
