"""Running operations, and recovering the ones a crash interrupted.

A job runs in three steps, each short on the database side:

1. claim: ``queued → running`` as a compare-and-swap (a job delivered twice runs once),
   and read the ``Job`` (a plain value);
2. work: the driver and disk calls of ``work`` with no transaction open;
3. settle: the VM's new states as a compare-and-swap on its task, leases released on
   delete or failed create, outages closed when the VM is up, the operation finished,
   everything in the history.

``recover_operations`` runs at start-up: an operation left ``running`` by a process that
died is completed when its effect is there (the domain of a create exists) or rolled
back (files, port, address removed; the VM marked), never left half-done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.compute.hypervisor import DomainNotFound, DomainStatus, HostUnreachable, PowerState
from nuages.compute.models import Host, Image, Operation, Vm
from nuages.compute.net import enforce as netenforce
from nuages.compute.net import service as netservice
from nuages.compute.runtime import ComputeRuntime, runner_id
from nuages.compute.services import backups, exports, ipam, outages, snapshots, work
from nuages.compute.states import SETTLED, OperationState, VmState, check_transition
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.notices import announce

log = logging.getLogger("nuages.compute")
Q, R = OperationState.QUEUED.value, OperationState.RUNNING.value
INTERRUPTED = "interrupted by a crash"
# Operations writing a copy of the disk (a snapshot, a backup): undone when they fail.
COPIES = ("snapshot", "backup", "export")
# The power state that shows an interrupted operation reached its goal anyway.
GOALS = {
    "start": PowerState.RUNNING,
    "stop": PowerState.SHUTOFF,
    "reboot": PowerState.RUNNING,
    "resume": PowerState.RUNNING,
}


def load_job(session: Session, runtime: ComputeRuntime, operation: Operation) -> work.Job:
    """Everything the work of ``operation`` needs, as a plain value."""
    vm = session.get(Vm, operation.vm_id)
    image = session.get(Image, vm.image_id) if vm else None
    if vm is None or image is None:  # pragma: no cover - foreign keys
        raise RuntimeError(f"operation {operation.id} names a missing VM or image")
    host = session.get(Host, vm.host_id) if vm.host_id else None
    return work.Job(
        operation_id=operation.id,
        kind=operation.kind,
        params=json.loads(operation.params or "{}"),
        vm_id=vm.id,
        vm_name=vm.name,
        vm_state=vm.vm_state,
        vcpus=vm.vcpus,
        ram_mib=vm.ram_mib,
        disk_gib=vm.disk_gib,
        host_uri=host.uri if host else None,
        accel="kvm" if host is not None and host.accel == "kvm" else "tcg",
        image=work.ImageRef(
            boot_mode=image.boot_mode,
            base=Path(image.base_path),
            disk_format="raw" if image.disk_format == "raw" else "qcow2",
            kernel=Path(image.kernel_path) if image.kernel_path else None,
            initrd=Path(image.initrd_path) if image.initrd_path else None,
            cmdline=image.cmdline,
        ),
        plan=ipam.plan_of(session, vm.id),
        files=runtime.vm_files(vm.id),
        net=netenforce.plan_for(session, vm),
    )


def run_operation(database: Database, runtime: ComputeRuntime, operation_id: str) -> str:
    """Carry out a queued operation (the job body); return its final state, or
    ``"skipped"`` when it was not queued (already run, or taken by another worker)."""
    with database.unit() as session:
        claimed = session.execute(
            update(Operation)
            .where(Operation.id == operation_id, Operation.state == Q)
            .values(state=R, started_at=utc_now(), runner=runner_id())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return "skipped"
        operation = session.get(Operation, operation_id)
        assert operation is not None
        job = load_job(session, runtime, operation)
    return execute(database, runtime, job)


def execute(database: Database, runtime: ComputeRuntime, job: work.Job) -> str:
    """Do the work of a claimed job and settle it."""
    if job.kind in COPIES and job.progress is None:
        job = dataclasses.replace(job, progress=ProgressWriter(database, job.operation_id))
    try:
        status = work.WORK[job.kind](runtime, job)
    except Exception as exc:  # every failure is settled and recorded
        if not isinstance(exc, NuagesError):
            log.exception("operation %s (%s) failed", job.operation_id, job.kind)
        if job.kind == "create":
            work.undo_create(runtime, job)
        if job.kind in COPIES:
            work.undo_copy(runtime, job)
        with database.unit() as session:
            fail(session, job, _message(exc))
        return OperationState.FAILED.value
    with database.unit() as session:
        succeed(session, job, status)
        if job.kind == "reinstall":
            # 003 §7.3: a compromised server's network cut ends with its reinstall.
            netservice.reinstalled(session, _who(session, job), runtime, job.vm_id)
    return OperationState.SUCCEEDED.value


class ProgressWriter:
    """Writes a copy's (done, total) bytes on its operation, in its own short
    transaction and at most once per ``every_s`` (plus the last report when the copy
    ends, written by ``succeed``), so pollers see it move (issue #19)."""

    def __init__(self, database: Database, operation_id: str, every_s: float = 1.0) -> None:
        self.database = database
        self.operation_id = operation_id
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s and done < total:
            return
        self._last = now
        try:
            with self.database.unit() as session:
                session.execute(
                    update(Operation)
                    .where(Operation.id == self.operation_id)
                    .values(progress_done=min(done, total), progress_total=total)
                )
        except Exception:  # progress is a courtesy: never fail the copy for it
            log.warning("could not record progress of operation %s", self.operation_id)


def _message(exc: BaseException) -> str:
    if isinstance(exc, NuagesError):
        return exc.detail[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


def _outcome(job: work.Job, status: DomainStatus | None) -> tuple[VmState, dict[str, Any]]:
    """The VM's new state and columns after a successful operation of ``job.kind``."""
    power = status.power_state if status is not None else PowerState.SHUTOFF
    values: dict[str, Any] = {"power_state": power.value}
    kind = job.kind
    if kind == "delete":
        return VmState.DELETED, values | {"deleted_at": utc_now()}
    if kind == "suspend":
        return VmState.SUSPENDED, values | {"suspended_reason": job.params.get("reason")}
    if kind == "resume":
        values["suspended_reason"] = None
    if kind == "resize":
        values |= {k: job.params[k] for k in ("flavour_id", "vcpus", "ram_mib", "disk_gib")}
    return SETTLED[power], values


def _settle(
    session: Session,
    job: work.Job,
    becomes: VmState | None,
    values: dict[str, Any],
    outcome: str,
    who: Actor,
) -> Vm | None:
    """Write the VM's end state as a compare-and-swap on the operation's task."""
    vm = session.get(Vm, job.vm_id)
    if vm is None:  # pragma: no cover - foreign key
        return None
    previous = vm.vm_state
    target = becomes or VmState(previous)
    if target.value != previous:
        check_transition(previous, target)
    values = {"task_state": None, "vm_state": target.value, **values}
    if target is VmState.RUNNING and vm.activated_at is None:
        values["activated_at"] = utc_now()  # billing counts from the first run
    done = session.execute(
        update(Vm)
        .where(Vm.id == vm.id, Vm.task_state == vm.task_state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]  # pragma: no cover - single writer
        log.warning("VM %s changed under operation %s", vm.id, job.operation_id)
    session.refresh(vm)
    history.record(
        session,
        who,
        object_type="vm",
        object_id=vm.id,
        action=f"vm.{job.kind}",
        params={
            "operation_id": job.operation_id,
            "from": previous,
            "to": vm.vm_state,
            "power_state": vm.power_state,
        },
        client_id=vm.client_id,
        outcome=outcome,
    )
    if job.kind == "create" and vm.vm_state == VmState.RUNNING.value:
        announce.vm_created(session, who, vm)  # access details, never a password
    return vm


def _finish(session: Session, job: work.Job, state: OperationState, error: str | None) -> None:
    values: dict[str, Any] = {"state": state.value, "error": error, "finished_at": utc_now()}
    if state is OperationState.SUCCEEDED and job.kind in COPIES:
        # A finished copy is whole, whatever the last throttled report said.
        values["progress_done"] = Operation.progress_total
    session.execute(
        update(Operation)
        .where(Operation.id == job.operation_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _who(session: Session, job: work.Job) -> Actor:
    operation = session.get(Operation, job.operation_id)
    return Actor(operation.requested_by if operation else None, f"operation {job.kind}")


def succeed(session: Session, job: work.Job, status: DomainStatus | None) -> None:
    """Settle a successful operation."""
    becomes, values = _outcome(job, status)
    vm = session.get(Vm, job.vm_id)
    if vm is not None and becomes is VmState.DELETED:
        ipam.release(session, vm)  # 003 §4: the address goes back to the pool
        values |= {"ssh_port": None, "ip_address": None}
    vm = _settle(session, job, becomes, values, "ok", _who(session, job))
    if vm is not None and (becomes in (VmState.RUNNING, VmState.DELETED)):
        # Up again (or gone on purpose): an outage still open ends now.
        outages.close_outage(session, vm, utc_now(), Actor.system(f"operation {job.kind}"))
    snapshots.on_success(session, job)
    backups.on_success(session, job)
    exports.on_success(session, job)
    _finish(session, job, OperationState.SUCCEEDED, None)


def fail(session: Session, job: work.Job, error: str) -> None:
    """Settle a failed operation. A failed create leaves an ``error`` VM without host,
    disk, seed, port or address; any other failure leaves the VM's state as it was."""
    vm = session.get(Vm, job.vm_id)
    values: dict[str, Any] = {}
    becomes: VmState | None = None
    if vm is not None and job.kind == "create":
        ipam.release(session, vm)
        values = {"host_id": None, "ssh_port": None, "ip_address": None}
        values["power_state"] = PowerState.UNKNOWN.value
        becomes = VmState.ERROR
    _settle(session, job, becomes, values, f"failed: {error}", _who(session, job))
    snapshots.on_failure(session, job)
    backups.on_failure(session, job)
    exports.on_failure(session, job)
    _finish(session, job, OperationState.FAILED, error)


# ---------------------------------------------------------------- crash recovery


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def abandoned(operation: Operation, runtime: ComputeRuntime) -> bool:
    """Whether a running operation's process is gone (or silent for too long)."""
    if operation.runner is None:
        return True
    host, _, pid_text = operation.runner.rpartition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        return pid != os.getpid() and not _pid_alive(pid)
    started = operation.started_at or operation.created_at
    return (utc_now() - started).total_seconds() > runtime.compute.operation_stale_s


def recover_operations(database: Database, runtime: ComputeRuntime) -> dict[str, str]:
    """Finish or roll back the operations a crash left running; queue again the queued
    ones (a second delivery is harmless: the claim is a compare-and-swap). Returns what
    became of each operation looked at."""
    results: dict[str, str] = {}
    with database.unit() as session:
        rows = session.execute(
            select(Operation).where(Operation.state.in_([Q, R])).order_by(Operation.created_at)
        ).scalars()
        candidates = [(op.id, op.state, abandoned(op, runtime), op.runner) for op in rows]
    for op_id, state, gone, runner in candidates:
        if state == Q:
            with database.unit() as session:
                runtime.dispatch(session, op_id)
            results[op_id] = "queued again"
        elif gone:
            results[op_id] = _recover(database, runtime, op_id, runner)
    return results


def _recover(database: Database, runtime: ComputeRuntime, op_id: str, runner: str | None) -> str:
    same_runner = Operation.runner.is_(None) if runner is None else Operation.runner == runner
    with database.unit() as session:
        taken = session.execute(
            update(Operation)
            .where(Operation.id == op_id, Operation.state == R, same_runner)
            .values(runner=runner_id())
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return "taken by another process"
        operation = session.get(Operation, op_id)
        assert operation is not None
        job = load_job(session, runtime, operation)
    try:
        return _recover_job(database, runtime, job)
    except HostUnreachable as exc:
        # Try again at the next start-up or recovery pass.
        with database.unit() as session:
            session.execute(update(Operation).where(Operation.id == op_id).values(runner=None))
        return f"host unreachable: {exc.detail}"


def _observe(runtime: ComputeRuntime, job: work.Job) -> DomainStatus | None:
    if job.host_uri is None:
        return None
    try:
        return runtime.hypervisor(job.host_uri).status(job.uuid)
    except DomainNotFound:
        return None


def _recover_job(database: Database, runtime: ComputeRuntime, job: work.Job) -> str:
    if job.kind == "delete":
        work.delete(runtime, job)  # idempotent: finish removing what is left
        with database.unit() as session:
            succeed(session, job, None)
        return "completed"
    if job.kind in COPIES:
        # A copy interrupted half-way is never counted as good: abort it, drop it.
        work.undo_copy(runtime, job)
        status = _observe(runtime, job)
        power = status.power_state if status is not None else PowerState.UNKNOWN
        with database.unit() as session:
            _settle(
                session,
                job,
                SETTLED[power],
                {"power_state": power.value},
                f"failed: {INTERRUPTED}",
                Actor.system("recovery"),
            )
            snapshots.on_failure(session, job)
            backups.on_failure(session, job)
            exports.on_failure(session, job)
            _finish(session, job, OperationState.FAILED, f"{INTERRUPTED}; nothing was kept")
        return "rolled back"
    if job.kind in ("reinstall", "snapshot_restore", "restore") and _observe(runtime, job):
        # Stop, fresh overlay or the snapshot's content (an atomic rename), start:
        # doing it again is harmless.
        return execute(database, runtime, job)
    status = _observe(runtime, job)
    if job.kind == "create":
        if status is not None:
            with database.unit() as session:
                succeed(session, job, status)
            return "completed"
        work.undo_create(runtime, job)
        with database.unit() as session:
            fail(session, job, f"{INTERRUPTED}; disk, seed and reservations removed")
        return "rolled back"
    if job.kind == "resize" and status is not None and _resized(job, status):
        with database.unit() as session:
            succeed(session, job, status)
        return "completed"
    if (
        job.kind == "suspend"
        and status is not None
        and status.power_state
        in (
            PowerState.PAUSED,
            PowerState.SHUTOFF,
        )
    ):
        with database.unit() as session:
            succeed(session, job, status)
        return "completed"
    if status is not None and status.power_state is GOALS.get(job.kind):
        with database.unit() as session:
            succeed(session, job, status)
        return "completed"
    # Otherwise the VM is as the hypervisor says; the client may ask again.
    power = status.power_state if status is not None else PowerState.UNKNOWN
    vm_state = SETTLED[power]
    if job.kind == "resume" and power is PowerState.PAUSED:
        vm_state = VmState.SUSPENDED  # the suspension was not lifted
    with database.unit() as session:
        _settle(
            session,
            job,
            vm_state,
            {"power_state": power.value},
            f"failed: {INTERRUPTED}",
            Actor.system("recovery"),
        )
        _finish(session, job, OperationState.FAILED, f"{INTERRUPTED}; the VM is {power.value}")
    return "failed"


def _resized(job: work.Job, status: DomainStatus) -> bool:
    from nuages.compute import disks

    if (status.vcpus, status.memory_mib) != (int(job.params["vcpus"]), int(job.params["ram_mib"])):
        return False
    try:
        return (
            disks.info(job.files.disk, "qcow2").virtual_size
            >= int(job.params["disk_gib"]) * disks.GIB
        )
    except NuagesError:
        return False
