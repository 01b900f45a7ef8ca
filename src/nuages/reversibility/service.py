"""The exit of an ended contract (SPEC §12, 000 §18, §13.2, 001 §7, 002 §10, 003 §13.2,
004 §17.2, §5): opened once the contract is in ``reversibility``, moved on by the
client's acts and by ``run_daily``, ended by the erasure and the contract's closure.

Opening lifts the contract's open holds ("contract ended", issue 10), refunds a prepaid
balance as 000 §13.2 says for the cause, stops the VMs where the service stops (003
§13.2; not 002 §10 nor 004 §5, where it continues) and, under 000 §18, asks for an
image of each VM whatever the cause. The client then chooses, asks for copies
(exports: qcow2 with SHA-256 and an expiring link; fees charged once) and confirms it
has its data; the window's end, the deletion choice, the confirmation or staff start
the erasure (``erasure.py``). Services never commit; every change is in the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import ending
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import acceleration, early_end
from nuages.kernel import jobs
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from nuages.reversibility import money, notify
from nuages.reversibility.models import ContractExit, ExitDelivery
from nuages.reversibility.plan import ExitPlan, cause_of, fault_of, plan_for, refund_cause
from nuages.reversibility.states import LIVE, ExitState, check_transition
from nuages.terms import apply
from nuages.terms.schema import Offer

SYSTEM = Actor.system("reversibility")
ADVANCE_JOB = "contracts_exit_advance"
ENDED = "contract ended"


class ExitNotOpen(NotFound):
    """The contract has no exit record (yet)."""


class WindowClosed(Conflict):
    """The act came after the window the clause gives."""

    slug = "reversibility-window-closed"
    title = "The reversibility window is closed"


class ExportInProgress(Conflict):
    """A copy is being written: erasing now would destroy what is being handed over."""

    slug = "reversibility-export-in-progress"
    title = "A copy of the client's data is being written"


class UnpaidInvoices(Conflict):
    """The offer returns data only once every invoice is paid (001 §7, 003 §13.2)."""

    status = 402
    slug = "reversibility-unpaid"
    title = "Data is returned once every invoice is paid"


# ---------------------------------------------------------------- reading


def plan_of(
    session: Session, registry: OfferRegistry, contract: Contract, exit_: ContractExit
) -> ExitPlan:
    """The plan an open exit follows (from the contract's own terms version)."""
    offer = registry.for_contract(session, contract)
    return plan_for(offer, exit_.ended_at, exit_.cause, payment_default=exit_.payment_default)


def exit_of(session: Session, contract_id: str) -> ContractExit | None:
    """The contract's exit record, or None."""
    return session.execute(
        select(ContractExit).where(ContractExit.contract_id == contract_id)
    ).scalar_one_or_none()


def deliveries_of(session: Session, exit_id: str) -> list[ExitDelivery]:
    """What the exit handed over or is writing, oldest first."""
    return list(
        session.execute(
            select(ExitDelivery)
            .where(ExitDelivery.exit_id == exit_id)
            .order_by(ExitDelivery.requested_at, ExitDelivery.id)
        ).scalars()
    )


@dataclass
class ExitView:
    """An exit as the contract shows it: the record, its plan, its copies."""

    contract: Contract
    exit: ContractExit
    plan: ExitPlan
    deliveries: list[tuple[ExitDelivery, ending.ExportFacts | None]] = field(default_factory=list)
    unpaid: list[money.Unpaid] = field(default_factory=list)


def get_exit(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> ExitView:
    """The exit of a contract the caller may see (404 before it is opened)."""
    contract = contracts.get_contract(session, actor, contract_id)
    exit_ = exit_of(session, contract.id)
    if exit_ is None:
        raise ExitNotOpen(
            f"the contract is {contract.state}: its exit is opened once it reaches "
            "reversibility (the daily job, or at once when staff end it)"
        )
    return _view(session, registry, contract, exit_)


def _view(
    session: Session, registry: OfferRegistry, contract: Contract, exit_: ContractExit
) -> ExitView:
    items = deliveries_of(session, exit_.id)
    facts = ending.exports_by_id(session, [d.export_id for d in items])
    return ExitView(
        contract,
        exit_,
        plan_of(session, registry, contract, exit_),
        [(d, facts.get(d.export_id)) for d in items],
        money.unpaid(session, contract.id),
    )


# ---------------------------------------------------------------- state changes


def _move(session: Session, exit_: ContractExit, target: ExitState, who: Actor, why: str) -> None:
    """Compare-and-swap the exit's state, recorded in the contract's history."""
    if exit_.state == target.value:
        return
    check_transition(exit_.state, target)
    now = utc_now()
    values: dict[str, object] = {"state": target.value, "updated_at": now}
    if target == ExitState.ERASING:
        values["erasure_started_at"] = now
    elif target == ExitState.ERASED:
        values["erased_at"] = now
    elif target == ExitState.CLOSED:
        values["closed_at"] = now
    done = session.execute(
        update(ContractExit)
        .where(ContractExit.id == exit_.id, ContractExit.state == exit_.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the exit changed meanwhile; try again")
    previous = exit_.state
    session.refresh(exit_)
    history.record(
        session,
        who,
        object_type="contract",
        object_id=exit_.contract_id,
        action=f"contract.exit.{target.value}",
        params={"from": previous, "reason": why, "exit_id": exit_.id},
        client_id=exit_.client_id,
    )


def end_now(
    session: Session, actor: Principal, contract_id: str, cause: str, fault: str | None = None
) -> Contract:
    """Staff end a contract now for ``cause`` (one of ``plan.CAUSES``): it moves to
    ``reversibility`` with ``ended_at`` now and ``state_reason`` the cause, and its exit
    is opened by the job asked for after commit (the lifecycle's own endings arrive
    the same way)."""
    from nuages.reversibility.plan import CAUSES

    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff end a contract now")
    if cause not in CAUSES:
        raise ValidationFailed(f"cause: {cause!r} is not one of {', '.join(CAUSES)}")
    if fault not in (None, "provider", "client", "shared"):
        raise ValidationFailed(f"fault: {fault!r} is not one of provider, client, shared")
    reason = cause if fault is None else f"{cause}: fault={fault}"  # 000 §13.2 share
    contracts.transition(session, contract, ContractState.REVERSIBILITY, actor.actor, reason)
    jobs.enqueue(session, ADVANCE_JOB, contract.id)
    return contract


def open_exit(
    session: Session, registry: OfferRegistry, runtime: ComputeRuntime, contract: Contract
) -> ContractExit:
    """Open the exit of a contract in ``reversibility`` (once: a second call returns
    the first record). See the module for what opening does."""
    existing = exit_of(session, contract.id)
    if existing is not None:
        return existing
    if contract.state != ContractState.REVERSIBILITY:
        raise InvalidTransition(f"a {contract.state} contract has no exit to open")
    offer = registry.for_contract(session, contract)
    ended_at = contract.ended_at or utc_now()
    cause = cause_of(contract.state_reason)
    calendar = apply.calendar_for(offer)
    default = bool(money.overdue(session, contract.id, calendar.local_date(ended_at)))
    plan = plan_for(offer, ended_at, cause, payment_default=default)
    exit_ = ContractExit(
        contract_id=contract.id,
        client_id=contract.client_id,
        offer_id=contract.offer_id,
        state=ExitState.OPEN.value,
        cause=cause,
        clause=plan.clause,
        ended_at=ended_at,
        window_ends_at=plan.window_ends_at,
        payment_default=default,
    )
    try:
        with session.begin_nested():
            session.add(exit_)
            session.flush()
    except IntegrityError:  # opened meanwhile by another pass: the same exit
        found = exit_of(session, contract.id)
        assert found is not None
        return found
    history.record(
        session,
        SYSTEM,
        object_type="contract",
        object_id=contract.id,
        action="contract.exit.open",
        params={
            "exit_id": exit_.id,
            "cause": cause,
            "clause": plan.clause,
            "ended_at": ended_at.isoformat(),
            "window_ends_at": plan.window_ends_at.isoformat() if plan.window_ends_at else None,
            "denied": plan.denied,
        },
        client_id=contract.client_id,
    )
    # Issue 10: the holds of an ended contract have nothing left to suspend.
    for hold in holds.open_holds(session, contract.id, scope=None):
        holds.lift(session, SYSTEM, contract.id, hold.id, ENDED)
    _refund(session, contract, offer, exit_, fault_of(contract.state_reason))
    early_end.ensure_charge(session, SYSTEM, contract, offer)  # 003 §13.2.1, due at once
    acceleration.accelerate(session, SYSTEM, contract, offer)  # and the invoices issued
    if not plan.service_continues:
        ending.stop_all(session, runtime, contract.id)  # 003 §13.2: services stop at once
    notify.opened(session, SYSTEM, contract, exit_, plan)
    return exit_


def _refund(
    session: Session, contract: Contract, offer: Offer, exit_: ContractExit, fault: str | None
) -> None:
    """000 §13.2: the share of the credit balance the cause refunds, written once."""
    if offer.billing.mode != "prepaid":
        return
    balance = money.balance(session, contract.id)
    share = refund_cause(exit_.cause, fault)
    amount = apply.balance_refund_for(offer, balance, share)
    key = f"exit-refund:{contract.id}"
    money.refund(session, SYSTEM, contract, offer, amount, key)
    exit_.refund_amount = amount
    exit_.refund_key = key if amount > 0 else None
    session.flush()
    history.record(
        session,
        SYSTEM,
        object_type="contract",
        object_id=contract.id,
        action="contract.exit.refund",
        params={
            "balance": str(balance),
            "cause": share.value,
            "refund": str(amount),
            "clause": offer.billing.prepaid.balance_refund.clause if offer.billing.prepaid else "",
        },
        client_id=contract.client_id,
    )


def _erase_reason(
    plan: ExitPlan,
    exit_: ContractExit,
    items: list[tuple[ExitDelivery, ending.ExportFacts | None]],
    vms_without_image: int,
    now: dt.datetime,
) -> str | None:
    """Why the erasure starts now, or None while the data is kept."""
    if exit_.erasure_reason:
        return exit_.erasure_reason
    if exit_.confirmed_at is not None:
        return "the client confirmed it has its data"
    if plan.confirmation_ends:
        return None  # 004 §5: only the client's confirmation ends it
    if plan.denied:
        return f"no reversibility after a payment default ({plan.clause})"
    window_over = plan.window_ends_at is not None and now >= plan.window_ends_at
    if window_over and plan.erases_at_window_end and exit_.choice != "recovery":
        return f"the {plan.window} window of {plan.clause} ended"
    # A copy is over once its link expired (or it was deleted on expiry); a failed
    # one is asked for again, so it keeps the data.
    handed_over = all(
        f is not None and (f.state == "deleted" or (f.state == "ready" and f.expires_at <= now))
        for _d, f in items
    )
    if window_over and exit_.choice == "recovery" and items and handed_over:
        return f"the data recovered under {plan.clause} was handed over and its links expired"
    if plan.images_for_every_vm and plan.window_ends_at is None:
        if vms_without_image == 0 and handed_over:
            return f"every image of {plan.clause} was handed over and its link expired"
    return None


def advance(
    session: Session,
    registry: OfferRegistry,
    runtime: ComputeRuntime,
    contract_id: str,
    now: dt.datetime | None = None,
) -> ContractExit | None:
    """Move one exit on as far as it can go now (idempotent; never commits): 000 §18
    images asked for, the state following its copies, the erasure started when due and
    carried on, the contract closed once it is done."""
    from nuages.reversibility import erasure

    now = now or utc_now()
    contract = session.get(Contract, contract_id, populate_existing=True)
    if contract is None:
        return None
    exit_ = exit_of(session, contract.id)
    if exit_ is None:
        if contract.state != ContractState.REVERSIBILITY:
            return None
        exit_ = open_exit(session, registry, runtime, contract)
    if exit_.state in (ExitState.ERASING, ExitState.ERASED):
        erasure.carry_on(session, runtime, contract, exit_)
        return exit_
    if exit_.state == ExitState.CLOSED:
        return exit_
    plan = plan_of(session, registry, contract, exit_)
    offer = registry.for_contract(session, contract)
    if not plan.service_continues:
        # A VM a lifted hold resumed, or one the client started again, stops again
        # (003 §13.2: services stop at once); its copy follows once it is stopped.
        ending.stop_all(session, runtime, contract.id)
    missing = _images(session, runtime, contract, offer, exit_) if plan.images_for_every_vm else 0
    items = [(d, f) for d, f in _view(session, registry, contract, exit_).deliveries]
    writing = any(f is not None and f.state == "creating" for _d, f in items)
    if writing:
        _move(session, exit_, ExitState.EXPORTING, SYSTEM, "a copy is being written")
        return exit_
    reason = _erase_reason(plan, exit_, items, missing, now)
    if reason is not None:
        start_erasure(session, SYSTEM, exit_, reason)
        erasure.carry_on(session, runtime, contract, exit_)
        return exit_
    ready = any(f is not None and f.state == "ready" for _d, f in items)
    target = ExitState.HANDED_OVER if ready else ExitState.AWAITING_CHOICE
    _move(session, exit_, target, SYSTEM, "copies ready" if ready else "the window runs")
    return exit_


def _images(
    session: Session, runtime: ComputeRuntime, contract: Contract, offer: Offer, exit_: ContractExit
) -> int:
    """000 §18: one image of each VM, whatever the cause; a VM busy (stopping) gets its
    image on a later pass, a failed image is asked for again. Returns how many VMs
    still have none."""
    items = deliveries_of(session, exit_.id)
    facts = ending.exports_by_id(session, [d.export_id for d in items])
    have = {
        d.vm_id
        for d in items
        if d.kind == "image" and d.export_id in facts and facts[d.export_id].state != "failed"
    }
    missing = 0
    for vm in ending.vms_left(session, contract.id):
        if vm.id in have:
            continue
        if ending.copyable(vm) is not None:
            missing += 1
            continue
        _deliver(session, runtime, SYSTEM, contract, offer, exit_, vm.id, "image", None, None, 1)
    return missing


def _deliver(
    session: Session,
    runtime: ComputeRuntime,
    who: Actor,
    contract: Contract,
    offer: Offer,
    exit_: ContractExit,
    vm_id: str,
    kind: str,
    fee: Decimal | None,
    fee_key: str | None,
    transfer: int,
) -> ExitDelivery:
    facts = ending.export_vm(session, runtime, vm_id)
    delivery = ExitDelivery(
        exit_id=exit_.id,
        contract_id=contract.id,
        client_id=contract.client_id,
        vm_id=vm_id,
        export_id=facts.id,
        kind=kind,
        transfer=transfer,
        fee=fee,
        fee_key=fee_key,
        requested_by=who.id or f"system:{who.label}",
        requested_at=utc_now(),
    )
    session.add(delivery)
    session.flush()
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.exit.copy",
        params={
            "exit_id": exit_.id,
            "vm_id": vm_id,
            "export_id": facts.id,
            "kind": kind,
            "fee": str(fee) if fee is not None else None,
            "clause": exit_.clause,
        },
        client_id=contract.client_id,
    )
    return delivery


def start_erasure(session: Session, who: Actor, exit_: ContractExit, reason: str) -> None:
    """Mark the exit as erasing (the passes of ``erasure.carry_on`` do the work)."""
    exit_.erasure_reason = reason[:200]
    exit_.erasure_by = exit_.erasure_by or (who.id or f"system:{who.label}")
    session.flush()
    _move(session, exit_, ExitState.ERASING, who, reason)


def run_daily(
    database: Database, registry: OfferRegistry, runtime: ComputeRuntime
) -> dict[str, str]:
    """The job ``contracts_exit_daily``: open the exit of every contract in
    ``reversibility`` without one, and move every exit not closed on (each contract in
    its own transaction; run twice, it acts once: every step is idempotent)."""
    with database.unit() as session:
        ids = set(
            session.execute(
                select(Contract.id).where(Contract.state == ContractState.REVERSIBILITY.value)
            ).scalars()
        )
        ids |= set(
            session.execute(
                select(ContractExit.contract_id).where(ContractExit.state != ExitState.CLOSED.value)
            ).scalars()
        )
    done: dict[str, str] = {}
    for contract_id in sorted(ids):
        with database.unit() as session:
            exit_ = advance(session, registry, runtime, contract_id)
            done[contract_id] = exit_.state if exit_ is not None else "-"
    return done


def live_exit(
    session: Session, actor: Principal, contract_id: str, *, write: bool = True
) -> tuple[Contract, ContractExit]:
    """The contract and its exit, for a client act (an owner, or staff)."""
    contract = contracts.get_contract(session, actor, contract_id)
    if write:
        actor.require(Scope.WRITE)
        if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
            raise Forbidden("only an owner (Responsable) decides on the contract's data (000 §1)")
    exit_ = exit_of(session, contract.id)
    if exit_ is None:
        raise ExitNotOpen(f"the contract is {contract.state}: it has no exit open")
    return contract, exit_


def require_live(exit_: ContractExit) -> None:
    """Refuse an act once the erasure started."""
    if ExitState(exit_.state) not in LIVE:
        raise InvalidTransition(
            f"the exit is {exit_.state}: the data is being or was erased "
            f"({exit_.erasure_reason or exit_.clause})"
        )


# ---------------------------------------------------------------- deadlines

Upcoming = tuple[dt.datetime, str, str, str]


def _window_text(plan: ExitPlan | None) -> str:
    if plan is None:
        return "the reversibility window ends"
    if plan.fee_per == "vm":
        return "last day to ask for a full backup of each VM"
    if plan.after_window == "extract_to_media_at_client_cost":
        return "last moment to withdraw the data; then extracted at the client's cost"
    if plan.exercise_by == "registered_letter":
        return "last day to choose deletion or recovery; the data is destroyed otherwise"
    if plan.erases_at_window_end:
        return "the service ends and the VMs and data are erased"
    return "the reversibility window ends"


def _upcoming(
    exit_: ContractExit,
    plan: ExitPlan | None,
    links: list[tuple[ExitDelivery, ending.ExportFacts | None]],
    now: dt.datetime,
) -> list[Upcoming]:
    if exit_.state in (ExitState.ERASED, ExitState.CLOSED):
        return []
    if exit_.state == ExitState.ERASING:
        started = exit_.erasure_started_at or now
        return [(started, "exit_erasure", exit_.clause, "the data is being erased")]
    found: list[Upcoming] = []
    if exit_.window_ends_at is not None and exit_.window_ends_at > now:
        found.append((exit_.window_ends_at, "exit_window", exit_.clause, _window_text(plan)))
    for delivery, facts in links:
        if facts is not None and facts.state == "ready" and facts.expires_at > now:
            found.append(
                (
                    facts.expires_at,
                    "exit_link",
                    exit_.clause,
                    f"the download link of the copy of VM {delivery.vm_id} expires",
                )
            )
    return sorted(found)


def upcoming_of(view: ExitView) -> list[Upcoming]:
    """The exit's coming dates, soonest first: (at, kind, clause, description)."""
    return _upcoming(view.exit, view.plan, view.deliveries, utc_now())


def upcoming(session: Session, contract: Contract) -> list[Upcoming]:
    """The coming dates of a contract's exit, for the deadlines listing: (at, kind,
    clause, description), soonest first; empty without an exit."""
    exit_ = exit_of(session, contract.id)
    if exit_ is None:
        return []
    items = deliveries_of(session, exit_.id)
    facts = ending.exports_by_id(session, [d.export_id for d in items])
    return _upcoming(exit_, None, [(d, facts.get(d.export_id)) for d in items], utc_now())
