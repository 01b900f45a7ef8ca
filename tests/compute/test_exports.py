"""VM disk exports (000 §18, 004 §17.2) through the API, on libvirt's test driver with
real disk files (a stopped VM; the live copy is tested on a real guest)."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nuages.compute import disks
from nuages.compute.services import exports
from nuages.kernel.clock import set_now, utc_now
from tests.compute.test_snapshots import Snaps, qemu_io
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


@pytest.fixture
def s(cw: ComputeWorld, client: TestClient) -> Snaps:
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return Snaps(cw)


def _export(client: TestClient, s: Snaps, vm_id: str, fmt: str) -> dict[str, str]:
    r = client.post(f"/api/v1/vms/{vm_id}/exports", json={"format": fmt}, headers=s.actor.headers)
    assert r.status_code == 202, r.text
    assert s.cw.run(r.json()["operation"]["id"]) == "succeeded"
    return {"id": r.json()["export"]["id"], "download": r.json()["download"]}


def test_000_s18_export_qcow2_with_sha256(client: TestClient, s: Snaps) -> None:
    """A qcow2 (standalone) export downloaded by the client: the bytes' SHA-256 is the
    one listed and sent in X-Checksum-SHA256; the content is the disk's. (A raw export
    of the offers' 20-40 GiB disks is that size: its conversion is tested below on a
    small disk.)"""
    vm_id = s.vm()
    qemu_io(s.disk(vm_id), "write -P 0xaa 0 64k")
    for fmt in ("qcow2",):
        made = _export(client, s, vm_id, fmt)
        r = client.get(made["download"], headers=s.actor.headers)
        assert r.status_code == 200
        digest = hashlib.sha256(r.content).hexdigest()
        [listed] = [
            e
            for e in client.get(f"/api/v1/vms/{vm_id}/exports", headers=s.actor.headers).json()
            if e["id"] == made["id"]
        ]
        assert listed["sha256"] == digest == r.headers["x-checksum-sha256"]
        assert listed["disk_format"] == fmt
        local = s.cw.tmp / f"out.{fmt}"
        local.write_bytes(r.content)
        if fmt == "raw":
            assert r.content[:65536] == b"\xaa" * 65536
        else:
            disks.check_standalone(local, "qcow2")
            out = subprocess.run(
                ["qemu-io", "-f", "qcow2", "-c", "read -P 0xaa 0 64k", str(local)],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0 and "verification failed" not in out.stdout


def test_000_s18_export_link_expires(client: TestClient, s: Snaps) -> None:
    """After the link's time (exports.LINK_DAYS) the download is 404 and the job
    deletes the file."""
    vm_id = s.vm()
    made = _export(client, s, vm_id, "qcow2")
    with s.cw.database.unit() as session:
        path = Path(exports.list_exports(session, s.owner, vm_id)[0].path)
    set_now(utc_now() + dt.timedelta(days=exports.LINK_DAYS, seconds=1))
    assert client.get(made["download"], headers=s.actor.headers).status_code == 404
    assert exports.expire(s.cw.database) == [made["id"]]
    assert not path.exists()


def test_export_of_a_vm_being_created_is_refused(client: TestClient, s: Snaps) -> None:
    """409, nothing written; a bad format is a 422 naming the field."""
    from nuages.compute import schemas
    from nuages.compute.services import vms

    body = schemas.VmCreate(contract_id=s.contract, flavour="avance-2-4", image="base", name="b")
    with s.cw.database.unit() as session:
        vm, _op = vms.create_vm(session, s.owner, s.cw.runtime, s.cw.offers, body)
        vm_id = vm.id
    r = client.post(f"/api/v1/vms/{vm_id}/exports", json={}, headers=s.actor.headers)
    assert r.status_code == 409
    r = client.post(
        f"/api/v1/vms/{vm_id}/exports", json={"format": "vmdk"}, headers=s.actor.headers
    )
    assert r.status_code == 422 and "format" in r.text
    assert client.get(f"/api/v1/vms/{vm_id}/exports", headers=s.actor.headers).json() == []


def test_raw_conversion_keeps_the_content(tmp_path: Path) -> None:
    """``disks.to_raw``: the raw image holds the qcow2's bytes, sparse elsewhere."""
    source = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "64M"], check=True)
    qemu_io(source, "write -P 0xaa 0 64k")
    raw = tmp_path / "d.raw"
    disks.to_raw(source, raw)
    data = raw.read_bytes()
    assert len(data) == 64 * 2**20 and data[:65536] == b"\xaa" * 65536
    assert data[65536:] == bytes(len(data) - 65536)
    assert raw.stat().st_blocks * 512 < 2**20  # sparse
