"""Pausing and resuming a contract's VMs for billing, through compute's own services.

Compute suspends one VM at a time (``vms.suspend_vm``: the domain is paused, disks and
addresses kept, the reason written on the VM) and resumes one with ``vms.request(…,
Action.RESUME)``; both are staff actions queued as operations. Billing acts as provider
staff named "billing" and only ever lifts the suspensions whose reason is its own.

A VM busy with another operation is left for the next pass (``balance.enforce_all``
looks again after every metering run).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.models import Vm
from nuages.compute.runtime import ComputeRuntime, get_runtime
from nuages.compute.services import vms as compute_vms
from nuages.compute.states import Action, VmState
from nuages.kernel.errors import NuagesError

log = logging.getLogger("nuages.billing")

# The provider acting through billing: compute's suspension is a staff action.
BILLING_STAFF = Principal(
    user_id="billing",
    email="billing",
    role=Role.PROVIDER_ADMIN,
    client_id=None,
    scopes=frozenset(Scope),
)
SUSPENDABLE = (VmState.RUNNING.value, VmState.STOPPED.value)


def suspend_contract_vms(
    session: Session, contract_id: str, reason: str, runtime: ComputeRuntime | None = None
) -> list[str]:
    """Ask compute to pause every running or stopped VM of the contract, with ``reason``;
    return the ids of the VMs whose suspension was queued."""
    found = session.execute(
        select(Vm.id).where(
            Vm.contract_id == contract_id,
            Vm.vm_state.in_(SUSPENDABLE),
            Vm.task_state.is_(None),
        )
    ).scalars()
    done: list[str] = []
    for vm_id in list(found):
        runtime = runtime or get_runtime()
        try:
            with session.begin_nested():
                compute_vms.suspend_vm(session, BILLING_STAFF, runtime, vm_id, reason)
        except NuagesError as exc:  # busy meanwhile: the next pass retries
            log.info("VM %s not suspended now: %s", vm_id, exc.detail)
            continue
        done.append(vm_id)
    return done


def resume_contract_vms(
    session: Session, contract_id: str, reason: str, runtime: ComputeRuntime | None = None
) -> list[str]:
    """Ask compute to resume every VM of the contract suspended for ``reason``; return
    the ids of the VMs whose resumption was queued."""
    found = session.execute(
        select(Vm.id).where(
            Vm.contract_id == contract_id,
            Vm.vm_state == VmState.SUSPENDED.value,
            Vm.suspended_reason == reason,
            Vm.task_state.is_(None),
        )
    ).scalars()
    done: list[str] = []
    for vm_id in list(found):
        runtime = runtime or get_runtime()
        try:
            with session.begin_nested():
                compute_vms.request(session, BILLING_STAFF, runtime, vm_id, Action.RESUME)
        except NuagesError as exc:
            log.info("VM %s not resumed now: %s", vm_id, exc.detail)
            continue
        done.append(vm_id)
    return done


def pending_resumptions(session: Session, reason: str) -> list[str]:
    """Contracts with VMs still suspended for ``reason`` (to check against balances)."""
    return list(
        session.execute(
            select(Vm.contract_id)
            .where(Vm.vm_state == VmState.SUSPENDED.value, Vm.suspended_reason == reason)
            .distinct()
        ).scalars()
    )


def still_running(session: Session, contract_id: str) -> bool:
    """Whether the contract still has a running or stopped VM (a suspension to finish)."""
    return (
        session.execute(
            select(Vm.id)
            .where(Vm.contract_id == contract_id, Vm.vm_state.in_(SUSPENDABLE))
            .limit(1)
        ).first()
        is not None
    )
