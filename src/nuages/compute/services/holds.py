"""What a contract hold does to its VMs (003 §8: access blocked, service and data kept).

While a contract has an open hold (``contracts.holds``), each of its running or
stopped VMs is suspended through compute's normal service (``vms.suspend_vm``: an
operation on the queue; the domain paused, disks, addresses and snapshots kept), with
the reason ``hold:<ground>`` of its oldest hold. Once the last hold is lifted, the VMs a
hold suspended are resumed the same way (``Action.RESUME``): a VM that ran runs again,
one that was stopped stays stopped.

``enforce`` is idempotent: it only asks for VMs with no operation in flight and in a
state to change, and the task slot is a compare-and-swap, so a hold placed twice (or
the job delivered twice, or the job and a reconciliation pass together) suspends each VM
once. ``enforce_all`` is the reconciliation step: it finds every contract whose VMs
disagree with its holds (a worker killed between the hold and the pause, a VM that was
busy) and enforces it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute.models import Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import vms
from nuages.compute.states import Action, VmState
from nuages.contracts import holds
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError

log = logging.getLogger("nuages.compute.holds")
PREFIX = "hold:"
# Suspending and resuming are staff actions; holds act as provider staff named "holds".
HOLDS_STAFF = Principal.staff("holds")
TO_SUSPEND = (VmState.RUNNING.value, VmState.STOPPED.value)
# Before holds, billing wrote the bare ground on the VMs it paused; the upgrade turned
# those suspensions into holds (migration 0007_holds), so their VMs resume with them.
LEGACY = ("negative-balance",)


def reason_of(ground: str) -> str:
    """The ``suspended_reason`` a hold on ``ground`` writes on a VM."""
    return PREFIX + ground


def ground_of(suspended_reason: str | None) -> str | None:
    """The ground of a hold-suspended VM's reason (the reason itself otherwise)."""
    if suspended_reason is None:
        return None
    return suspended_reason.removeprefix(PREFIX)


@dataclass
class Enforced:
    """The VMs whose suspension or resumption was queued."""

    suspended: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


def enforce(session: Session, runtime: ComputeRuntime, contract_id: str) -> Enforced:
    """Bring the contract's VMs in line with its holds (see the module); never commits."""
    done = Enforced()
    open_ = holds.open_holds(session, contract_id)
    if open_:
        reason = reason_of(open_[0].ground)
        ids = session.execute(
            select(Vm.id).where(
                Vm.contract_id == contract_id,
                Vm.vm_state.in_(TO_SUSPEND),
                Vm.task_state.is_(None),
            )
        ).scalars()
        for vm_id in list(ids):
            if _ask(
                session, vm_id, lambda v: vms.suspend_vm(session, HOLDS_STAFF, runtime, v, reason)
            ):
                done.suspended.append(vm_id)
        return done
    ids = session.execute(
        select(Vm.id).where(
            Vm.contract_id == contract_id,
            Vm.vm_state == VmState.SUSPENDED.value,
            or_(Vm.suspended_reason.like(PREFIX + "%"), Vm.suspended_reason.in_(LEGACY)),
            Vm.task_state.is_(None),
        )
    ).scalars()
    for vm_id in list(ids):
        if _ask(
            session, vm_id, lambda v: vms.request(session, HOLDS_STAFF, runtime, v, Action.RESUME)
        ):
            done.resumed.append(vm_id)
    return done


def _ask(session: Session, vm_id: str, call: Callable[[str], object]) -> bool:
    try:
        with session.begin_nested():
            call(vm_id)
    except NuagesError as exc:  # busy meanwhile: the next pass asks again
        log.info("VM %s left for the next pass: %s", vm_id, exc.detail)
        return False
    return True


def out_of_line(session: Session) -> list[str]:
    """Contracts whose VMs disagree with their holds: held with a VM still running or
    stopped, or not held with a VM a hold suspended."""
    held = holds.held_contracts(session)
    found = set()
    if held:
        found |= set(
            session.execute(
                select(Vm.contract_id)
                .where(
                    Vm.contract_id.in_(held),
                    Vm.vm_state.in_(TO_SUSPEND),
                    Vm.task_state.is_(None),
                )
                .distinct()
            ).scalars()
        )
    suspended = set(
        session.execute(
            select(Vm.contract_id)
            .where(
                Vm.vm_state == VmState.SUSPENDED.value,
                or_(Vm.suspended_reason.like(PREFIX + "%"), Vm.suspended_reason.in_(LEGACY)),
                Vm.task_state.is_(None),
            )
            .distinct()
        ).scalars()
    )
    return sorted(found | (suspended - held))


def enforce_all(database: Database, runtime: ComputeRuntime) -> Enforced:
    """The reconciliation step: enforce every contract out of line, each in its own
    transaction."""
    total = Enforced()
    with database.unit() as session:
        ids = out_of_line(session)
    for contract_id in ids:
        with database.unit() as session:
            done = enforce(session, runtime, contract_id)
        total.suspended += done.suspended
        total.resumed += done.resumed
    return total


def run_job(database: Database, runtime: ComputeRuntime, contract_id: str) -> Enforced:
    """The job ``compute_enforce_holds``: enforce one contract after a place or lift."""
    with database.unit() as session:
        return enforce(session, runtime, contract_id)
