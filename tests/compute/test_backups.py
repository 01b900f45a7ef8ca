"""VM backups (002 §3.5, 001 §2.2, 000 §5) through the services, on hosts simulated by
libvirt's test driver with real disk files; VMs are stopped (the test driver has no
backup API; the live copy is the snapshots' and is tested on a real guest)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from nuages.accounts.roles import Role
from nuages.compute import disks, schemas
from nuages.compute.models import Operation, Vm, VmBackup, VmBackupPlan
from nuages.compute.services import backups, operations, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.errors import Conflict, NotFound, ValidationFailed
from tests.compute.test_snapshots import has_pattern, qemu_io
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401

OFFER = "axantis-cloud-vm-avance"  # backups: options backup-7d / backup-31d, two sites
PARIS = dt.timezone(dt.timedelta(hours=1))  # Europe/Paris in December (CET)


class Backups:
    def __init__(self, cw: ComputeWorld, *, other_site: bool = True) -> None:
        self.cw = cw
        self.client_id = cw.world.client()
        self.contract = cw.contract(self.client_id, OFFER)
        cw.host(site="axantis-dc1", country="FR")
        cw.image()
        self.actor, self.owner = cw.owner(self.client_id)
        self.target_dir = cw.tmp / "backups-dc2"
        with cw.database.unit() as session:
            backups.add_target(
                session, CLI, name="same-site", site="axantis-dc1", path=cw.tmp / "dc1"
            )
            if other_site:
                backups.add_target(
                    session, CLI, name="dc2", site="axantis-dc2", path=self.target_dir
                )

    def vm(self, name: str = "web-1") -> str:
        body = schemas.VmCreate(
            contract_id=self.contract, flavour="avance-2-4", image="base", name=name
        )
        with self.cw.database.unit() as session:
            vm, op = vms.create_vm(session, self.owner, self.cw.runtime, self.cw.offers, body)
            vm_id, op_id = vm.id, op.id
        assert self.cw.run(op_id) == "succeeded"
        with self.cw.database.unit() as session:
            _vm, op = vms.request(session, self.owner, self.cw.runtime, vm_id, Action.STOP)
            op_id = op.id
        assert self.cw.run(op_id) == "succeeded"
        return vm_id

    def plan(self, vm_id: str, option: str = "backup-7d") -> None:
        with self.cw.database.unit() as session:
            backups.set_plan(
                session, self.owner, self.cw.offers, vm_id, schemas.BackupPlanSet(option=option)
            )

    def take(self, vm_id: str) -> str:
        with self.cw.database.unit() as session:
            backup, _vm, op = backups.take_backup(
                session, self.owner, self.cw.runtime, self.cw.offers, vm_id
            )
            backup_id, op_id = backup.id, op.id
        self.cw.run(op_id)
        return backup_id

    def run_due(self, vm_id: str | None = None) -> backups.RunReport:
        report = backups.run_due(
            self.cw.database, self.cw.runtime, self.cw.offers, CLI, vm_id=vm_id
        )
        with self.cw.database.unit() as session:
            ops = [
                b.operation_id
                for b in session.execute(
                    select(VmBackup).where(VmBackup.id.in_(report.requested))
                ).scalars()
            ]
        for op_id in ops:
            assert op_id is not None
            self.cw.run(op_id)
        return report

    def row(self, backup_id: str) -> VmBackup:
        with self.cw.database.unit() as session:
            found = session.get(VmBackup, backup_id)
            assert found is not None
            return found

    def count(self) -> int:
        with self.cw.database.unit() as session:
            return int(session.execute(select(func.count()).select_from(VmBackup)).scalar_one())


@pytest.fixture
def b(cw: ComputeWorld) -> Backups:
    return Backups(cw)


def test_002_s3_5_backup_kept_on_another_site_and_restored(b: Backups) -> None:
    """The backup lands on the other site's target (002 §3.5), verified (qemu-img check
    clean, SHA-256 of the file); destroy the disk's content, restore: it is back; the
    volume per VM and per contract is what the file takes."""
    vm_id = b.vm()
    b.plan(vm_id)
    disk = b.cw.runtime.vm_files(vm_id).disk
    qemu_io(disk, "write -P 0xaa 0 64k")
    backup_id = b.take(vm_id)
    backup = b.row(backup_id)
    path = Path(backup.path)
    assert backup.state == "ready" and path.is_relative_to(b.target_dir)
    assert backup.checksum == f"blake3:{disks.blake3_of(path)}" and backup.sha256 is None
    assert backup.size_bytes == path.stat().st_blocks * 512
    qemu_io(disk, "write -z 0 64k")  # the disk's content destroyed
    assert not has_pattern(disk, 0xAA)

    with b.cw.database.unit() as session:
        _b, _vm, op = backups.restore_backup(session, b.owner, b.cw.runtime, vm_id, backup_id)
        op_id = op.id
    assert b.cw.run(op_id) == "succeeded"
    assert has_pattern(disk, 0xAA)
    with b.cw.database.unit() as session:
        listing = backups.list_backups(session, b.owner, vm_id)
        assert listing.volume_bytes == backup.size_bytes
        assert backups.contract_volume(session, b.contract) == backup.size_bytes
        actions = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == vm_id)
            ).scalars()
        )
    assert {"vm.backup_plan", "vm.backup", "vm.restore"} <= actions


def test_002_s3_5_no_target_on_another_site_is_refused(cw: ComputeWorld) -> None:
    """Only a target on the VM's own site: planning a backup is refused with 409 saying
    why (002 §3.5), nothing written."""
    b = Backups(cw, other_site=False)
    vm_id = b.vm()
    with pytest.raises(
        Conflict, match=r"no backup target outside site\(s\) axantis-dc1.*002 §3\.5"
    ):
        b.plan(vm_id)
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(VmBackupPlan)).scalar_one() == 0
    assert b.count() == 0


def test_002_s3_5_an_option_outside_the_offer_is_refused(b: Backups) -> None:
    vm_id = b.vm()
    with pytest.raises(ValidationFailed, match="backup-7d, backup-31d"):
        b.plan(vm_id, "backup-custom")


def test_002_s3_5_daily_outside_working_hours_and_spread(b: Backups) -> None:
    """Tuesday 1 Dec 2026 in Paris: nothing at 12:00 (working hours, 002 §6); each VM
    from its own slot in 18:00 → 08:00 (the first 80 %: up to 05:12), once per night;
    two VMs get different slots."""
    set_now(dt.datetime(2026, 12, 1, 9, 0, tzinfo=PARIS))
    one, two = b.vm("one"), b.vm("two")
    b.plan(one)
    b.plan(two)
    set_now(dt.datetime(2026, 12, 1, 12, 0, tzinfo=PARIS))
    assert b.run_due().requested == []
    start = dt.datetime(2026, 12, 1, 18, 0, tzinfo=PARIS)
    end = dt.datetime(2026, 12, 2, 8, 0, tzinfo=PARIS)
    slots = {vm: backups.slot_of(vm, start, end) for vm in (one, two)}
    assert len(set(slots.values())) == 2
    assert all(start <= s <= start + dt.timedelta(hours=14 * 0.8) for s in slots.values())
    first, second = sorted(slots, key=lambda vm: slots[vm])
    set_now(slots[first])
    report = b.run_due()
    assert len(report.requested) == 1 and b.row(report.requested[0]).vm_id == first
    set_now(slots[second] + dt.timedelta(minutes=1))
    report = b.run_due()
    assert [b.row(x).vm_id for x in report.requested] == [second]
    set_now(end - dt.timedelta(minutes=1))
    assert b.run_due().requested == []  # once per night
    set_now(slots[first] + dt.timedelta(days=1))
    assert len(b.run_due().requested) == 1  # the next night


def test_001_s2_2_retention_destroys_exactly_the_expired_backups(b: Backups) -> None:
    """7 calendar days (backup-7d; 001 §2.2, 002 §3.5): a backup of 1 Dec 10:00 Paris
    is destroyed at 9 Dec 00:00 Paris (8 Dec 23:00 UTC), the one of 3 Dec stays."""
    set_now(dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    vm_id = b.vm()
    b.plan(vm_id)
    old = b.take(vm_id)
    set_now(dt.datetime(2026, 12, 3, 10, 0, tzinfo=PARIS))
    young = b.take(vm_id)
    assert b.row(old).expires_at == dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC)
    set_now(dt.datetime(2026, 12, 8, 22, 59, tzinfo=dt.UTC))
    assert backups.expire(b.cw.database, b.cw.runtime) == []
    set_now(dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC))
    assert backups.expire(b.cw.database, b.cw.runtime) == [old]
    assert b.row(old).state == "deleted" and not Path(b.row(old).path).exists()
    assert b.row(young).state == "ready" and Path(b.row(young).path).exists()
    with b.cw.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "vm.backup_delete")
        ).scalar_one()
        assert json.loads(entry.params)["reason"] == "expired"


def test_backup_killed_mid_copy_is_not_counted_and_the_next_run_completes(b: Backups) -> None:
    """A worker that died during the copy: recovery removes the partial file, the
    backup is failed (not in the list, not in the volume); the next run succeeds."""
    vm_id = b.vm()
    b.plan(vm_id)
    with b.cw.database.unit() as session:
        backup, _vm, op = backups.take_backup(session, b.owner, b.cw.runtime, b.cw.offers, vm_id)
        backup_id, op_id, path = backup.id, op.id, Path(backup.path)
    partial = disks.partial_of(path)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a copy")
    with b.cw.database.unit() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(state="running", runner="elsewhere:1", started_at=utc_now())
        )
    set_now(utc_now() + dt.timedelta(hours=2))
    assert operations.recover_operations(b.cw.database, b.cw.runtime)[op_id] == "rolled back"
    assert not partial.exists() and not path.exists()
    assert b.row(backup_id).state == "failed"
    with b.cw.database.unit() as session:
        assert backups.list_backups(session, b.owner, vm_id).volume_bytes == 0
    report = b.run_due(vm_id)
    [again] = report.requested
    assert b.row(again).state == "ready" and Path(b.row(again).path).exists()


def test_restore_to_another_vms_backup_is_refused(b: Backups) -> None:
    a, other = b.vm("a"), b.vm("b")
    b.plan(a)
    backup_id = b.take(a)
    with b.cw.database.unit() as session, pytest.raises(NotFound, match="no such backup"):
        backups.restore_backup(session, b.owner, b.cw.runtime, other, backup_id)
    with b.cw.database.unit() as session:
        vm = session.get(Vm, other)
        assert vm is not None and vm.task_state is None


def test_backups_over_the_api(client: TestClient, b: Backups) -> None:
    """PUT the plan (a bad option is a 422 naming the field), POST a backup (202), GET
    the list with the volume, restore: neither or both of backup_id/original is 422,
    ``original`` is the reinstall (000 §5)."""
    client.app.state.compute = b.cw.runtime  # type: ignore[attr-defined]
    vm_id = b.vm()
    h = b.actor.headers
    r = client.put(f"/api/v1/vms/{vm_id}/backup-plan", json={"option": "nope"}, headers=h)
    assert r.status_code == 422 and "option" in r.text
    r = client.put(f"/api/v1/vms/{vm_id}/backup-plan", json={"option": "backup-31d"}, headers=h)
    assert r.status_code == 200 and r.json()["retention_days"] == 31
    r = client.post(f"/api/v1/vms/{vm_id}/backups", headers=h)
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    assert b.cw.run(body["operation"]["id"]) == "succeeded"
    listing = client.get(f"/api/v1/vms/{vm_id}/backups", headers=h).json()
    [item] = listing["items"]
    assert item["state"] == "ready" and listing["volume_bytes"] == item["size_bytes"] > 0
    for bad in ({}, {"backup_id": item["id"], "original": True}):
        r = client.post(f"/api/v1/vms/{vm_id}/restore", json=bad, headers=h)
        assert r.status_code == 422 and "backup_id" in r.text
    r = client.post(f"/api/v1/vms/{vm_id}/restore", json={"backup_id": item["id"]}, headers=h)
    assert r.status_code == 202 and r.json()["operation"]["kind"] == "restore"
    assert b.cw.run(r.json()["operation"]["id"]) == "succeeded"
    r = client.post(f"/api/v1/vms/{vm_id}/restore", json={"original": True}, headers=h)
    assert r.status_code == 202 and r.json()["operation"]["kind"] == "reinstall"


def test_regression_live_backup_directories_are_traversable_by_qemu(b: Backups) -> None:
    """A live backup failed with "Permission denied": QEMU runs as another user and
    could not traverse the target's 0700 directory. Every directory from the target
    down to the copy is now 0711 (traversable, not listable); the file stays 0600."""
    vm_id = b.vm()
    b.plan(vm_id)
    path = Path(b.row(b.take(vm_id)).path)
    for directory in (path.parent, path.parent.parent, b.target_dir):
        assert directory.stat().st_mode & 0o777 == 0o711, directory
    assert path.stat().st_mode & 0o777 == 0o600


def test_operator_backup_commands(b: Backups, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nuages backup targets add|list`` and ``nuages backup run --vm``; a relative path
    and a VM without plan are one-line errors."""
    from typer.testing import CliRunner

    from nuages import cli
    from nuages.kernel.settings import get_settings

    vm_id = b.vm()
    monkeypatch.setenv("NUAGES_DATABASE_URL", b.cw.database.url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(b.cw.runtime.settings.data_dir))
    monkeypatch.setenv("NUAGES_COMPUTE_EXECUTOR", "manual")
    get_settings.cache_clear()
    run = CliRunner().invoke
    try:
        done = run(
            cli.app, ["backup", "targets", "add", "dc2b", "--site", "axantis-dc2", "--path", "rel"]
        )
        assert done.exit_code == 1 and "must be absolute" in done.stderr
        path = b.cw.tmp / "dc2b"
        done = run(
            cli.app,
            ["backup", "targets", "add", "dc2b", "--site", "axantis-dc2", "--path", str(path)],
        )
        assert done.exit_code == 0 and "site=axantis-dc2" in done.stdout
        done = run(cli.app, ["backup", "targets", "list"])
        assert "dc2b" in done.stdout and "same-site" in done.stdout
        done = run(cli.app, ["backup", "run", "--vm", vm_id])
        assert done.exit_code == 1 and "no backup plan" in done.stderr
        b.plan(vm_id)
        done = run(cli.app, ["backup", "run", "--vm", vm_id])
        assert done.exit_code == 0 and "1 backup(s) asked for" in done.stdout
    finally:
        get_settings.cache_clear()


def test_operator_restore_commands(b: Backups, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nuages backup list VM`` and ``nuages backup restore VM BACKUP [--as-new NAME]``
    (000 §5) with ``--json``: the restore answers with the operation to follow; another
    VM's backup is a one-line error and nothing is asked for."""
    from typer.testing import CliRunner

    from nuages import cli
    from nuages.kernel.settings import get_settings

    vm_id, other = b.vm(), b.vm("web-2")
    b.plan(vm_id)
    backup_id = b.take(vm_id)
    monkeypatch.setenv("NUAGES_DATABASE_URL", b.cw.database.url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(b.cw.runtime.settings.data_dir))
    monkeypatch.setenv("NUAGES_COMPUTE_EXECUTOR", "manual")
    get_settings.cache_clear()
    run = CliRunner().invoke
    try:
        done = run(cli.app, ["backup", "list", vm_id, "--json"])
        assert done.exit_code == 0, done.output
        listed = json.loads(done.stdout)
        assert [i["id"] for i in listed["items"]] == [backup_id]
        assert listed["items"][0]["kind"] == "full" and listed["volume_bytes"] > 0
        done = run(cli.app, ["backup", "restore", other, backup_id])
        assert done.exit_code == 1 and "no such backup" in done.stderr
        done = run(cli.app, ["backup", "restore", vm_id, backup_id, "--json"])
        assert done.exit_code == 0, done.output
        row = json.loads(done.stdout)
        assert (row["kind"], row["vm_id"], row["backup_id"]) == ("restore", vm_id, backup_id)
        assert b.cw.run(row["operation_id"]) == "succeeded"
        done = run(cli.app, ["backup", "restore", vm_id, backup_id, "--as-new", "web-1-copy"])
        assert done.exit_code == 0, done.output
        assert "restore of new VM" in done.stdout
    finally:
        get_settings.cache_clear()


def test_002_s3_5_backup_volume_per_contract_and_vm_over_the_api(
    client: TestClient, b: Backups
) -> None:
    """002 §3.5 "volume de sauvegarde par VM affiché": GET
    /contracts/{id}/backup-volume gives the total and each VM's share (a VM without
    backups is not listed); another client's caller gets 404."""
    client.app.state.compute = b.cw.runtime  # type: ignore[attr-defined]
    first, second, _bare = b.vm("a"), b.vm("b"), b.vm("c")
    for vm_id in (first, second):
        b.plan(vm_id)
    qemu_io(b.cw.runtime.vm_files(first).disk, "write -P 0xaa 0 1M")
    one, two = b.take(first), b.take(second)
    r = client.get(f"/api/v1/contracts/{b.contract}/backup-volume", headers=b.actor.headers)
    assert r.status_code == 200, r.text
    sizes = {first: b.row(one).size_bytes, second: b.row(two).size_bytes}
    assert r.json() == {
        "contract_id": b.contract,
        "volume_bytes": sum(s or 0 for s in sizes.values()),
        "vms": sizes,
    }
    stranger = b.cw.world.user(Role.CLIENT_OWNER, b.cw.world.client())
    r = client.get(f"/api/v1/contracts/{b.contract}/backup-volume", headers=stranger.headers)
    assert r.status_code == 404
