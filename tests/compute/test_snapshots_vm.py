"""Snapshots and backups of a real guest (``qemu:///system``, the tiny image) through
the API: live copies while the VM runs (libvirt's backup API), restores (stopped,
reverted, started again). One booted guest for the whole story, to keep CI short.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute.hypervisor import DomainNotFound
from nuages.compute.models import Vm
from nuages.compute.services import backups, images
from nuages.compute.tinyimage import TinyImage
from nuages.kernel.db import Database
from tests.compute.conftest import SSHKey, ssh_run, wait_for_ssh
from tests.compute.world import CLI, ComputeWorld, make_runtime
from tests.conftest import GUEST_ONCE
from tests.factories import Actor, World

pytestmark = pytest.mark.vm
SYSTEM = "qemu:///system"
OFFER = "axantis-cloud-vm-avance"  # 002 §3: snapshots (2, 7 days); §3.5: backups


class Api:
    def __init__(self, http: TestClient, owner: Actor) -> None:
        self.http = http
        self.h = owner.headers

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post(f"/api/v1{path}", json=body, headers=self.h)
        assert r.status_code == 202, r.text
        out: dict[str, Any] = r.json()
        return out

    def get(self, path: str) -> Any:
        r = self.http.get(f"/api/v1{path}", headers=self.h)
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, accepted: dict[str, Any], timeout_s: float = 240) -> dict[str, Any]:
        op_id = accepted["operation"]["id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            op: dict[str, Any] = self.get(f"/operations/{op_id}")
            if op["state"] in ("succeeded", "failed"):
                return op
            time.sleep(0.25)
        raise TimeoutError(f"operation {op_id} still running after {timeout_s:.0f} s")


@pytest.fixture
def api(
    client: TestClient,
    world: World,
    offers: Any,
    database: Database,
    tiny_image: TinyImage,
    guest_workdir: Path,
    system_hypervisor: Any,
) -> Iterator[tuple[Api, ComputeWorld, str]]:
    data_dir = guest_workdir / f"data-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(mode=0o755)
    runtime = make_runtime(data_dir, database, executor="thread", stop_timeout_s=60)
    cw = ComputeWorld(world, runtime, offers, data_dir)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    client_id = world.client()
    contract = cw.contract(client_id, OFFER)
    cw.host(uri=SYSTEM, site="axantis-dc1", country="FR", probe=True, name="this-machine")
    with database.unit() as session:
        images.register_tiny(session, CLI, tiny_image)
        backups.add_target(session, CLI, name="dc2", site="axantis-dc2", path=data_dir / "dc2")
    try:
        yield Api(client, world.user(Role.CLIENT_OWNER, client_id)), cw, contract
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


@GUEST_ONCE
def test_002_s3_snapshot_and_s3_5_backup_restored_on_a_real_guest(
    api: tuple[Api, ComputeWorld, str], ssh_key: SSHKey, tiny_image: TinyImage
) -> None:
    """Write a file, snapshot the running VM, change the file, restore: the first
    content is back, and the VM runs again (002 §3: created and restored). Then back
    it up running (002 §3.5, another site), destroy the file, restore the backup
    (000 §5): the file is back. Export the disk (000 §18), download it, register it as
    an image: a VM created from it boots with the file."""
    a, cw, contract = api
    r = a.http.post(
        "/api/v1/ssh-keys", json={"name": "t", "public_key": ssh_key.public_line}, headers=a.h
    )
    assert r.status_code == 201, r.text
    key_id = r.json()["id"]
    accepted = a.post(
        "/vms",
        {
            "contract_id": contract,
            "flavour": "avance-2-4",
            "image": "nuages-tiny",
            "name": "snappy",
            "ssh_key_ids": [key_id],
        },
    )
    vm_id = accepted["vm"]["id"]
    assert a.wait(accepted)["state"] == "succeeded"
    port = a.get(f"/vms/{vm_id}")["ssh_port"]
    wait_for_ssh(port, timeout_s=180)
    ssh_run(port, ssh_key, "echo first > /root/witness && sync")

    started = time.monotonic()
    taken = a.post(f"/vms/{vm_id}/snapshots", {"name": "before-change"})
    op = a.wait(taken)
    copy_s = time.monotonic() - started
    assert op["state"] == "succeeded", op["error"]
    # The guest ran on throughout: it answers, and its uptime did not restart.
    assert ssh_run(port, ssh_key, "cat /root/witness") == "first\n"
    [snap] = a.get(f"/vms/{vm_id}/snapshots")
    assert snap["state"] == "ready" and snap["was_running"] and snap["size_bytes"] > 0
    print(f"\nlive snapshot: {copy_s:.1f} s, {snap['size_bytes'] / 2**20:.1f} MiB on disk")
    assert (cw.runtime.vm_files(vm_id).snapshot(snap["id"])).exists()

    ssh_run(port, ssh_key, "echo second > /root/witness && sync")
    restored = a.post(f"/vms/{vm_id}/snapshots/{snap['id']}/restore")
    assert a.wait(restored)["state"] == "succeeded"
    vm = a.get(f"/vms/{vm_id}")
    assert (vm["vm_state"], vm["power_state"]) == ("running", "running")
    wait_for_ssh(port, timeout_s=180)
    assert ssh_run(port, ssh_key, "cat /root/witness") == "first\n"

    r = a.http.put(f"/api/v1/vms/{vm_id}/backup-plan", json={"option": "backup-7d"}, headers=a.h)
    assert r.status_code == 200, r.text
    started = time.monotonic()
    op = a.wait(a.post(f"/vms/{vm_id}/backups"))
    backup_s = time.monotonic() - started
    assert op["state"] == "succeeded", op["error"]
    listing = a.get(f"/vms/{vm_id}/backups")
    [backup] = listing["items"]
    print(f"live backup: {backup_s:.1f} s, {listing['volume_bytes'] / 2**20:.1f} MiB on dc2")
    ssh_run(port, ssh_key, "dd if=/dev/zero of=/root/witness bs=4k count=1 && sync")
    assert ssh_run(port, ssh_key, "cat /root/witness") != "first\n"
    restored = a.post(f"/vms/{vm_id}/restore", {"backup_id": backup["id"]})
    assert a.wait(restored)["state"] == "succeeded"
    assert a.get(f"/vms/{vm_id}")["vm_state"] == "running"
    wait_for_ssh(port, timeout_s=180)
    assert ssh_run(port, ssh_key, "cat /root/witness") == "first\n"

    exported = a.post(f"/vms/{vm_id}/exports", {"format": "qcow2"})
    assert a.wait(exported)["state"] == "succeeded"
    r = a.http.get(exported["download"], headers=a.h)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-checksum-sha256"]
    image_file = cw.runtime.settings.data_dir / "exported.qcow2"
    image_file.write_bytes(r.content)
    image_file.chmod(0o644)
    with cw.database.unit() as session:
        images.register_image(
            session,
            CLI,
            name="exported",
            os="nuages-tiny",
            boot_mode="direct-kernel",
            base=image_file,
            kernel=tiny_image.kernel,
            initrd=tiny_image.initrd,
            cmdline=tiny_image.cmdline,
        )
    again = a.post(
        "/vms",
        {
            "contract_id": contract,
            "flavour": "avance-2-4",
            "image": "exported",
            "name": "from-export",
            "ssh_key_ids": [key_id],
        },
    )
    assert a.wait(again)["state"] == "succeeded"
    port2 = a.get(f"/vms/{again['vm']['id']}")["ssh_port"]
    wait_for_ssh(port2, timeout_s=180)
    assert ssh_run(port2, ssh_key, "cat /root/witness") == "first\n"
