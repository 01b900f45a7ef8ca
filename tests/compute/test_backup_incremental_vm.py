"""Incremental backups of a real guest (``qemu:///system``, the tiny image) through the
API (issue 13): a full backup, data written in the guest, an incremental one (libvirt
checkpoint, QEMU dirty bitmap) holding only the change on the full one's file, a
restore to the incremental's state (the chain flattened into the VM's disk), the next
backup full again, and the increment restored as a new VM reachable with the owner's
key. One booted guest for the story (plus the restored copy), to keep CI short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nuages.compute import disks, qemu_img
from tests.compute.conftest import SSHKey, ssh_run, wait_for_ssh
from tests.compute.test_snapshots_vm import Api, api  # noqa: F401
from tests.compute.world import ComputeWorld
from tests.conftest import GUEST_ONCE

pytestmark = pytest.mark.vm
MIB = 2**20


@GUEST_ONCE
def test_issue_13_incremental_backup_restored_on_a_real_guest(
    api: tuple[Api, ComputeWorld, str],  # noqa: F811
    ssh_key: SSHKey,
) -> None:
    """002 §3.5 / issue 13 "incremental where the disk allows it", 000 §5 restore:
    full backup; 8 MiB written in the guest; the next backup is ``incremental`` on the
    full one, a qcow2 backed by its file, ``qemu-img check`` clean, far smaller; the
    data destroyed, the VM restored to the increment: the data is back (md5) and the
    VM's disk depends on no backup file. After that restore the next backup is full
    (the disk's bitmaps went with the old disk). Restored as a new VM without naming
    keys, the copy answers SSH with the owner's key and holds the data."""
    a, cw, contract = api
    r = a.http.post(
        "/api/v1/ssh-keys", json={"name": "t", "public_key": ssh_key.public_line}, headers=a.h
    )
    assert r.status_code == 201, r.text
    body = {
        "contract_id": contract,
        "flavour": "avance-2-4",
        "image": "nuages-tiny",
        "name": "incr",
        "ssh_key_ids": [r.json()["id"]],
    }
    accepted = a.post("/vms", body)
    vm_id = accepted["vm"]["id"]
    assert a.wait(accepted)["state"] == "succeeded"
    port = a.get(f"/vms/{vm_id}")["ssh_port"]
    wait_for_ssh(port, timeout_s=180)
    ssh_run(port, ssh_key, "echo one > /root/a && sync")
    r = a.http.put(f"/api/v1/vms/{vm_id}/backup-plan", json={"option": "backup-7d"}, headers=a.h)
    assert r.status_code == 200, r.text

    def backup() -> dict[str, Any]:
        op = a.wait(a.post(f"/vms/{vm_id}/backups"))
        assert op["state"] == "succeeded", op["error"]
        found: dict[str, Any] = a.get(f"/vms/{vm_id}/backups")["items"][0]
        return found

    full = backup()
    assert full["kind"] == "full" and full["parent_id"] is None
    ssh_run(
        port,
        ssh_key,
        "echo two > /root/a && dd if=/dev/urandom of=/root/b bs=1M count=8 2>/dev/null && sync",
    )
    md5 = ssh_run(port, ssh_key, "md5sum /root/b").split()[0]
    inc = backup()
    assert inc["kind"] == "incremental" and inc["parent_id"] == full["id"]
    rows = {b["id"]: b for b in a.get(f"/vms/{vm_id}/backups")["items"]}
    inc_path = Path(cw.runtime.settings.data_dir / "dc2")
    [inc_file] = list(inc_path.rglob(f"{inc['id']}.qcow2"))
    [full_file] = list(inc_path.rglob(f"{full['id']}.qcow2"))
    found = disks.check_increment(inc_file, full_file)
    assert found.backing_file is not None and found.backing_file.name == full_file.name
    qemu_img.run("check", "-q", "-f", "qcow2", str(inc_file))
    assert inc["checksum"] == f"blake3:{disks.blake3_of(inc_file)}"
    assert 8 * MIB <= rows[inc["id"]]["size_bytes"] < rows[full["id"]]["size_bytes"] / 2
    print(
        f"\nfull {rows[full['id']]['size_bytes'] / MIB:.1f} MiB, "
        f"incremental {rows[inc['id']]['size_bytes'] / MIB:.1f} MiB"
    )

    ssh_run(port, ssh_key, "rm /root/b && echo three > /root/a && sync")
    restored = a.post(f"/vms/{vm_id}/restore", {"backup_id": inc["id"]})
    assert a.wait(restored)["state"] == "succeeded"
    wait_for_ssh(port, timeout_s=180)
    assert ssh_run(port, ssh_key, "cat /root/a") == "two\n"
    assert ssh_run(port, ssh_key, "md5sum /root/b").split()[0] == md5
    disk = disks.info(cw.runtime.vm_files(vm_id).disk, "qcow2")
    assert disk.backing_file is not None and "dc2" not in str(disk.backing_file)

    after = backup()
    assert after["kind"] == "full" and after["parent_id"] is None

    copy = a.post(
        f"/vms/{vm_id}/restore", {"backup_id": inc["id"], "as_new_vm": True, "name": "incr-copy"}
    )
    assert a.wait(copy)["state"] == "succeeded"
    port2 = a.get(f"/vms/{copy['vm']['id']}")["ssh_port"]
    wait_for_ssh(port2, timeout_s=180)
    assert ssh_run(port2, ssh_key, "cat /root/a") == "two\n"
    assert ssh_run(port2, ssh_key, "md5sum /root/b").split()[0] == md5
