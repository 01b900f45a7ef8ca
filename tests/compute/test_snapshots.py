"""VM snapshots (002 §3) through the services, on hosts simulated by libvirt's test
driver: the same driver code as on a real host, real disk files (``qemu-img``,
``qemu-io``), SQLite and PostgreSQL. The test driver has no backup API, so live copies
(a running VM) are tested on a real guest (``test_snapshots_vm.py``); here the VMs are
stopped, and a running one shows a failed copy leaves nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import Operation, Vm, VmSnapshot
from nuages.compute.services import operations, snapshots, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, NotFound
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401

OFFER = "axantis-cloud-vm-avance"  # [snapshots] max_per_vm = 2, retention 7 days
PARIS = dt.timezone(dt.timedelta(hours=1))  # Europe/Paris in December (CET)


def qemu_io(disk: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", command, str(disk)], capture_output=True, text=True
    )


def has_pattern(disk: Path, byte: int) -> bool:
    """Whether the first 64 KiB of the disk hold ``byte`` everywhere (qemu-io exits 1
    and says so on a mismatch)."""
    done = qemu_io(disk, f"read -P {byte} 0 64k")
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


class Snaps:
    """A client with a formed contract on an offer with snapshots, a host, an image."""

    def __init__(self, cw: ComputeWorld, offer: str = OFFER) -> None:
        self.cw = cw
        self.client_id = cw.world.client()
        self.contract = cw.contract(self.client_id, offer)
        cw.host(site="axantis-dc1", country="FR")
        cw.image()
        self.actor, self.owner = cw.owner(self.client_id)

    def vm(self, name: str = "web-1", *, stopped: bool = True) -> str:
        body = schemas.VmCreate(
            contract_id=self.contract, flavour="avance-2-4", image="base", name=name
        )
        with self.cw.database.unit() as session:
            vm, op = vms.create_vm(session, self.owner, self.cw.runtime, self.cw.offers, body)
            vm_id, op_id = vm.id, op.id
        assert self.cw.run(op_id) == "succeeded"
        if stopped:
            assert self.act(vm_id, Action.STOP) == "succeeded"
        return vm_id

    def act(self, vm_id: str, action: Action) -> str:
        with self.cw.database.unit() as session:
            _vm, op = vms.request(session, self.owner, self.cw.runtime, vm_id, action)
            op_id = op.id
        return self.cw.run(op_id)

    def take(self, vm_id: str, name: str | None = None, *, run: bool = True) -> tuple[str, str]:
        with self.cw.database.unit() as session:
            snap, _vm, op = snapshots.create_snapshot(
                session,
                self.owner,
                self.cw.runtime,
                self.cw.offers,
                vm_id,
                schemas.SnapshotCreate(name=name),
            )
            snap_id, op_id = snap.id, op.id
        if run:
            self.cw.run(op_id)
        return snap_id, op_id

    def restore(self, vm_id: str, snap_id: str, who: Principal | None = None) -> str:
        with self.cw.database.unit() as session:
            _s, _vm, op = snapshots.restore_snapshot(
                session, who or self.owner, self.cw.runtime, vm_id, snap_id
            )
            op_id = op.id
        return self.cw.run(op_id)

    def row(self, snap_id: str) -> VmSnapshot:
        with self.cw.database.unit() as session:
            snap = session.get(VmSnapshot, snap_id)
            assert snap is not None
            return snap

    def listed(self, vm_id: str) -> list[VmSnapshot]:
        with self.cw.database.unit() as session:
            return snapshots.list_snapshots(session, self.owner, vm_id)

    def disk(self, vm_id: str) -> Path:
        return self.cw.runtime.vm_files(vm_id).disk

    def file(self, vm_id: str, snap_id: str) -> Path:
        return self.cw.runtime.vm_files(vm_id).snapshot(snap_id)

    def counts(self) -> tuple[int, int]:
        with self.cw.database.unit() as session:
            return (
                session.execute(select(func.count()).select_from(VmSnapshot)).scalar_one(),
                session.execute(select(func.count()).select_from(Operation)).scalar_one(),
            )


@pytest.fixture
def s(cw: ComputeWorld) -> Snaps:
    return Snaps(cw)


def test_002_s3_snapshot_then_restore_brings_the_disk_back(s: Snaps) -> None:
    """Write A, snapshot, write B, restore: A is back; the snapshot is listed with its
    size, checksum and expiry, stays after the restore, and both acts are in the history."""
    vm_id = s.vm()
    disk = s.disk(vm_id)
    qemu_io(disk, "write -P 0xaa 0 64k")
    snap_id, op_id = s.take(vm_id, "before")
    snap = s.row(snap_id)
    assert snap.state == "ready" and snap.operation_id == op_id
    path = s.file(vm_id, snap_id)
    assert path.exists() and not snap.was_running
    assert snap.size_bytes == path.stat().st_blocks * 512 and snap.size_bytes > 64 * 1024
    assert snap.virtual_bytes == 80 * 1024**3  # the flavour's 80 GiB disk
    assert snap.sha256 and len(snap.sha256) == 64
    qemu_io(disk, "write -P 0xbb 0 64k")
    assert has_pattern(disk, 0xBB) and not has_pattern(disk, 0xAA)

    assert s.restore(vm_id, snap_id) == "succeeded"
    assert has_pattern(disk, 0xAA)
    with s.cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None and (vm.vm_state, vm.task_state) == ("stopped", None)
        actions = list(
            session.execute(
                select(HistoryEntry.action, HistoryEntry.outcome)
                .where(HistoryEntry.object_id == vm_id)
                .order_by(HistoryEntry.seq)
            )
        )
    assert ("vm.snapshot", "ok") in actions and ("vm.snapshot_restore", "ok") in actions
    [listed] = s.listed(vm_id)
    assert listed.id == snap_id and listed.expires_at > listed.created_at


def test_002_s3_restore_starts_a_running_vm_again(s: Snaps) -> None:
    """A VM running when the restore is asked for is stopped, reverted and running
    again (002 §3 "restored"); the test driver runs the same driver calls."""
    vm_id = s.vm()
    snap_id, _ = s.take(vm_id)
    assert s.act(vm_id, Action.START) == "succeeded"
    assert s.restore(vm_id, snap_id) == "succeeded"
    with s.cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None and (vm.vm_state, vm.power_state) == ("running", "running")


def test_002_s3_third_snapshot_is_refused(s: Snaps) -> None:
    """002 §3: at most 2 snapshots per VM. The third is refused with 409 naming the
    limit and the clause, nothing written; deleting one makes room again."""
    vm_id = s.vm()
    first, _ = s.take(vm_id)
    s.take(vm_id)
    before = s.counts()
    with pytest.raises(Conflict, match=r"at most 2 per VM \(002 §3\)"):
        s.take(vm_id)
    assert s.counts() == before
    with s.cw.database.unit() as session:
        snapshots.delete_snapshot(session, s.owner, s.cw.runtime, vm_id, first)
    assert not s.file(vm_id, first).exists()
    s.take(vm_id)
    assert len(s.listed(vm_id)) == 2


def test_002_s3_snapshot_expires_after_7_calendar_days(s: Snaps) -> None:
    """002 §3 "kept 7 days", calendar days in the contract's zone (Europe/Paris): taken
    on 1 Dec 10:00 local, days 2…8 Dec count, so it goes at 9 Dec 00:00 local
    (8 Dec 23:00 UTC), not before; the expiry job removes exactly that one."""
    taken = dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    set_now(taken)
    vm_id = s.vm()
    old, _ = s.take(vm_id)
    set_now(taken + dt.timedelta(days=3))
    young, _ = s.take(vm_id)
    assert s.row(old).expires_at == dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC)

    set_now(dt.datetime(2026, 12, 8, 22, 59, 59, tzinfo=dt.UTC))
    assert snapshots.expire_snapshots(s.cw.database, s.cw.runtime) == []
    set_now(dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC))
    assert snapshots.expire_snapshots(s.cw.database, s.cw.runtime) == [old]
    assert (s.row(old).state, s.row(old).deleted_reason) == ("deleted", "expired")
    assert not s.file(s.row(old).vm_id, old).exists()
    assert s.file(vm_id, young).exists() and s.row(young).state == "ready"
    with s.cw.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "vm.snapshot_delete")
        ).scalar_one()
        assert json.loads(entry.params)["reason"] == "expired"


def test_expiry_waits_for_an_operation_in_flight(s: Snaps) -> None:
    """An expired snapshot of a VM with an operation running (maybe restoring it) is
    left to the next pass."""
    vm_id = s.vm()
    snap_id, _ = s.take(vm_id)
    with s.cw.database.unit() as session:
        vms.request(session, s.owner, s.cw.runtime, vm_id, Action.START)
    set_now(utc_now() + dt.timedelta(days=30))
    assert snapshots.expire_snapshots(s.cw.database, s.cw.runtime) == []
    assert s.row(snap_id).state == "ready"


def test_snapshot_refused_while_creating_deleting_or_busy(s: Snaps) -> None:
    """A VM being created or deleted, or with an operation in flight: 409, nothing
    written (issue 13 "bad input")."""
    body = schemas.VmCreate(
        contract_id=s.contract, flavour="avance-2-4", image="base", name="building"
    )
    with s.cw.database.unit() as session:
        building, _op = vms.create_vm(session, s.owner, s.cw.runtime, s.cw.offers, body)
        building_id = building.id
    vm_id = s.vm("other")
    with s.cw.database.unit() as session:
        vms.request(session, s.owner, s.cw.runtime, vm_id, Action.DELETE)
    before = s.counts()
    for target in (building_id, vm_id):
        with pytest.raises(InvalidTransition):
            s.take(target)
    assert s.counts() == before


def test_offer_without_snapshots_refuses(cw: ComputeWorld) -> None:
    """isstar-cloud's terms name no snapshot feature (000): 403, nothing written."""
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    _a, owner = cw.owner(client_id)
    body = schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="x")
    with cw.database.unit() as session:
        vm, op = vms.create_vm(session, owner, cw.runtime, cw.offers, body)
        vm_id, op_id = vm.id, op.id
    cw.run(op_id)
    with cw.database.unit() as session, pytest.raises(Forbidden, match="no snapshots"):
        snapshots.create_snapshot(
            session, owner, cw.runtime, cw.offers, vm_id, schemas.SnapshotCreate()
        )
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(VmSnapshot)).scalar_one() == 0


def test_restore_to_another_vms_snapshot_is_refused(s: Snaps) -> None:
    """A snapshot of VM A named on VM B (both the caller's): 404, nothing written; and
    another client cannot see the snapshots at all."""
    a = s.vm("a")
    b = s.vm("b")
    snap_a, _ = s.take(a)
    before = s.counts()
    with pytest.raises(NotFound, match="no such snapshot"):
        s.restore(b, snap_a)
    assert s.counts() == before
    other = s.cw.world.client("Other")
    _actor, stranger = s.cw.owner(other)
    with s.cw.database.unit() as session, pytest.raises(NotFound):
        snapshots.list_snapshots(session, stranger, a)


def test_failed_live_copy_leaves_nothing(s: Snaps) -> None:
    """libvirt's test driver has no backup API: a snapshot of its running domain fails.
    The operation fails, the snapshot is not counted, no file is left, the VM runs on."""
    vm_id = s.vm(stopped=False)
    snap_id, op_id = s.take(vm_id)
    with s.cw.database.unit() as session:
        op = session.get(Operation, op_id)
        vm = session.get(Vm, vm_id)
        assert op is not None and op.state == "failed" and "not supported" in (op.error or "")
        assert vm is not None and (vm.vm_state, vm.task_state) == ("running", None)
    assert s.row(snap_id).state == "failed"
    assert s.listed(vm_id) == []
    directory = s.file(vm_id, snap_id).parent
    assert list(directory.iterdir()) == []


def test_snapshot_interrupted_by_a_crash_is_rolled_back(s: Snaps) -> None:
    """A worker that died mid-copy: recovery drops the partial copy, fails the
    operation and the snapshot; nothing is counted as good, the next one succeeds."""
    vm_id = s.vm()
    snap_id, op_id = s.take(vm_id, run=False)
    partial = s.file(vm_id, snap_id).parent / f".{snap_id}.qcow2.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a copy")
    with s.cw.database.unit() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(state="running", runner="elsewhere:1", started_at=utc_now())
        )
    set_now(utc_now() + dt.timedelta(hours=2))  # stale: past operation_stale_s
    assert operations.recover_operations(s.cw.database, s.cw.runtime)[op_id] == "rolled back"
    assert not partial.exists()
    assert s.row(snap_id).state == "failed"
    again, _ = s.take(vm_id)
    assert s.row(again).state == "ready"


def test_deleting_the_vm_deletes_its_snapshots(s: Snaps) -> None:
    vm_id = s.vm()
    snap_id, _ = s.take(vm_id)
    assert s.act(vm_id, Action.DELETE) == "succeeded"
    assert (s.row(snap_id).state, s.row(snap_id).deleted_reason) == ("deleted", "vm-deleted")
    assert not s.file(vm_id, snap_id).exists()


def test_snapshots_over_the_api(client: TestClient, s: Snaps) -> None:
    """POST answers 202 with the operation; GET lists size and expiry; a bad name is a
    422 naming the field; DELETE removes it."""
    client.app.state.compute = s.cw.runtime  # type: ignore[attr-defined]
    vm_id = s.vm()
    h = s.actor.headers
    r = client.post(f"/api/v1/vms/{vm_id}/snapshots", json={"name": "Bad Name"}, headers=h)
    assert r.status_code == 422 and "name" in r.text
    r = client.post(f"/api/v1/vms/{vm_id}/snapshots", json={"nme": "x"}, headers=h)
    assert r.status_code == 422
    r = client.post(f"/api/v1/vms/{vm_id}/snapshots", json={"name": "first"}, headers=h)
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    assert body["operation"]["kind"] == "snapshot" and body["snapshot"]["state"] == "creating"
    op_url = f"/api/v1/operations/{body['operation']['id']}"
    assert client.get(op_url, headers=h).json()["progress_done"] is None  # not started
    assert s.cw.run(body["operation"]["id"]) == "succeeded"
    # Issue #19: the operation carries its done/total; a finished copy is whole.
    done = client.get(op_url, headers=h).json()
    assert done["progress_total"] == 80 * 1024**3 == done["progress_done"]
    [listed] = client.get(f"/api/v1/vms/{vm_id}/snapshots", headers=h).json()
    assert listed["name"] == "first" and listed["size_bytes"] > 0 and listed["expires_at"]
    r = client.post(f"/api/v1/vms/{vm_id}/snapshots/{listed['id']}/restore", headers=h)
    assert r.status_code == 202 and r.json()["operation"]["kind"] == "snapshot_restore"
    assert s.cw.run(r.json()["operation"]["id"]) == "succeeded"
    r = client.delete(f"/api/v1/vms/{vm_id}/snapshots/{listed['id']}", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "deleted"
    assert client.get(f"/api/v1/vms/{vm_id}/snapshots", headers=h).json() == []


def test_operator_commands_list_and_expire(s: Snaps, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nuages compute snapshots --vm`` lists size and expiry; ``nuages compute
    expire-snapshots`` deletes the expired ones now; an unknown VM is a one-line error."""
    from typer.testing import CliRunner

    from nuages import cli
    from nuages.kernel.settings import get_settings

    vm_id = s.vm()
    snap_id, _ = s.take(vm_id, "nightly")
    monkeypatch.setenv("NUAGES_DATABASE_URL", s.cw.database.url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(s.cw.runtime.settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(cli.app, ["compute", "snapshots", "--vm", vm_id])
        assert done.exit_code == 0, done.output
        assert f"{snap_id}  nightly  ready" in done.stdout and "expires" in done.stdout
        done = runner.invoke(cli.app, ["compute", "snapshots", "--vm", "nope"])
        assert done.exit_code == 1 and "no such VM" in done.stderr
        set_now(utc_now() + dt.timedelta(days=8))
        done = runner.invoke(cli.app, ["compute", "expire-snapshots"])
        assert done.exit_code == 0 and "1 snapshot(s) deleted" in done.stdout
    finally:
        get_settings.cache_clear()
    assert s.row(snap_id).state == "deleted"


def test_regression_live_copy_checked_once_qemu_releases_it(tmp_path: Path) -> None:
    """A live snapshot failed with "Failed to get shared 'write' lock": libvirt reports
    the backup job done a moment before QEMU closes the copy. The check now waits for
    the lock to go (here a qemu-io process holding the file for half a second)."""
    import threading
    import time

    from nuages.compute import disks

    partial = tmp_path / ".x.qcow2.partial"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(partial), "16M"], check=True)
    holder = subprocess.Popen(
        ["qemu-io", "-f", "qcow2", str(partial)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)  # qemu-io has opened (and locked) the image
    assert holder.poll() is None
    release = threading.Timer(0.5, holder.kill)
    release.start()
    try:
        found = disks.verify_copy(partial, tmp_path / "x.qcow2")
    finally:
        release.cancel()
        holder.kill()
        holder.wait()
    assert found.path.exists() and len(found.sha256) == 64
