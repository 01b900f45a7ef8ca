"""VM snapshots (002 §3 Cloud VM Avancé and Essentiel: "snapshots created and restored
from the interface, at most 2 per VM, kept 7 days").

What a snapshot is: a point-in-time, self-contained qcow2 copy of the VM's disk (disk
only, no memory), kept in the VM's directory. A running VM is copied live by libvirt's
backup API (the guest runs on; the copy is crash-consistent, like pulling the plug at
the instant of the request); a stopped one by ``qemu-img convert``. Restoring stops the
VM, rewrites its disk from the copy and starts it again if it was running. Taking and
restoring are operations like the other VM actions (the VM's task slot, polled,
recovered after a crash); deleting is immediate (the file goes once the transaction
commits).

The numbers come from the offer's terms (``[snapshots]``: ``available``,
``max_per_vm``, ``retention``): the third snapshot of a VM under an offer allowing 2 is
refused with 409 before anything is written, and ``expire_snapshots`` (a periodic job)
deletes the ones whose retention is over.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute import schemas
from nuages.compute.models import Operation, Vm, VmSnapshot
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import access, retention, vms
from nuages.compute.services.work import Job
from nuages.compute.states import Action, check_action
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database, after_commit
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, NotFound
from nuages.terms.apply import calendar_for, duration_unit
from nuages.terms.schema import Offer

CREATING, READY, FAILED, DELETED = "creating", "ready", "failed", "deleted"
LIVE = (CREATING, READY)


def _offer(session: Session, registry: OfferRegistry, vm: Vm) -> Offer:
    contract = session.get(Contract, vm.contract_id)
    if contract is None:  # pragma: no cover - foreign key
        raise NotFound("no such contract")
    return registry.for_contract(session, contract)


def expiry(offer: Offer, taken_at: dt.datetime) -> dt.datetime:
    """When a snapshot taken at ``taken_at`` under ``offer`` is removed: its retention
    (002 §3: 7 days) counted in the contract's calendar (calendar days: the day taken
    does not count, the period ends at local midnight ending the 7th day; SPEC §17: the
    longer reading keeps the client's data longer). No retention in the terms: 7 days
    is not assumed; the snapshot is kept until deleted (a far date)."""
    retention = offer.snapshots.retention
    if retention is None:
        return dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    return calendar_for(offer).add(taken_at, retention.amount, duration_unit(retention))


def _live_count(session: Session, vm_id: str) -> int:
    rows = session.execute(
        select(VmSnapshot.id).where(VmSnapshot.vm_id == vm_id, VmSnapshot.state.in_(LIVE))
    ).all()
    return len(rows)


def create_snapshot(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    vm_id: str,
    data: schemas.SnapshotCreate,
) -> tuple[VmSnapshot, Vm, Operation]:
    """Ask for a snapshot of a VM; answered with the operation to poll.

    Refused before anything is written: a VM being created, deleted, suspended or busy
    (409, the state table), an offer without snapshots (403), a VM holding
    ``max_per_vm`` snapshots already (409 naming the limit and its clause, 002 §3).
    """
    vm = access.load_vm(session, actor, vm_id, write=True)
    access.require_feature(session, actor, vm, "snapshots")
    check_action(Action.SNAPSHOT, vm.vm_state, vm.task_state, staff=actor.is_staff)
    offer = _offer(session, registry, vm)
    terms = offer.snapshots
    clause = terms.clause or "the offer's terms"
    if not terms.available:
        raise Forbidden(f"offer {offer.id} includes no snapshots ({clause})")
    count = _live_count(session, vm.id)
    if terms.max_per_vm is not None and count >= terms.max_per_vm:
        raise Conflict(
            f"this VM already has {count} snapshot(s); offer {offer.id} allows at most "
            f"{terms.max_per_vm} per VM ({clause}): delete one first"
        )
    now = utc_now()
    snapshot = VmSnapshot(
        id=str(uuid.uuid4()),
        vm_id=vm.id,
        client_id=vm.client_id,
        name=data.name or f"snapshot-{now:%Y%m%d-%H%M%S}",
        state=CREATING,
        was_running=vm.vm_state == "running",
        created_at=now,
        expires_at=expiry(offer, now),
    )
    session.add(snapshot)
    session.flush()
    vm, operation = vms.request(
        session,
        actor,
        runtime,
        vm.id,
        Action.SNAPSHOT,
        {"snapshot_id": snapshot.id, "name": snapshot.name},
        vm=vm,
    )
    snapshot.operation_id = operation.id
    return snapshot, vm, operation


def list_snapshots(session: Session, actor: Principal, vm_id: str) -> list[VmSnapshot]:
    """The VM's snapshots being taken or kept, oldest first, with size and expiry."""
    vm = access.load_vm(session, actor, vm_id)
    return list(
        session.execute(
            select(VmSnapshot)
            .where(VmSnapshot.vm_id == vm.id, VmSnapshot.state.in_(LIVE))
            .order_by(VmSnapshot.created_at, VmSnapshot.id)
        ).scalars()
    )


def _snapshot_of(session: Session, vm: Vm, snapshot_id: str) -> VmSnapshot:
    snapshot = session.get(VmSnapshot, snapshot_id)
    # Another VM's snapshot (even the caller's own) is not one of this VM's: 404.
    if snapshot is None or snapshot.vm_id != vm.id or snapshot.state not in LIVE:
        raise NotFound("no such snapshot of this VM")
    return snapshot


def get_snapshot(session: Session, actor: Principal, vm_id: str, snapshot_id: str) -> VmSnapshot:
    """One snapshot of a VM the caller may see."""
    return _snapshot_of(session, access.load_vm(session, actor, vm_id), snapshot_id)


def restore_snapshot(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, snapshot_id: str
) -> tuple[VmSnapshot, Vm, Operation]:
    """Put the VM's disk back to a snapshot (002 §3): stopped, reverted, started again
    if it was running. The snapshot stays (it can be restored again)."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    snapshot = _snapshot_of(session, vm, snapshot_id)
    if snapshot.state != READY:
        raise InvalidTransition("the snapshot is still being taken")
    params = {"snapshot_id": snapshot.id, "name": snapshot.name}
    vm, operation = vms.request(
        session, actor, runtime, vm.id, Action.SNAPSHOT_RESTORE, params, vm=vm
    )
    return snapshot, vm, operation


def delete_snapshot(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, snapshot_id: str
) -> VmSnapshot:
    """Delete a snapshot now (its file goes when the transaction commits). Refused while
    an operation runs on the VM (it may be taking or restoring this very snapshot)."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    actor.require(Scope.WRITE)
    access.require_feature(session, actor, vm, "snapshots")
    snapshot = _snapshot_of(session, vm, snapshot_id)
    if vm.task_state is not None:
        raise InvalidTransition(f"the VM is busy ({vm.task_state}); try again when it is done")
    _drop(session, runtime, snapshot, vm, "deleted", actor.actor)
    return snapshot


def _drop(
    session: Session,
    runtime: ComputeRuntime,
    snapshot: VmSnapshot,
    vm: Vm,
    reason: str,
    who: Actor,
) -> bool:
    """Mark a ready snapshot deleted (compare-and-swap), record it, remove its file once
    the transaction commits (never if it rolls back)."""
    done = session.execute(
        update(VmSnapshot)
        .where(VmSnapshot.id == snapshot.id, VmSnapshot.state == READY)
        .values(state=DELETED, deleted_at=utc_now(), deleted_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the snapshot changed meanwhile; read it again")
    session.refresh(snapshot)
    history.record(
        session,
        who,
        object_type="vm",
        object_id=vm.id,
        action="vm.snapshot_delete",
        params={"snapshot_id": snapshot.id, "name": snapshot.name, "reason": reason},
        client_id=vm.client_id,
    )
    path = runtime.vm_files(vm.id).snapshot(snapshot.id)
    after_commit(session, lambda: path.unlink(missing_ok=True))
    return True


def expire_snapshots(database: Database, runtime: ComputeRuntime) -> list[str]:
    """Delete every ready snapshot whose retention is over (002 §3: kept 7 days); the
    job body. A VM with an operation in flight keeps its expired snapshots until the
    next pass (the operation may be restoring one). Returns the ids deleted."""
    who = Actor.system("snapshot expiry")

    def drop(session: Session, snapshot: VmSnapshot, vm: Vm, now: dt.datetime) -> bool:
        _drop(session, runtime, snapshot, vm, "expired", who)
        return True

    return retention.expire_due(database, VmSnapshot, drop)


# ------------------------------------------------- settled with the operation (jobs)


def on_success(session: Session, job: Job) -> None:
    """A snapshot operation succeeded: the snapshot is ready, with its size and
    checksum. A VM deleted: its snapshots went with its directory."""
    if job.kind == Action.SNAPSHOT.value:
        _settle_row(session, job, READY, job.extra)
    elif job.kind == Action.DELETE.value:
        session.execute(
            update(VmSnapshot)
            .where(VmSnapshot.vm_id == job.vm_id, VmSnapshot.state.in_(LIVE))
            .values(state=DELETED, deleted_at=utc_now(), deleted_reason="vm-deleted")
            .execution_options(synchronize_session=False)
        )


def on_failure(session: Session, job: Job) -> None:
    """A snapshot operation failed or was interrupted: nothing of it is kept."""
    if job.kind == Action.SNAPSHOT.value:
        _settle_row(session, job, FAILED, {})


def _settle_row(session: Session, job: Job, state: str, values: dict[str, Any]) -> None:
    columns = {k: values[k] for k in ("size_bytes", "virtual_bytes", "sha256") if k in values}
    session.execute(
        update(VmSnapshot)
        .where(VmSnapshot.id == str(job.params["snapshot_id"]), VmSnapshot.state == CREATING)
        .values(state=state, **columns)
        .execution_options(synchronize_session=False)
    )
