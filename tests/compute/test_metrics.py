"""The metrics collector on libvirt's test driver, its rollups and retention, and the
series API (002 §3 supervision graphs; issue 14.4)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from nuages.compute.hypervisor import DomainStats, PowerState
from nuages.compute.metrics import collect, series
from nuages.compute.metrics.models import VmMetricHour, VmMetricMinute
from nuages.compute.models import Host, Vm
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from tests.compute.test_reconcile import running_vm
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import World

T0 = dt.datetime(2026, 3, 2, 9, 0, 20, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


def minutes(cw: ComputeWorld, vm_id: str) -> list[VmMetricMinute]:
    with cw.database.unit() as session:
        return list(
            session.execute(
                select(VmMetricMinute)
                .where(VmMetricMinute.vm_id == vm_id)
                .order_by(VmMetricMinute.at)
            ).scalars()
        )


def _real_second() -> None:
    """Let a real second pass between two passes: the test driver's CPU time runs on
    the real clock (busy all along) while the platform's clock jumps a minute, and the
    rate divides by real host time; passes a few milliseconds apart would let a
    millisecond of scheduling delay on a loaded machine move CPU % by several points."""
    time.sleep(1.0)


def test_collector_reads_each_host_once_and_derives_cpu_percent(cw: ComputeWorld) -> None:
    """Two passes a minute apart: one row per VM and minute, the second with CPU % from
    the cpu.time delta. libvirt's test driver reports its running domains as busy on one
    CPU all along, so a 1-vCPU VM (flavour vm-s) is at 100 %: Δcpu = Δt."""
    set_now(T0)
    vm_id, _owner, _host = running_vm(cw)
    first = collect.collect(cw.database, cw.runtime)
    assert first.at == dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    assert first.written == 1 and first.unreachable == []
    assert first.read == 1
    _real_second()
    set_now(T0 + MIN)
    second = collect.collect(cw.database, cw.runtime)
    assert second.written == 1
    rows = minutes(cw, vm_id)
    assert [r.at for r in rows] == [first.at, first.at + MIN]
    assert rows[0].cpu_pct is None and rows[0].seconds is None  # nothing to compare with
    assert rows[1].seconds is not None and rows[1].seconds > 0
    assert rows[1].cpu_pct is not None and abs(rows[1].cpu_pct - 100.0) < 1.0
    assert rows[1].mem_bytes == 1024 * 1024 * 1024  # vm-s: 1 GiB, from the domain's info
    assert rows[1].power_state == "running"


def test_collector_is_idempotent_within_a_minute(cw: ComputeWorld) -> None:
    """A second pass in the same minute writes nothing (the minute's row is kept)."""
    set_now(T0)
    vm_id, _owner, _host = running_vm(cw)
    assert collect.collect(cw.database, cw.runtime).written == 1
    set_now(T0 + dt.timedelta(seconds=30))
    assert collect.collect(cw.database, cw.runtime).written == 0
    assert len(minutes(cw, vm_id)) == 1


def test_unanswering_host_is_marked_and_the_others_still_collected(
    cw: ComputeWorld, tmp_path: Path
) -> None:
    """Issue 14 "Bad input and faults": a host whose libvirt stopped answering is marked
    unreachable (history, VMs' power state unknown) and the other hosts' VMs are still
    collected in the same pass."""
    set_now(T0)
    vm_a, _o, host_a = running_vm(cw, "web-a")
    vm_b, host_b = second_vm(cw)
    lost = f"qemu:///system?socket={tmp_path}/no-such-libvirt-sock"
    with cw.database.unit() as session:
        session.execute(update(Host).where(Host.id == host_a.id).values(uri=lost))
    report = collect.collect(cw.database, cw.runtime)
    assert report.unreachable == [host_a.id]
    assert report.written == 1
    assert minutes(cw, vm_a) == [] and len(minutes(cw, vm_b)) == 1
    with cw.database.unit() as session:
        a = session.get(Host, host_a.id)
        b = session.get(Host, host_b.id)
        assert a is not None and a.reachable is False
        assert b is not None and b.reachable is True
        vm = session.get(Vm, vm_a)
        assert vm is not None and vm.power_state == PowerState.UNKNOWN.value
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == host_a.id)
        ).scalars()
        assert list(actions)[-1] == "host.unreachable"
    # A second failing pass records nothing more (the host is already marked).
    collect.collect(cw.database, cw.runtime)
    with cw.database.unit() as session:
        count = session.execute(
            select(func.count())
            .select_from(HistoryEntry)
            .where(HistoryEntry.object_id == host_a.id, HistoryEntry.action == "host.unreachable")
        ).scalar()
    assert count == 1


def test_previous_minute_read_again_unless_the_database_holds_the_pass_rows(
    cw: ComputeWorld,
) -> None:
    """A pass derives its rates from the previous pass's own rows (not read again,
    bench/metrics.py) only while the database holds exactly them: once one of that
    minute's rows is gone (retention, another process), the minute is read from the
    database, so that VM has no previous reading and no rates, and the other VM keeps
    its rates."""
    set_now(T0)
    vm_a, _o, _host = running_vm(cw, "web-a")
    vm_b, _host_b = second_vm(cw)
    assert collect.collect(cw.database, cw.runtime).written == 2
    with cw.database.unit() as session:
        session.execute(delete(VmMetricMinute).where(VmMetricMinute.vm_id == vm_a))
    set_now(T0 + MIN)
    assert collect.collect(cw.database, cw.runtime).written == 2
    (a,) = minutes(cw, vm_a)
    assert a.seconds is None and a.cpu_pct is None
    b = minutes(cw, vm_b)[-1]
    assert b.seconds is not None and b.cpu_pct is not None and abs(b.cpu_pct - 100.0) < 1.0
    # The pass's own rows again (nothing removed): the next minute's rates from them.
    set_now(T0 + 2 * MIN)
    assert collect.collect(cw.database, cw.runtime).written == 2
    assert all(minutes(cw, vm)[-1].seconds is not None for vm in (vm_a, vm_b))


def second_vm(cw: ComputeWorld) -> tuple[str, Host]:
    """Another client's running VM on a host of its own (the image exists already)."""
    from nuages.compute import schemas
    from nuages.compute.services import vms

    client_id = cw.world.client()
    contract = cw.contract(client_id)
    host = cw.host()
    owner = cw.owner(client_id)[1]
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="web-b"),
        )
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    with cw.database.unit() as session:
        placed = session.get(Vm, vm_id)
        assert placed is not None and placed.host_id == host.id
    return vm_id, host


def put(session: Any, table: Any, rows: list[dict[str, Any]]) -> int:
    """``collect.insert_rows`` of rows given as dicts with the same keys."""
    columns = tuple(rows[0])
    return collect.insert_rows(
        session, table, [tuple(r[c] for c in columns) for r in rows], columns
    )


def _stats(vm_id: str, host_ns: int, **counters: int | None) -> DomainStats:
    return DomainStats(uuid=vm_id, power_state=PowerState.RUNNING, host_ns=host_ns, **counters)


def test_rates_from_counter_deltas_and_reset_gives_no_rate() -> None:
    """Rates are Δcounter / Δt over the host's clock; CPU % is of the VM's vCPUs. Hand
    count: 60 s apart, 2 vCPUs, 30 s of CPU → 30 / (60 × 2) = 25 %; 6 MB read → 100 000
    B/s; 120 reads → 2 IOPS. A counter below its previous value (the VM restarted)
    gives no rate, never a negative one."""
    vm = "00000000-0000-4000-8000-000000000001"
    s = 1_000_000_000
    prev = collect.Previous(vm, None, 100 * s, 10 * s, 1_000_000, 0, 10, 0, 500, 900)
    now = _stats(
        vm,
        160 * s,
        vcpus=2,
        cpu_ns=40 * s,
        disk_read_bytes=7_000_000,
        disk_write_bytes=0,
        disk_read_ops=130,
        disk_write_ops=0,
        net_rx_bytes=100,  # below 500: reset
        net_tx_bytes=6900,
    )
    (found,) = collect.rows_for("h", T0, [now], {vm: 2}, {vm: prev})
    row = dict(zip(collect.COLUMNS, found, strict=True))
    assert row["seconds"] == 60.0
    assert row["cpu_pct"] == 25.0
    assert row["rd_bps"] == 100_000.0 and row["rd_iops"] == 2.0
    assert row["rx_bps"] is None and row["tx_bps"] == 100.0


def test_rollup_hourly_is_time_weighted_and_idempotent(cw: ComputeWorld) -> None:
    """An hour's rollup averages the minutes' rates over the seconds they cover, keeps
    the CPU peak, and a second run writes nothing. Hand count: minutes of 60 s at 10 %
    and 30 %, one of 120 s at 40 % (a missed minute) → (600 + 1800 + 4800) / 240 = 30 %,
    peak 40 %."""
    set_now(T0)
    vm_id, _o, host = running_vm(cw)
    hour = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    rows = []
    for i, (secs, pct) in enumerate([(60.0, 10.0), (60.0, 30.0), (120.0, 40.0)]):
        rows.append(
            {
                "vm_id": vm_id, "at": hour + i * MIN, "host_id": host.id,
                "power_state": "running", "host_ns": i, "seconds": secs, "cpu_pct": pct,
                "rd_bps": 1000.0, "mem_used_bytes": 100 * (i + 1),
            }
        )  # fmt: skip
    with cw.database.unit() as session:
        put(session, VmMetricMinute.__table__, rows)
    set_now(hour + dt.timedelta(hours=1, minutes=5))
    with cw.database.unit() as session:
        report = series.rollup_and_prune(session)
    assert report.hours == [hour] and report.rows == 1
    with cw.database.unit() as session:
        (row,) = session.execute(select(VmMetricHour)).scalars()
        assert row.samples == 3 and row.seconds == 240.0
        assert row.cpu_pct is not None and abs(row.cpu_pct - 30.0) < 1e-9
        assert row.cpu_pct_max == 40.0 and row.rd_bps == 1000.0
        assert row.mem_used_max == 300
    with cw.database.unit() as session:
        again = series.rollup_and_prune(session)
    assert again.hours == [] and again.rows == 0


def test_retention_minutes_48_hours_hours_13_months(cw: ComputeWorld) -> None:
    """Issue 14.4: minutes are kept 48 hours, hourly rollups 13 months; the minutes of
    an hour are rolled up before they are pruned."""
    set_now(T0)
    vm_id, _o, host = running_vm(cw)
    old_minute = T0.replace(second=0) - dt.timedelta(hours=49)
    kept_minute = T0.replace(second=0) - dt.timedelta(hours=47)
    base = {"host_id": host.id, "power_state": "running", "host_ns": 1, "vm_id": vm_id}
    with cw.database.unit() as session:
        put(
            session,
            VmMetricMinute.__table__,
            [base | {"at": old_minute}, base | {"at": kept_minute}],
        )
        put(
            session,
            VmMetricHour.__table__,
            [
                {"vm_id": vm_id, "at": dt.datetime(2025, 1, 2, 8, tzinfo=dt.UTC), "samples": 1},
                {"vm_id": vm_id, "at": dt.datetime(2025, 2, 3, 8, tzinfo=dt.UTC), "samples": 1},
            ],
        )
    with cw.database.unit() as session:
        report = series.rollup_and_prune(session)
    assert report.minutes_pruned == 1 and report.hours_pruned == 1
    with cw.database.unit() as session:
        kept = session.execute(select(VmMetricMinute.at)).scalars().all()
        hours = session.execute(select(VmMetricHour.at).order_by(VmMetricHour.at)).scalars()
        hours_kept = list(hours)
    assert kept == [kept_minute]
    # 2025-02-03 is within 13 months of 2026-03-02; the pruned minute's hour was rolled up.
    assert hours_kept[0] == dt.datetime(2025, 2, 3, 8, tzinfo=dt.UTC)
    assert old_minute.replace(minute=0) in hours_kept


def _owner_headers(cw: ComputeWorld, vm_id: str) -> dict[str, str]:
    from nuages.accounts.roles import Role

    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        client_id = vm.client_id
    return cw.world.user(Role.CLIENT_OWNER, client_id).headers


def test_api_series_at_one_minute_and_range_limits(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """GET /vms/{id}/metrics answers the points; ten years at 1-minute step, or an
    empty range, is a 422 naming the field (issue 14 "Bad input")."""
    set_now(T0)
    vm_id, _o, _h = running_vm(cw)
    collect.collect(cw.database, cw.runtime)
    _real_second()
    set_now(T0 + MIN)
    collect.collect(cw.database, cw.runtime)
    headers = _owner_headers(cw, vm_id)
    r = client.get(f"/api/v1/vms/{vm_id}/metrics", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["step"] == "1m" and len(body["points"]) == 2
    assert body["points"][1]["cpu_percent"] > 99
    r = client.get(
        f"/api/v1/vms/{vm_id}/metrics",
        params={"from": "2016-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z", "step": "1m"},
        headers=headers,
    )
    assert r.status_code == 422
    assert "48 hours" in r.json()["detail"] and "step=1h" in r.json()["detail"]
    r = client.get(
        f"/api/v1/vms/{vm_id}/metrics",
        params={"from": "2016-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z", "step": "1h"},
        headers=headers,
    )
    assert r.status_code == 422 and "13 months" in r.json()["detail"]
    r = client.get(
        f"/api/v1/vms/{vm_id}/metrics",
        params={"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T09:00:00Z"},
        headers=headers,
    )
    assert r.status_code == 422 and "to" in r.json()["detail"]
    r = client.get(f"/api/v1/vms/{vm_id}/metrics", params={"step": "5m"}, headers=headers)
    assert r.status_code == 422


def test_minute_written_again_keeps_the_first_rows(cw: ComputeWorld) -> None:
    """Rows of a minute already written are kept (the fast plain insert is only taken for
    a minute nobody wrote): writing them again, or a pass in that minute, adds nothing."""
    set_now(T0)
    vm_id, _o, host = running_vm(cw)
    at = collect.minute_of(T0)
    row = {"vm_id": vm_id, "at": at, "host_id": host.id, "power_state": "running", "host_ns": 1}
    with cw.database.unit() as session:
        assert put(session, VmMetricMinute.__table__, [row]) == 1
    with cw.database.unit() as session:
        assert put(session, VmMetricMinute.__table__, [row]) == 0
    assert collect.collect(cw.database, cw.runtime).written == 0
    assert [r.host_ns for r in minutes(cw, vm_id)] == [1]


def test_regression_row_tuples_follow_the_table_columns() -> None:
    """The collector builds rows as tuples (no dict per row, bench/metrics.py), reading
    ``DomainStats`` field by field: each reading must land in its own column, and a
    second reading's rates in theirs (distinct values per field, so any shift shows)."""
    vm = "00000000-0000-4000-8000-000000000002"
    s = 1_000_000_000
    fields = {
        "cpu_ns": 11 * s, "disk_read_bytes": 1200, "disk_write_bytes": 1300,
        "disk_read_ops": 140, "disk_write_ops": 150, "net_rx_bytes": 1600,
        "net_tx_bytes": 1700, "memory_bytes": 1800, "memory_used_bytes": 1900,
    }  # fmt: skip
    first = _stats(vm, 100 * s, vcpus=1, **fields)
    (found,) = collect.rows_for("h", T0, [first], {vm: 4}, {})
    row = dict(zip(collect.COLUMNS, found, strict=True))
    assert row == {
        "vm_id": vm, "at": T0, "host_id": "h", "power_state": "running", "host_ns": 100 * s,
        "vcpus": 1, "cpu_ns": 11 * s, "rd_bytes": 1200, "wr_bytes": 1300, "rd_ops": 140,
        "wr_ops": 150, "rx_bytes": 1600, "tx_bytes": 1700, "mem_bytes": 1800,
        "mem_used_bytes": 1900, "seconds": None, "cpu_pct": None, "rd_bps": None,
        "wr_bps": None, "rd_iops": None, "wr_iops": None, "rx_bps": None, "tx_bps": None,
    }  # fmt: skip
    prev = collect.Previous(vm, None, 100 * s, 10 * s, 200, 300, 40, 50, 600, 700)
    (found,) = collect.rows_for("h", T0, [first], {vm: 4}, {vm: prev})
    assert found[-8:] == (None,) * 8  # same host clock: no interval, no rate
    later = _stats(vm, 110 * s, vcpus=None, **fields)  # no vCPUs reported: the VM's 4
    (found,) = collect.rows_for("h", T0, [later], {vm: 4}, {vm: prev})
    row = dict(zip(collect.COLUMNS, found, strict=True))
    assert row["vcpus"] == 4 and row["seconds"] == 10.0
    assert row["cpu_pct"] == 2.5  # 1 s of CPU over 10 s × 4 vCPUs
    assert (row["rd_bps"], row["wr_bps"], row["rd_iops"], row["wr_iops"]) == (
        100.0, 100.0, 10.0, 10.0,
    )  # fmt: skip
    assert (row["rx_bps"], row["tx_bps"]) == (100.0, 100.0)


def test_read_stats_sums_a_full_answer_and_completes_a_state_only_one() -> None:
    """The driver's bulk read (issue 14.4): a full answer (real QEMU: every group) gives
    the disks and NICs summed, memory from the balloon (guest view: available − unused),
    vCPUs and CPU time as reported; a state-only answer (libvirt's test driver) is
    completed from the domain's info when asked, else left unknown. Hand count: disks
    10 + 100 read bytes, 1 + 3 reads, 20 + 200 written, 2 + 4 writes; used (2000 − 500)
    KiB."""
    from nuages.compute.drivers.libvirt.observe import read_stats
    from nuages.compute.drivers.libvirt.states import power_state

    class Dom:
        def __init__(self, uuid: str) -> None:
            self.uuid = uuid

        def UUIDString(self) -> str:
            return self.uuid

        def info(self) -> list[int]:
            return [1, 4096, 1024, 2, 5_000]  # state, max KiB, KiB, vCPUs, CPU ns

    full = {
        "state.state": 1, "state.reason": 1, "cpu.time": 7_000, "vcpu.current": 4,
        "balloon.current": 2048, "balloon.available": 2000, "balloon.unused": 500,
        "block.count": 2, "block.0.rd.bytes": 10, "block.0.rd.reqs": 1,
        "block.0.wr.bytes": 20, "block.0.wr.reqs": 2, "block.1.rd.bytes": 100,
        "block.1.rd.reqs": 3, "block.1.wr.bytes": 200, "block.1.wr.reqs": 4,
        "net.count": 1, "net.0.rx.bytes": 5, "net.0.tx.bytes": 6,
    }  # fmt: skip
    state_only = {"state.state": 5, "state.reason": 1}  # shut off, by a shutdown

    class Conn:
        def getAllDomainStats(self, _groups: int, _flags: int) -> list[Any]:
            return [(Dom("a"), full), (Dom("b"), state_only), (Dom("c"), state_only)]

    a, b, c = read_stats(Conn(), power_state, complete=True)
    assert a[:2] == ("a", PowerState.RUNNING) and a[3:] == (
        4, 7_000, 110, 220, 4, 6, 5, 6, 2048 * 1024, 1500 * 1024,
    )  # fmt: skip
    assert b[:2] == ("b", PowerState.SHUTOFF) and b[3:] == (
        2, 5_000, None, None, None, None, None, None, 1024 * 1024, None,
    )  # fmt: skip
    assert c[1] is PowerState.SHUTOFF and a[2] == b[2] == c[2]  # one host clock per read
    unknown = read_stats(Conn(), power_state, complete=False)[1]
    assert unknown[3:] == (None,) * 10
    assert isinstance(a, DomainStats) and a.memory_used_bytes == 1500 * 1024
