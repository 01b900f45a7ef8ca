"""000 §11.2 with a real guest: a negative balance pauses a running QEMU VM (its SSH
stops answering, disk and forwarded port kept) and a top-up resumes it.

The VM is created, suspended and resumed through compute's own services and operations
on ``qemu:///system`` with the tiny guest; its only network is QEMU user networking
with ``restrict=on`` and SSH forwarded to 127.0.0.1 (compute's domain XML)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import metering
from nuages.compute import schemas as compute_schemas
from nuages.compute.hypervisor import PowerState
from nuages.compute.models import Operation, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import hosts, images, operations
from nuages.compute.services import vms as compute_vms
from nuages.compute.states import Action
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from tests.billing.factories import funded, transfer
from tests.compute.world import CLI, holds_inline, make_runtime
from tests.conftest import GUEST_ONCE
from tests.factories import World

pytestmark = pytest.mark.vm
URI = "qemu:///system"


def _banner(port: int, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _wait_banner(port: int, up: bool, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _banner(port) is up:
            return
        time.sleep(0.5)
    raise AssertionError(f"SSH on 127.0.0.1:{port} still {'down' if up else 'up'}")


@pytest.fixture
def qemu_runtime(database: Database, client: TestClient) -> Iterator[ComputeRuntime]:
    """A runtime on the real libvirt, files in a directory QEMU's user can traverse."""
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd unreachable at {URI}: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="nuages-billing-vm-"))
    folder.chmod(0o755)
    runtime = make_runtime(folder / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    try:
        yield runtime
    finally:
        runtime.close()
        shutil.rmtree(folder, ignore_errors=True)


def _run_queued(runtime: ComputeRuntime, database: Database) -> None:
    with database.unit() as session:
        queued = session.execute(select(Operation.id).where(Operation.state == "queued"))
        ids = list(queued.scalars())
    for operation_id in ids:
        assert operations.run_operation(database, runtime, operation_id) == "succeeded"


@GUEST_ONCE
def test_000_s11_2_real_guest_paused_on_negative_balance_and_resumed_by_top_up(
    client: TestClient,
    world: World,
    database: Database,
    offers: OfferRegistry,
    qemu_runtime: ComputeRuntime,
) -> None:
    """A running tiny guest answers SSH; the hour that takes the balance below zero
    gets it paused (libvirt: paused, SSH silent, port still leased); a 5.00 transfer
    resumes it and SSH answers again."""
    runtime = qemu_runtime
    start = utc_now().replace(microsecond=0)
    set_now(start)
    f = funded(world, client)
    facts = hosts.inspect(runtime, URI, probe=False)
    with database.unit() as session:
        hosts.register(
            session, CLI, runtime, uri=URI, site="waterloo-1", country="BE", facts=facts,
            name=f"billing-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip
    tiny = images.build_tiny(runtime)
    with database.unit() as session:
        image = images.register_tiny(session, CLI, tiny, name=f"tiny-{uuid.uuid4().hex[:6]}")
        owner = compute_schemas.VmCreate(
            contract_id=f.contract_id, flavour="vm-s", image=image.id, name="billed"
        )
    from nuages.accounts import service as accounts

    with database.unit() as session:
        principal = accounts.authenticate(session, f.owner.token)
        vm, operation = compute_vms.create_vm(session, principal, runtime, offers, owner)
    vm_id = vm.id
    try:
        assert operations.run_operation(database, runtime, operation.id) == "succeeded"
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            assert row is not None and row.ssh_port is not None
            port = row.ssh_port
        _wait_banner(port, up=True)
        r = client.post(
            f"/api/v1/billing/contracts/{f.contract_id}/adjustments",
            json={"kind": "fee", "amount": "100.00", "reason": "test: spend it"},
            headers=f.admin.headers,
        )
        assert r.status_code == 201
        set_now(start + dt.timedelta(hours=2))  # metering takes no time after the present
        with holds_inline(runtime):
            report = metering.run(database.unit, start + dt.timedelta(hours=2), registry=offers)
        assert report.suspended == [f.contract_id]
        _run_queued(runtime, database)
        hv = runtime.hypervisor(URI)
        assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.PAUSED
        _wait_banner(port, up=False, timeout_s=30)
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            assert row is not None and row.vm_state == "suspended" and row.ssh_port == port

        set_now(start + dt.timedelta(hours=2, minutes=5))
        with holds_inline(runtime):
            assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
        _run_queued(runtime, database)
        assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.RUNNING
        _wait_banner(port, up=True, timeout_s=60)
    finally:
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            busy = row is None or row.task_state is not None or row.vm_state == "deleted"
        if not busy:
            with database.unit() as session:
                _vm, op = compute_vms.request(session, CLI, runtime, vm_id, Action.DELETE)
            operations.run_operation(database, runtime, op.id)
