"""Terms changes (000 §4, 004 §3, 003 §14.4; 001 §19 forbids unilateral ones).

Publishing a new version of an offer opens, for each running contract on an older
version, the offer's refusal window, announced by e-mail to the designated Responsable:
000 §4 one month from the e-mail, refusal by registered letter; 004 §3 the e-mail comes
before the new terms take effect and the refusal window runs 30 days from then. A change
imposed by law cannot be refused (000 §4). A refusal keeps the old terms until the term
and blocks the renewal, new orders and extensions (000 §4 ``old_terms_until_end_no_
renewal``); under 004 §3 the old terms simply continue (the clause states no consequence,
read for the client). A refusal may be withdrawn while its window is open. When the
window closes without refusal the contract moves to the new version (silence is
acceptance). 003 §14.4 opens a 30-day penalty-free exit instead.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract, ContractTermsChange
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, ValidationFailed
from nuages.notices.service import queue
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import Deadline, Event, deadlines_for
from nuages.terms.schema import Offer

RUNNING = (ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.ENDING)


class RefusalClosed(Conflict):
    """The refusal window is closed, or the change cannot be refused."""

    slug = "terms-refusal-closed"
    title = "The new terms can no longer be refused"


def _day(offer: Offer, at: dt.datetime) -> str:
    return calendar_for(offer).local_date(at).isoformat()


def publish(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    offer_id: str,
    *,
    summary: str,
    imposed_by_law: bool = False,
    in_force_at: dt.datetime | None = None,
) -> list[ContractTermsChange]:
    """Staff announce the version of ``offer_id`` in force to every running contract on
    an older version; returns the changes opened (a contract already told is skipped)."""
    actor.require(Scope.ADMIN)
    if not actor.is_staff:
        raise Forbidden("only provider staff publish new terms")
    new = registry.current(offer_id)
    registry.record(session, new)
    changes = new.changes
    if not changes.unilateral and not imposed_by_law:
        raise ValidationFailed(
            f"offer {offer_id}: the terms cannot be changed unilaterally "
            f"({changes.clause or 'the terms'}: a writing signed by both parties)"
        )
    now = utc_now()
    in_force = in_force_at or now
    if changes.refusal_window_from == "entry_into_force" and in_force <= now:
        raise ValidationFailed(
            f"in_force_at: under {changes.clause} the new terms are e-mailed before they take "
            "effect; give a later moment"
        )
    rows = session.execute(
        select(Contract).where(
            Contract.offer_id == offer_id,
            Contract.offer_hash != new.content_hash,
            Contract.state.in_([s.value for s in RUNNING]),
        )
    ).scalars()
    opened = []
    for contract in rows:
        seen = session.execute(
            select(ContractTermsChange.id).where(
                ContractTermsChange.contract_id == contract.id,
                ContractTermsChange.to_hash == new.content_hash,
            )
        ).first()
        if seen:
            continue
        opened.append(
            _open(session, actor.actor, new, contract, summary, imposed_by_law, now, in_force)
        )
    return opened


def _open(
    session: Session,
    who: Actor,
    new: Offer,
    contract: Contract,
    summary: str,
    imposed_by_law: bool,
    now: dt.datetime,
    in_force: dt.datetime,
) -> ContractTermsChange:
    changes = new.changes
    refusable_until = None
    if changes.refusal_window is not None and (
        not imposed_by_law or changes.legal_changes_refusable
    ):
        # SPEC §17: the day of the e-mail (004 §3: of the entry into force) is not counted.
        window = deadlines_for(new, Event.terms_change, now, in_force_at=in_force)
        refusable_until = _named(window, "refuse-terms-change")
    exit_until = None
    if changes.service_change_termination_window is not None:
        exit_until = _named(
            deadlines_for(new, Event.service_change, now), "terminate-after-service-change"
        )
    # A newer version replaces one still awaiting its window (or refused): only the
    # latest is answered, and silence on it accepts it.
    session.execute(
        update(ContractTermsChange)
        .where(
            ContractTermsChange.contract_id == contract.id,
            ContractTermsChange.state.in_(("open", "refused")),
        )
        .values(state="superseded", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    row = ContractTermsChange(
        contract_id=contract.id,
        client_id=contract.client_id,
        from_hash=contract.offer_hash,
        to_hash=new.content_hash,
        summary=summary,
        imposed_by_law=imposed_by_law,
        announced_at=now,
        in_force_at=in_force,
        refusable_until=refusable_until,
        exit_until=exit_until,
        state="open",
    )
    session.add(row)
    session.flush()
    clause = changes.clause or ""
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.terms_change.open",
        params={
            "change_id": row.id,
            "to_hash": new.content_hash,
            "in_force_at": in_force.isoformat(),
            "refusable_until": refusable_until.isoformat() if refusable_until else None,
            "imposed_by_law": imposed_by_law,
            "clause": clause,
        },
        client_id=contract.client_id,
    )
    queue(
        session,
        who,
        "terms_change_announced",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"terms-change:{row.id}",
        legal_ref=clause,
        context={
            "summary": summary,
            "change_clause": clause,
            "in_force_on": _day(new, in_force),
            "refusable_until": _day(new, refusable_until) if refusable_until else "",
            "exit_until": _day(new, exit_until) if exit_until else "",
            "imposed_by_law": imposed_by_law,
        },
    )
    return row


def _named(found: list[Deadline], name: str) -> dt.datetime | None:
    return next((d.ends_at for d in found if d.name == name), None)


def open_change(session: Session, contract_id: str) -> ContractTermsChange | None:
    """The latest change of the contract not migrated yet (open or refused)."""
    return (
        session.execute(
            select(ContractTermsChange)
            .where(
                ContractTermsChange.contract_id == contract_id,
                ContractTermsChange.state.in_(("open", "refused")),
            )
            .order_by(ContractTermsChange.announced_at.desc())
        )
        .scalars()
        .first()
    )


def refused(session: Session, contract_id: str) -> ContractTermsChange | None:
    """The refused change of the contract, if any."""
    row = open_change(session, contract_id)
    return row if row is not None and row.state == "refused" else None


def refuse(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    *,
    letter_date: dt.date | None,
    reason: str = "",
) -> ContractTermsChange:
    """The Responsable refuses the announced terms (000 §4: by registered letter within
    the month; 004 §3: within 30 days after they take effect)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only a Responsable (owner) refuses new terms (000 §1, §4)")
    row = open_change(session, contract.id)
    if row is None or row.state != "open":
        raise Conflict("no terms change awaits an answer on this contract")
    new = registry.version(session, contract.offer_id, row.to_hash)
    clause = new.changes.clause or ""
    if row.refusable_until is None:
        raise RefusalClosed(
            "this change is imposed by law and cannot be refused (000 §4)"
            if row.imposed_by_law
            else f"the terms give no right to refuse this change ({clause})"
        )
    now = utc_now()
    if now >= row.refusable_until:
        raise RefusalClosed(
            f"the refusal window closed on {_day(new, row.refusable_until)} ({clause})",
            clause=clause,
        )
    if new.changes.refusal_by == "registered_letter":
        if letter_date is None:
            raise ValidationFailed(
                f"letter_date: a refusal is sent by registered letter ({clause})"
            )
        if letter_date > calendar_for(new).local_date(now):
            raise ValidationFailed("letter_date: is in the future")
    done = session.execute(
        update(ContractTermsChange)
        .where(ContractTermsChange.id == row.id, ContractTermsChange.state == "open")
        .values(state="refused", refused_at=now, letter_date=letter_date,
                refused_by=actor.actor.id or actor.actor.label, updated_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the change was answered meanwhile")
    session.refresh(row)
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.terms_change.refuse",
        params={
            "change_id": row.id,
            "letter_date": letter_date.isoformat() if letter_date else None,
            "clause": clause,
            "reason": reason,
        },
        client_id=contract.client_id,
    )
    return row


def withdraw_refusal(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> ContractTermsChange:
    """Withdraw a refusal: the change is open again (silence will accept it)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only a Responsable (owner) withdraws a refusal (000 §1, §4)")
    row = refused(session, contract.id)
    if row is None:
        raise Conflict("no refusal to withdraw on this contract")
    row.state = "open"
    row.refused_at = None
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.terms_change.withdraw_refusal",
        params={"change_id": row.id},
        client_id=contract.client_id,
    )
    now = utc_now()
    if row.refusable_until is None or now >= row.refusable_until:
        migrate(session, actor.actor, contract, row, now)
    return row


def migrate(
    session: Session, who: Actor, contract: Contract, row: ContractTermsChange, now: dt.datetime
) -> bool:
    """Move the contract to the new version (silence is acceptance), once."""
    done = session.execute(
        update(ContractTermsChange)
        .where(ContractTermsChange.id == row.id, ContractTermsChange.state == "open")
        .values(state="migrated", migrated_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Contract)
        .where(Contract.id == contract.id, Contract.offer_hash == row.from_hash)
        .values(offer_hash=row.to_hash, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(contract)
    session.refresh(row)
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.terms_change.migrate",
        params={"change_id": row.id, "from": row.from_hash, "to": row.to_hash},
        client_id=contract.client_id,
    )
    from nuages.contracts.term import offer_of

    new = offer_of(session, contract)
    # Issue #21 item 8: every step is told; here that the new terms now apply.
    queue(
        session,
        who,
        "terms_migrated",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"terms-migrated:{row.id}",
        legal_ref=new.changes.clause or "",
        context={
            "change_clause": new.changes.clause or "",
            "summary": row.summary,
            "in_force_on": _day(new, max(row.in_force_at, now)),
        },
    )
    return True


def due_to_migrate(row: ContractTermsChange, now: dt.datetime) -> bool:
    """The window closed in silence (or the change, unrefusable, is in force)."""
    if row.state != "open":
        return False
    closes = row.refusable_until or row.in_force_at
    return now >= max(closes, row.in_force_at)


def blocks_renewal(session: Session, offer: Offer, contract_id: str) -> ContractTermsChange | None:
    """000 §4: a refused change blocks the renewal (the old terms run until the term)."""
    if offer.changes.on_refusal != "old_terms_until_end_no_renewal":
        return None
    return refused(session, contract_id)


def refuse_if_terms_refused(session: Session, contract: Contract, what: str) -> None:
    """000 §4: after a refusal, services cannot be renewed or extended; refuse ``what``."""
    row = refused(session, contract.id)
    if row is None:
        return
    from nuages.contracts.term import offer_of

    if offer_of(session, contract).changes.on_refusal != "old_terms_until_end_no_renewal":
        return  # 004 §3: the former terms simply continue
    assert row.refused_at is not None
    raise Conflict(
        f"the new terms were refused on {row.refused_at:%Y-%m-%d}: the contract runs under "
        f"its former terms until its end and cannot {what} (000 §4)"
    )
