"""End to end on the machine's real QEMU (``qemu:///system``): the tiny guest through
the API, SSH with the key given to the API, reboot, reinstall, delete; a QEMU process
killed under a VM; a worker killed in the middle of a create.

Network: user networking with ``restrict=on``; SSH only to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute.hypervisor import DomainNotFound, PowerState
from nuages.compute.models import Operation, PortLease, Vm, VmOutage
from nuages.compute.services import images, operations, reconcile
from nuages.compute.tinyimage import TinyImage
from nuages.kernel.db import Database
from tests.compute.conftest import SSHKey, ssh_banner, ssh_run, wait_for_ssh
from tests.compute.world import CLI, ComputeWorld, make_runtime
from tests.conftest import GUEST_ONCE
from tests.factories import Actor, World

pytestmark = pytest.mark.vm
SYSTEM = "qemu:///system"


@dataclass
class E2E:
    """The app, its runtime on the real host, a client with a formed contract."""

    api: TestClient
    cw: ComputeWorld
    owner: Actor
    contract: str

    def wait(self, accepted: dict[str, Any], timeout_s: float = 180) -> dict[str, Any]:
        """Poll the operation of a 202 until it is done."""
        op_id = accepted["operation"]["id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            op: dict[str, Any] = self.api.get(
                f"/api/v1/operations/{op_id}", headers=self.owner.headers
            ).json()
            if op["state"] in ("succeeded", "failed"):
                return op
            time.sleep(0.25)
        raise TimeoutError(f"operation {op_id} still running after {timeout_s:.0f} s")

    def vm(self, vm_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.api.get(
            f"/api/v1/vms/{vm_id}", headers=self.owner.headers
        ).json()
        return out

    def create(self, name: str, key_ids: list[str]) -> dict[str, Any]:
        r = self.api.post(
            "/api/v1/vms",
            json={
                "contract_id": self.contract,
                "flavour": "vm-s",
                "image": "nuages-tiny",
                "name": name,
                "ssh_key_ids": key_ids,
            },
            headers=self.owner.headers,
        )
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def e2e(
    client: TestClient,
    world: World,
    offers: Any,
    database: Database,
    tiny_image: TinyImage,
    guest_workdir: Path,
    system_hypervisor: Any,
) -> Iterator[E2E]:
    """VM files under a directory QEMU's user can traverse; operations run in threads
    after the commit, as ``nuages up`` does without a worker."""
    data_dir = guest_workdir / f"data-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(mode=0o755)
    runtime = make_runtime(data_dir, database, executor="thread", stop_timeout_s=60)
    cw = ComputeWorld(world, runtime, offers, data_dir)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    client_id = world.client()
    contract = cw.contract(client_id)
    cw.host(uri=SYSTEM, site="waterloo-1", country="BE", probe=True, name="this-machine")
    with database.unit() as session:
        images.register_tiny(session, CLI, tiny_image)
    try:
        yield E2E(client, cw, world.user(Role.CLIENT_OWNER, client_id), contract)
    finally:
        runtime.wait_idle()
        with database.unit() as session:
            ids = list(session.execute(select(Vm.id)).scalars())
        hv = runtime.hypervisor(SYSTEM)
        for vm_id in ids:
            try:
                hv.undefine(uuid.UUID(vm_id))
            except DomainNotFound:
                pass
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def boot_id(port: int, key: SSHKey) -> str:
    return ssh_run(port, key, "cat /proc/sys/kernel/random/boot_id").strip()


def wait_new_boot(port: int, key: SSHKey, old: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ssh_banner(port):
            try:
                if boot_id(port, key) != old:
                    return
            except Exception:  # noqa: S110 - the guest may go down mid-session
                pass
        time.sleep(0.5)
    raise TimeoutError("the guest did not come back from its reboot")


@GUEST_ONCE
def test_tiny_guest_through_the_api(e2e: E2E, ssh_key: SSHKey) -> None:
    """Create with an SSH key resource, SSH in, write a file; reboot: still there;
    reinstall (000 §5 original state): gone; delete: disk and port released."""
    h = e2e.owner.headers
    r = e2e.api.post(
        "/api/v1/ssh-keys", json={"name": "t", "public_key": ssh_key.public_line}, headers=h
    )
    assert r.status_code == 201, r.text
    accepted = e2e.create("tiny-1", [r.json()["id"]])
    vm_id = accepted["vm"]["id"]
    assert e2e.wait(accepted)["state"] == "succeeded"
    vm = e2e.vm(vm_id)
    assert (vm["vm_state"], vm["power_state"]) == ("running", "running")
    port = vm["ssh_port"]
    wait_for_ssh(port, timeout_s=180)
    assert ssh_run(port, ssh_key, "hostname").strip() == "tiny-1"
    assert ssh_run(port, ssh_key, "echo hello") == "hello\n"
    ssh_run(port, ssh_key, "echo persisted > /root/witness")
    first = boot_id(port, ssh_key)

    r = e2e.api.post(f"/api/v1/vms/{vm_id}/reboot", headers=h)
    assert e2e.wait(r.json())["state"] == "succeeded"
    wait_new_boot(port, ssh_key, first)
    assert ssh_run(port, ssh_key, "cat /root/witness") == "persisted\n"

    r = e2e.api.post(f"/api/v1/vms/{vm_id}/reinstall", headers=h)
    assert e2e.wait(r.json())["state"] == "succeeded"
    assert e2e.vm(vm_id)["vm_state"] == "running"
    wait_for_ssh(port, timeout_s=180)
    assert ssh_run(port, ssh_key, "cat /root/witness 2>/dev/null || echo gone") == "gone\n"

    disk = e2e.cw.runtime.vm_files(vm_id).disk
    assert disk.exists()
    r = e2e.api.delete(f"/api/v1/vms/{vm_id}", headers=h)
    assert e2e.wait(r.json())["state"] == "succeeded"
    assert not disk.exists() and not disk.parent.exists()
    assert (e2e.vm(vm_id)["vm_state"], e2e.vm(vm_id)["ssh_port"]) == ("deleted", None)
    with pytest.raises(DomainNotFound):
        e2e.cw.runtime.hypervisor(SYSTEM).status(uuid.UUID(vm_id))
    with e2e.cw.database.unit() as session:
        assert session.execute(select(PortLease)).first() is None
    assert not ssh_banner(port)


def qemu_pid(vm_id: str) -> int:
    pid = int(Path(f"/run/libvirt/qemu/nuages-{vm_id}.pid").read_text())
    assert f"nuages-{vm_id}" in Path(f"/proc/{pid}/cmdline").read_text()
    return pid


def test_killed_qemu_is_marked_with_an_outage(e2e: E2E) -> None:
    """kill -9 of a VM's QEMU: within two reconciliation passes the VM is in error and
    an outage is open (cause 'crashed'); started again, the outage is closed."""
    accepted = e2e.create("victim", [])
    vm_id = accepted["vm"]["id"]
    assert e2e.wait(accepted)["state"] == "succeeded"
    cw = e2e.cw
    reconcile.run_pass(cw.database, cw.runtime)
    os.kill(qemu_pid(vm_id), signal.SIGKILL)

    for _ in range(2):
        time.sleep(1)  # a short interval between passes
        reconcile.run_pass(cw.database, cw.runtime)
        if e2e.vm(vm_id)["vm_state"] == "error":
            break
    vm = e2e.vm(vm_id)
    assert (vm["vm_state"], vm["power_state"]) == ("error", PowerState.CRASHED.value)
    with cw.database.unit() as session:
        [outage] = session.execute(select(VmOutage).where(VmOutage.vm_id == vm_id)).scalars()
        assert (outage.cause, outage.end) == ("crashed", None)

    r = e2e.api.post(f"/api/v1/vms/{vm_id}/start", headers=e2e.owner.headers)
    assert r.status_code == 202, r.text
    assert e2e.wait(r.json())["state"] == "succeeded"
    assert e2e.vm(vm_id)["vm_state"] == "running"
    with cw.database.unit() as session:
        [outage] = session.execute(select(VmOutage).where(VmOutage.vm_id == vm_id)).scalars()
        assert outage.end is not None and outage.end > outage.start


WORKER = """
import sys
from nuages.compute.runtime import ComputeRuntime, ComputeSettings
from nuages.compute.services.operations import run_operation
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

url, data_dir, op_id = sys.argv[1:4]
database = Database(url)
runtime = ComputeRuntime(
    Settings(data_dir=data_dir, database_url=url), ComputeSettings(executor="manual"), database
)
print(run_operation(database, runtime, op_id), flush=True)
"""


def test_worker_killed_during_create_leaks_nothing(e2e: E2E) -> None:
    """kill -9 of the process running a create job once the overlay exists; at start-up
    ``recover_operations`` completes it (domain there) or rolls it back: then no
    domain, no disk, no seed, no port lease is left."""
    cw = e2e.cw
    cw.runtime.compute.executor = "manual"
    accepted = e2e.create("half", [])
    vm_id, op_id = accepted["vm"]["id"], accepted["operation"]["id"]
    files = cw.runtime.vm_files(vm_id)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, cw.database.url, str(cw.runtime.settings.data_dir), op_id],
        stdout=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not files.disk.exists() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    with cw.database.unit() as session:
        op = session.get(Operation, op_id)
        assert op is not None and op.state == "running"  # left behind by the dead worker

    outcome = operations.recover_operations(cw.database, cw.runtime)[op_id]
    print(f"\ncreate killed after the overlay: {outcome}")
    hv = cw.runtime.hypervisor(SYSTEM)
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        op = session.get(Operation, op_id)
        lease = session.execute(select(PortLease).where(PortLease.vm_id == vm_id)).first()
        assert vm is not None and op is not None
        state = (vm.vm_state, vm.task_state, op.state)
    if outcome == "rolled back":
        assert state == ("error", None, "failed")
        assert lease is None
        assert not files.directory.exists()
        with pytest.raises(DomainNotFound):
            hv.status(uuid.UUID(vm_id))
    else:
        assert outcome == "completed"
        assert state == ("running", None, "succeeded")
        assert lease is not None and files.disk.exists()
        assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.RUNNING
    # Either way the VM can be deleted and then nothing of it is left.
    r = e2e.api.delete(f"/api/v1/vms/{vm_id}", headers=e2e.owner.headers)
    assert r.status_code == 202, r.text
    assert operations.run_operation(cw.database, cw.runtime, r.json()["operation"]["id"]) == (
        "succeeded"
    )
    assert not files.directory.exists()
    with pytest.raises(DomainNotFound):
        hv.status(uuid.UUID(vm_id))
    with cw.database.unit() as session:
        assert session.execute(select(PortLease)).first() is None
