"""Retention of incremental backup chains (issue 13; 001 §2.2, 002 §3.5) through the
services, on libvirt's test driver with real qcow2 files. The test driver copies stopped
disks only (full copies), so the increments are written here as the worker writes them:
a qcow2 on its parent's file, a ``ready`` row with ``kind``/``parent_id``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.compute import disks
from nuages.compute.models import Operation, VmBackup
from nuages.compute.services import backups
from nuages.kernel.clock import set_now, utc_now
from tests.compute.test_backups import PARIS, Backups
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


@pytest.fixture
def b(cw: ComputeWorld) -> Backups:
    return Backups(cw)


def _increment(b: Backups, parent_id: str) -> str:
    """An increment on ``parent_id`` taken now, as the worker leaves it."""
    parent = b.row(parent_id)
    with b.cw.database.unit() as session:
        row = VmBackup(
            vm_id=parent.vm_id,
            client_id=parent.client_id,
            target_id=parent.target_id,
            path=str(Path(parent.path).with_name(f"inc-{utc_now():%d%H%M}.qcow2")),
            state="ready",
            scheduled=True,
            created_at=utc_now(),
            expires_at=backups.expiry(b.cw.offers.current("axantis-cloud-vm-avance"), utc_now(), 7),
            kind="incremental",
            parent_id=parent_id,
            size_bytes=1,
        )
        session.add(row)
        session.flush()
        row_id, path = row.id, Path(row.path)
    disks.create_increment_target(path, Path(parent.path), parent.virtual_bytes or disks.GIB)
    return row_id


def test_001_s2_2_a_chain_goes_whole_when_its_last_increment_expires(b: Backups) -> None:
    """Full backup 1 Dec, increments 2 and 3 Dec (7 calendar days, Paris). On 9 Dec
    00:00 Paris the full one is past its retention but the increments read it: nothing
    goes, and it is listed kept until the last increment's end (11 Dec 00:00 Paris =
    10 Dec 23:00 UTC). On 10 Dec the 2 Dec increment is due but the 3 Dec one reads
    it: still nothing. At 10 Dec 23:00 UTC the whole chain goes in one pass, newest
    first, files included."""
    set_now(dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    vm_id = b.vm()
    b.plan(vm_id)
    full = b.take(vm_id)
    assert b.row(full).kind == "full"
    set_now(dt.datetime(2026, 12, 2, 10, 0, tzinfo=PARIS))
    inc1 = _increment(b, full)
    set_now(dt.datetime(2026, 12, 3, 10, 0, tzinfo=PARIS))
    inc2 = _increment(b, inc1)
    assert [c.path for c in disks.check_chain(Path(b.row(inc2).path))] == [
        Path(b.row(x).path) for x in (inc2, inc1, full)
    ]

    set_now(dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC))
    assert backups.expire(b.cw.database, b.cw.runtime) == []
    with b.cw.database.unit() as session:
        listing = backups.list_backups(session, b.owner, vm_id)
    end = dt.datetime(2026, 12, 10, 23, 0, tzinfo=dt.UTC)
    assert listing.kept_until == {full: end, inc1: end, inc2: end}
    set_now(dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC))
    assert backups.expire(b.cw.database, b.cw.runtime) == []
    set_now(end)
    assert backups.expire(b.cw.database, b.cw.runtime) == [inc2, inc1, full]
    for x in (full, inc1, inc2):
        assert b.row(x).state == "deleted" and not Path(b.row(x).path).exists()


def test_a_backup_builds_on_the_newest_ready_one_up_to_the_chain_limit(b: Backups) -> None:
    """A backup asked for names the VM's newest ready backup as its parent (the worker
    takes an increment on it if the VM runs and its checkpoint lives); once the chain
    holds ``CHAIN_MAX`` increments the next one is full (no parent)."""
    vm_id = b.vm()
    b.plan(vm_id)
    full = b.take(vm_id)
    newest = full
    for n in range(backups.CHAIN_MAX):
        set_now(utc_now() + dt.timedelta(minutes=1 + n))
        newest = _increment(b, newest)
    set_now(utc_now() + dt.timedelta(hours=1))
    with b.cw.database.unit() as session:
        _bk, _vm, op = backups.take_backup(session, b.owner, b.cw.runtime, b.cw.offers, vm_id)
        params, restarted = json.loads(op.params), _bk.id
    assert "parent_id" not in params  # 6 increments on the full one: a new chain
    b.cw.run(op.id)
    assert (b.row(restarted).kind, b.row(restarted).parent_id) == ("full", None)
    set_now(utc_now() + dt.timedelta(hours=1))
    with b.cw.database.unit() as session:
        _bk, _vm, op2 = backups.take_backup(session, b.owner, b.cw.runtime, b.cw.offers, vm_id)
        params = json.loads(op2.params)
    assert params["parent_id"] == restarted
    # The VM is stopped: the worker takes a full copy all the same.
    b.cw.run(op2.id)
    with b.cw.database.unit() as session:
        op_row = session.get(Operation, op2.id)
        assert op_row is not None and op_row.state == "succeeded"
        taken = session.execute(
            select(VmBackup).where(VmBackup.operation_id == op2.id)
        ).scalar_one()
        assert (taken.kind, taken.parent_id) == ("full", None)


def test_backup_listing_shows_kind_parent_and_kept_until(client: TestClient, b: Backups) -> None:
    """GET /vms/{id}/backups: each item's kind, parent and ``kept_until``."""
    client.app.state.compute = b.cw.runtime  # type: ignore[attr-defined]
    vm_id = b.vm()
    b.plan(vm_id)
    full = b.take(vm_id)
    set_now(utc_now() + dt.timedelta(days=1))
    inc = _increment(b, full)
    r = client.get(f"/api/v1/vms/{vm_id}/backups", headers=b.actor.headers)
    assert r.status_code == 200, r.text
    items = {i["id"]: i for i in r.json()["items"]}
    assert (items[inc]["kind"], items[inc]["parent_id"]) == ("incremental", full)
    assert items[full]["kind"] == "full"
    kept = dt.datetime.fromisoformat(items[full]["kept_until"])
    assert kept == dt.datetime.fromisoformat(items[inc]["expires_at"])
    assert kept > dt.datetime.fromisoformat(items[full]["expires_at"])
