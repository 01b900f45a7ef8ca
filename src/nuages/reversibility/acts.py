"""What the client (an owner) and staff do during an exit: ask for copies of the data
(001 §7 recovery, partial at any time at EUR 250 per transfer; 004 §17.2 a full backup
of each VM at EUR 360 per VM within 15 days; 003 §13.2 withdrawal, then extraction at
the client's cost; 000 §18 images; 002 §10 the client's own copies), choose deletion or
recovery (001 §7, by registered letter), confirm the data was received (004 §5), and
staff order the erasure. Each is refused before anything is written: after its window,
with unpaid invoices where the offer says so, while a copy is being written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import ending
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Forbidden, ValidationFailed
from nuages.reversibility import money
from nuages.reversibility.models import ContractExit, ExitDelivery
from nuages.reversibility.plan import ExitPlan
from nuages.reversibility.service import (
    ExitView,
    ExportInProgress,
    UnpaidInvoices,
    WindowClosed,
    _deliver,
    _view,
    deliveries_of,
    live_exit,
    plan_of,
    require_live,
    start_erasure,
)

CHOICES = ("deletion", "recovery")


def _kind(plan: ExitPlan, now: dt.datetime, full: bool) -> str:
    if plan.fee_per == "transfer":
        return "recovery" if full else "partial"  # 001 §7
    if plan.fee_per == "vm":
        return "backup"  # 004 §17.2
    if plan.after_window == "extract_to_media_at_client_cost":
        over = plan.window_ends_at is not None and now >= plan.window_ends_at
        return "extraction" if over else "withdrawal"  # 003 §13.2
    if plan.images_for_every_vm:
        return "image"  # 000 §18
    return "copy"  # 002 §10


def _check_window(plan: ExitPlan, at: dt.datetime, what: str) -> None:
    """Refuse an act after the clause's window (003 §13.2's extraction comes after it,
    so its window never closes a request)."""
    if plan.denied:
        raise WindowClosed(
            f"{what}: no reversibility after a payment default ({plan.clause})", clause=plan.clause
        )
    if plan.after_window == "extract_to_media_at_client_cost" or plan.window_ends_at is None:
        return
    if at >= plan.window_ends_at:
        raise WindowClosed(
            f"{what}: the {plan.window} window of {plan.clause} ended on "
            f"{plan.window_ends_at.isoformat(timespec='minutes')}",
            clause=plan.clause,
            window_ends_at=plan.window_ends_at.isoformat(),
        )


def _check_paid(session: Session, plan: ExitPlan, contract: Contract, what: str) -> None:
    if not plan.requires_paid_up:
        return
    owed = money.unpaid(session, contract.id)
    pending = money.not_invoiced_yet(session, contract.id)
    if pending > 0 and not owed:
        raise UnpaidInvoices(
            f"{what}: data is returned only once every amount is paid ({plan.clause}); "
            f"{pending} for the rest of the subscribed duration (003 §13.2.1) is still "
            "to be invoiced and paid",
            clause=plan.clause,
            unpaid=[],
        )
    if owed:
        total = sum((u.outstanding for u in owed), Decimal(0))
        numbers = ", ".join(u.number for u in owed)
        raise UnpaidInvoices(
            f"{what}: data is returned only once every invoice is paid ({plan.clause}); "
            f"unpaid: {numbers} ({total} still due)",
            clause=plan.clause,
            unpaid=[u.number for u in owed],
        )


def request_copies(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    runtime: ComputeRuntime,
    contract_id: str,
    vm_ids: list[str] | None,
) -> ExitView:
    """Ask for a qcow2 copy (SHA-256, expiring link) of the VMs named, or of every VM
    left; the offer's fee charged once per transfer or per VM. Every VM is checked
    before anything is written."""
    contract, exit_ = live_exit(session, actor, contract_id)
    require_live(exit_)
    offer = registry.for_contract(session, contract)
    plan = plan_of(session, registry, contract, exit_)
    now = utc_now()
    _check_window(plan, now, "copy of the data")
    _check_paid(session, plan, contract, "copy of the data")
    left = {vm.id: vm for vm in ending.vms_left(session, contract.id)}
    chosen = list(dict.fromkeys(vm_ids)) if vm_ids else list(left)
    if not chosen:
        raise ValidationFailed("vm_ids: the contract has no VM left to copy")
    for vm_id in chosen:
        vm = left.get(vm_id)
        if vm is None:
            raise ValidationFailed(f"vm_ids: {vm_id} is not a VM of this contract left to copy")
        why = ending.copyable(vm)
        if why is not None:
            raise ExportInProgress(f"vm_ids: {why}")
    kind = _kind(plan, now, full=set(chosen) == set(left))
    transfer = 1 + max((d.transfer for d in deliveries_of(session, exit_.id)), default=0)
    for vm_id in chosen:
        fee, key = None, None
        if plan.fee is not None and plan.fee_per == "vm":
            fee, key = plan.fee, f"exit-fee:{exit_.id}:{transfer}:{vm_id}"
        delivery = _deliver(
            session, runtime, actor.actor, contract, offer, exit_, vm_id, kind, fee, key, transfer
        )
        if fee is not None and key is not None:
            money.charge_fee(
                session,
                actor.actor,
                contract,
                offer,
                amount=fee,
                key=key,
                description=f"Sauvegarde complète de fin de contrat, VM {left[vm_id].name} "
                f"({plan.clause})",
            )
        _ = delivery
    if plan.fee is not None and plan.fee_per == "transfer":
        # 001 §7: EUR 250 per transfer; one request is one transfer, whatever its VMs.
        key = f"exit-fee:{exit_.id}:{transfer}"
        for d in deliveries_of(session, exit_.id):
            if d.transfer == transfer:
                d.fee, d.fee_key = plan.fee, key
        money.charge_fee(
            session,
            actor.actor,
            contract,
            offer,
            amount=plan.fee,
            key=key,
            description=f"Transfert de réversibilité n° {transfer} ({plan.clause})",
        )
    session.flush()
    return _view(session, registry, contract, exit_)


def choose(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    runtime: ComputeRuntime,
    contract_id: str,
    choice: str,
    letter_at: dt.datetime | None,
) -> ExitView:
    """001 §7: the client chooses deletion or recovery of all its data, by registered
    letter (its date ``letter_at``, else now) within the window; recovery asks for a
    copy of every VM (one transfer), deletion starts the erasure."""
    contract, exit_ = live_exit(session, actor, contract_id)
    require_live(exit_)
    if choice not in CHOICES:
        raise ValidationFailed(f"choice: {choice!r} is not one of {', '.join(CHOICES)}")
    if exit_.choice is not None:
        raise ValidationFailed(f"choice: {exit_.choice} was chosen on {exit_.choice_at:%Y-%m-%d}")
    plan = plan_of(session, registry, contract, exit_)
    now = utc_now()
    at = letter_at or now
    if at > now:
        raise ValidationFailed("letter_at: a letter is never dated in the future")
    _check_window(plan, at, f"choice of {choice}")
    if choice == "recovery":
        view = request_copies(session, actor, registry, runtime, contract_id, None)
    else:
        writing = [
            d
            for d, f in _view(session, registry, contract, exit_).deliveries
            if f and f.state == "creating"
        ]
        if writing:
            raise ExportInProgress(
                f"choice of deletion: a copy of VM {writing[0].vm_id} is being written; "
                f"the data is erased once it is done ({plan.clause})"
            )
    exit_.choice, exit_.choice_at, exit_.letter_at = choice, now, letter_at
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.exit.choice",
        params={
            "choice": choice,
            "letter_at": letter_at.isoformat() if letter_at else None,
            "clause": plan.clause,
        },
        client_id=contract.client_id,
    )
    if choice == "deletion":
        start_erasure(session, actor.actor, exit_, f"the client chose deletion ({plan.clause})")
        return _view(session, registry, contract, exit_)
    return view


def _no_copy_writing(
    session: Session, registry: OfferRegistry, contract: Contract, exit_: ContractExit, what: str
) -> None:
    view = _view(session, registry, contract, exit_)
    writing = [d for d, f in view.deliveries if f is not None and f.state == "creating"]
    if writing:
        raise ExportInProgress(
            f"{what}: a copy of VM {writing[0].vm_id} is being written; erasing now would "
            f"destroy what is being handed over ({view.plan.clause})",
            clause=view.plan.clause,
        )


def confirm(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> ExitView:
    """The client confirms it has its data (004 §5: the contract ends then, billed
    until then); the erasure follows."""
    contract, exit_ = live_exit(session, actor, contract_id)
    require_live(exit_)
    _no_copy_writing(session, registry, contract, exit_, "confirmation")
    now = utc_now()
    exit_.confirmed_at, exit_.confirmed_by = now, actor.user_id
    session.flush()
    if plan_of(session, registry, contract, exit_).confirmation_ends:
        # 004 §5: the termination takes effect only now, and is billed until then: the
        # contract's end moves to the confirmation, so invoicing catches up to it.
        session.execute(
            update(Contract)
            .where(Contract.id == contract.id)
            .values(ended_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        history.record(
            session,
            actor.actor,
            object_type="contract",
            object_id=contract.id,
            action="contract.ended_at",
            params={"from": exit_.ended_at.isoformat(), "to": now.isoformat(), "clause": "004 §5"},
            client_id=contract.client_id,
        )
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.exit.confirm",
        params={"clause": exit_.clause},
        client_id=contract.client_id,
    )
    start_erasure(session, actor.actor, exit_, "the client confirmed it has its data")
    return _view(session, registry, contract, exit_)


def staff_erase(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str, reason: str
) -> ExitView:
    """Staff order the erasure now (e.g. 003 §13.2 data never claimed): refused while a
    copy is being written."""
    contract, exit_ = live_exit(session, actor, contract_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff order an erasure")
    require_live(exit_)
    if not reason.strip():
        raise ValidationFailed("reason: an erasure ordered by staff states its reason")
    _no_copy_writing(session, registry, contract, exit_, "erasure")
    start_erasure(session, actor.actor, exit_, f"staff: {reason}")
    return _view(session, registry, contract, exit_)


__all__ = ["CHOICES", "ExitDelivery", "choose", "confirm", "request_copies", "staff_erase"]
