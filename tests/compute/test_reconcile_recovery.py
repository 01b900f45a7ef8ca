"""Crash recovery on simulated hosts: operations a dead worker left ``running`` are
completed when their effect is there, rolled back when not; nothing leaks.

A crashed worker is reproduced exactly: the operation row says ``running`` under the
pid of a process that has exited, and the real job steps ran up to the crash point.
(The same with a real ``kill -9`` of a worker process on real QEMU is in
``test_vm_e2e.py``.)
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import uuid

import pytest
from sqlalchemy import select, update

from nuages.accounts.principal import Principal
from nuages.compute import disks, schemas
from nuages.compute.hypervisor import DomainNotFound, PowerState
from nuages.compute.models import Host, Operation, PortLease, Vm
from nuages.compute.services import operations, vms, work
from nuages.compute.states import Action
from nuages.kernel.clock import utc_now
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


def dead_runner() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}"


def crashed(cw: ComputeWorld, op_id: str, runner: str | None = None, **values: object) -> work.Job:
    """Leave the operation as a worker that died while running it does."""
    with cw.database.unit() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(
                **({"state": "running", "started_at": utc_now()} | values),
                runner=runner or dead_runner(),
            )
        )
        op = session.get(Operation, op_id)
        assert op is not None
        return operations.load_job(session, cw.runtime, op)


@pytest.fixture
def asked(cw: ComputeWorld) -> tuple[str, str, Principal]:
    """A VM asked for (create queued) on a simulated host."""
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    owner = cw.owner(client_id)[1]
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="web-1"),
        )
        return vm.id, op.id, owner


def snapshot(cw: ComputeWorld, vm_id: str, op_id: str) -> tuple[str, str | None, str, bool]:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        op = session.get(Operation, op_id)
        assert vm is not None and op is not None
        leased = session.execute(select(PortLease).where(PortLease.vm_id == vm_id)).first()
        return vm.vm_state, vm.task_state, op.state, leased is not None


def test_create_crashed_after_the_overlay_is_rolled_back(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    vm_id, op_id, _owner = asked
    job = crashed(cw, op_id)
    files = cw.runtime.make_vm_dir(vm_id)
    disks.create_overlay(job.image.base, files.disk, size_gib=job.disk_gib)  # then: kill -9

    assert operations.recover_operations(cw.database, cw.runtime) == {op_id: "rolled back"}
    assert snapshot(cw, vm_id, op_id) == ("error", None, "failed", False)
    assert not files.directory.exists()
    with pytest.raises(DomainNotFound):
        cw.runtime.hypervisor(job.host_uri or "").status(job.uuid)
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        op = session.get(Operation, op_id)
        assert vm is not None and op is not None
        assert (vm.host_id, vm.ssh_port) == (None, None)
        assert "interrupted by a crash" in (op.error or "")
    # A second recovery finds nothing to do.
    assert operations.recover_operations(cw.database, cw.runtime) == {}


def test_create_crashed_after_the_domain_started_is_completed(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    vm_id, op_id, _owner = asked
    job = crashed(cw, op_id)
    work.create(cw.runtime, job)  # every host-side step done; then: kill -9

    assert operations.recover_operations(cw.database, cw.runtime) == {op_id: "completed"}
    assert snapshot(cw, vm_id, op_id) == ("running", None, "succeeded", True)
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None and vm.activated_at is not None
    assert cw.runtime.vm_files(vm_id).disk.exists()


def test_interrupted_delete_is_finished(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    vm_id, op_id, owner = asked
    assert cw.run(op_id) == "succeeded"
    with cw.database.unit() as session:
        _vm, op = vms.request(session, owner, cw.runtime, vm_id, Action.DELETE)
        delete_id = op.id
    job = crashed(cw, delete_id)
    cw.runtime.hypervisor(job.host_uri or "").undefine(job.uuid)  # then: kill -9

    assert operations.recover_operations(cw.database, cw.runtime) == {delete_id: "completed"}
    assert snapshot(cw, vm_id, delete_id) == ("deleted", None, "succeeded", False)
    assert not cw.runtime.vm_files(vm_id).directory.exists()


def test_interrupted_power_actions_follow_the_hypervisor(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    """A start whose domain is running is done; a stop that never reached the host
    failed, and the VM is what the hypervisor says (running)."""
    vm_id, op_id, owner = asked
    assert cw.run(op_id) == "succeeded"
    with cw.database.unit() as session:
        uri = session.execute(select(Host.uri)).scalar_one()
    hv = cw.runtime.hypervisor(uri)
    with cw.database.unit() as session:
        _vm, op = vms.request(session, owner, cw.runtime, vm_id, Action.STOP)
        stop_id = op.id
    crashed(cw, stop_id)  # died before calling the host
    assert operations.recover_operations(cw.database, cw.runtime) == {stop_id: "failed"}
    assert snapshot(cw, vm_id, stop_id) == ("running", None, "failed", True)

    hv.destroy(uuid.UUID(vm_id))
    with cw.database.unit() as session:
        session.execute(update(Vm).where(Vm.id == vm_id).values(vm_state="stopped"))
        _vm, op = vms.request(session, owner, cw.runtime, vm_id, Action.START)
        start_id = op.id
    hv.start(uuid.UUID(vm_id))  # the host did it; then: kill -9
    crashed(cw, start_id)
    assert operations.recover_operations(cw.database, cw.runtime) == {start_id: "completed"}
    assert snapshot(cw, vm_id, start_id) == ("running", None, "succeeded", True)
    assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.RUNNING


def test_live_and_recent_runners_are_left_alone(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    """An operation this very process runs, or another machine started a minute ago,
    is not touched; one another machine started hours ago is taken over."""
    vm_id, op_id, _owner = asked
    crashed(cw, op_id, runner=f"{socket.gethostname()}:{os.getpid()}")
    assert operations.recover_operations(cw.database, cw.runtime) == {}
    crashed(cw, op_id, runner="another-machine:1234")
    assert operations.recover_operations(cw.database, cw.runtime) == {}
    crashed(
        cw,
        op_id,
        runner="another-machine:1234",
        started_at=utc_now() - dt.timedelta(hours=2),
    )
    assert operations.recover_operations(cw.database, cw.runtime) == {op_id: "rolled back"}
    assert snapshot(cw, vm_id, op_id) == ("error", None, "failed", False)


def test_queued_operations_are_dispatched_again_and_run_once(
    cw: ComputeWorld, asked: tuple[str, str, Principal]
) -> None:
    vm_id, op_id, _owner = asked
    cw.runtime.compute.executor = "thread"
    assert operations.recover_operations(cw.database, cw.runtime) == {op_id: "queued again"}
    cw.runtime.wait_idle()
    assert cw.run(op_id) == "skipped"  # the first delivery ran it; this one does nothing
    assert snapshot(cw, vm_id, op_id) == ("running", None, "succeeded", True)
