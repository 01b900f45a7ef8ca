"""Reconciliation on simulated hosts: the hypervisor is the authority on power state;
a VM found down that should run is marked and gets an outage (read by the SLA slice,
002 §6); unknown domains are reported, never touched; an unreachable host's VMs are
``unknown``, not stopped."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.hypervisor import DiskBoot, DomainSpec, PowerState, StopReason
from nuages.compute.models import Host, Vm, VmOutage
from nuages.compute.services import reconcile, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def running_vm(cw: ComputeWorld, name: str = "web-1") -> tuple[str, Principal, Host]:
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    host = cw.host()
    cw.image()
    owner = cw.owner(client_id)[1]
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name=name),
        )
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    return vm_id, owner, host


def reconcile_pass(cw: ComputeWorld) -> reconcile.PassReport:
    return reconcile.run_pass(cw.database, cw.runtime)


def state(cw: ComputeWorld, vm_id: str) -> tuple[str, str]:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        return vm.vm_state, vm.power_state


def outages(cw: ComputeWorld, vm_id: str) -> list[VmOutage]:
    with cw.database.unit() as session:
        return list(
            session.execute(
                select(VmOutage).where(VmOutage.vm_id == vm_id).order_by(VmOutage.start)
            ).scalars()
        )


def test_002_s6_vm_shut_off_behind_our_back_opens_an_outage(cw: ComputeWorld) -> None:
    """A running VM found shut off becomes stopped and gets an outage from the last
    moment it was seen running (SPEC §17: an unclear start is read for the client)
    until the client starts it again. Hand count: seen up at 09:00, found down at
    09:01, started at 09:05 → [09:00, 09:05)."""
    set_now(T0 - dt.timedelta(minutes=1))
    vm_id, owner, host = running_vm(cw)
    set_now(T0)
    assert reconcile_pass(cw).changed == []
    assert state(cw, vm_id) == ("running", "running")
    # The guest powers itself off, behind the platform's back.
    cw.runtime.hypervisor(host.uri).shutdown(uuid.UUID(vm_id), timeout_s=5)

    set_now(T0 + dt.timedelta(minutes=1))
    report = reconcile_pass(cw)
    assert report.changed == [(vm_id, "running", "stopped")]
    assert report.outages_opened == [vm_id]
    assert state(cw, vm_id) == ("stopped", "shutoff")
    [outage] = outages(cw, vm_id)
    assert (outage.start, outage.end, outage.cause) == (T0, None, "guest-shutdown")
    assert outage.detected_at == T0 + dt.timedelta(minutes=1)

    set_now(T0 + dt.timedelta(minutes=2))
    second = reconcile_pass(cw)  # nothing new: one outage, already open
    assert (second.changed, second.outages_opened) == ([], [])

    set_now(T0 + dt.timedelta(minutes=5))
    with cw.database.unit() as session:
        _vm, op = vms.request(session, owner, cw.runtime, vm_id, Action.START)
        op_id = op.id
    assert cw.run(op_id) == "succeeded"
    [outage] = outages(cw, vm_id)
    assert (outage.start, outage.end) == (T0, T0 + dt.timedelta(minutes=5))
    with cw.database.unit() as session:
        actions = list(
            session.execute(
                select(HistoryEntry.action)
                .where(HistoryEntry.object_id == vm_id)
                .order_by(HistoryEntry.seq)
            ).scalars()
        )
    assert actions[-5:] == ["vm.sync", "vm.outage.open", "vm.start", "vm.start", "vm.outage.close"]


def test_regression_virsh_destroy_is_not_recorded_as_guest_shutdown(cw: ComputeWorld) -> None:
    """Issue 9.11: a guest forced off from the host (``virsh destroy``: libvirt's stop
    reason VIR_DOMAIN_SHUTOFF_DESTROYED) was recorded as cause "guest-shutdown", the
    client's own act (002 §6 excusable). The cause now follows the reason libvirt
    reports: destroyed → "destroyed", a guest powering off → "guest-shutdown"."""
    set_now(T0)
    destroyed, owner, host = running_vm(cw, "web-1")
    with cw.database.unit() as session:
        contract_id = session.get(Vm, destroyed).contract_id  # type: ignore[union-attr]
        vm, op = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image="base", name="web-2"),
        )
        shut, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    hv = cw.runtime.hypervisor(host.uri)
    hv.destroy(uuid.UUID(destroyed))  # what `virsh destroy` does
    hv.shutdown(uuid.UUID(shut), timeout_s=5)  # the guest's own power-off
    assert hv.status(uuid.UUID(destroyed)).stop_reason is StopReason.DESTROYED
    assert hv.status(uuid.UUID(shut)).stop_reason is StopReason.SHUTDOWN

    set_now(T0 + dt.timedelta(minutes=1))
    report = reconcile_pass(cw)
    assert sorted(report.outages_opened) == sorted([destroyed, shut])
    assert [o.cause for o in outages(cw, destroyed)] == ["destroyed"]
    assert [o.cause for o in outages(cw, shut)] == ["guest-shutdown"]
    assert state(cw, destroyed) == ("stopped", "shutoff")


def test_paused_and_vanished_domains(cw: ComputeWorld) -> None:
    """Paused by someone else → error with an outage, closed when it runs again; a
    domain that vanished → error, outage 'domain-missing'."""
    vm_id, _owner, host = running_vm(cw)
    hv = cw.runtime.hypervisor(host.uri)
    hv.pause(uuid.UUID(vm_id))
    reconcile_pass(cw)
    assert state(cw, vm_id) == ("error", "paused")
    hv.resume(uuid.UUID(vm_id))
    report = reconcile_pass(cw)
    assert report.outages_closed == [vm_id]
    assert state(cw, vm_id) == ("running", "running")
    [paused] = outages(cw, vm_id)
    assert paused.cause == "paused" and paused.end is not None

    hv.undefine(uuid.UUID(vm_id))
    reconcile_pass(cw)
    assert state(cw, vm_id) == ("error", "unknown")
    assert [o.cause for o in outages(cw, vm_id)] == ["paused", "domain-missing"]


def test_unknown_domains_are_reported_once_and_left_alone(cw: ComputeWorld) -> None:
    vm_id, _owner, host = running_vm(cw)
    hv = cw.runtime.hypervisor(host.uri)
    stranger = uuid.uuid4()
    hv.create(
        DomainSpec(
            name="someone-elses",
            uuid=stranger,
            vcpus=1,
            memory_mib=64,
            disk=Path("/srv/elsewhere.qcow2"),
            boot=DiskBoot(),
        )
    )
    first = reconcile_pass(cw)
    second = reconcile_pass(cw)
    assert (
        first.unknown_domains
        == second.unknown_domains
        == [(host.id, str(stranger), "someone-elses")]
    )
    assert hv.status(stranger).power_state is PowerState.RUNNING  # never touched
    with cw.database.unit() as session:
        reported = session.execute(
            select(HistoryEntry).where(HistoryEntry.object_id == str(stranger))
        ).scalars()
        assert [e.action for e in reported] == ["host.unknown_domain"]
    assert state(cw, vm_id) == ("running", "running")


def test_unreachable_host_means_unknown_not_stopped(cw: ComputeWorld, tmp_path: Path) -> None:
    """A host that cannot be reached (its libvirt socket gone): its VMs' power state is
    unknown, their vm_state unchanged, and for the SLA each VM that should run is down
    (issue 22: an outage ``host-unreachable`` from the host's last sighting); back
    again, all as before and the outage closed."""
    vm_id, _owner, host = running_vm(cw)
    lost = f"qemu:///system?socket={tmp_path}/no-such-libvirt-sock"
    with cw.database.unit() as session:
        session.execute(update(Host).where(Host.id == host.id).values(uri=lost))
    report = reconcile_pass(cw)
    assert report.unreachable == [host.id]
    assert state(cw, vm_id) == ("running", "unknown")
    [down] = outages(cw, vm_id)
    assert (down.cause, down.end) == ("host-unreachable", None)
    with cw.database.unit() as session:
        row = session.get(Host, host.id)
        assert row is not None and row.reachable is False
        session.execute(update(Host).where(Host.id == host.id).values(uri=host.uri))
    report = reconcile_pass(cw)
    assert report.unreachable == [] and report.changed == []
    assert state(cw, vm_id) == ("running", "running")
    [down] = outages(cw, vm_id)
    assert down.end is not None and down.end >= down.start
    with cw.database.unit() as session:
        row = session.get(Host, host.id)
        assert row is not None and row.reachable is True
        actions = list(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == host.id)
            ).scalars()
        )
    assert actions[-2:] == ["host.unreachable", "host.reachable"]


def test_vms_with_an_operation_in_flight_are_left_to_it(cw: ComputeWorld) -> None:
    vm_id, owner, host = running_vm(cw)
    with cw.database.unit() as session:
        _vm, op = vms.request(session, owner, cw.runtime, vm_id, Action.STOP)
        op_id = op.id
    cw.runtime.hypervisor(host.uri).destroy(uuid.UUID(vm_id))
    assert reconcile_pass(cw).changed == []
    assert outages(cw, vm_id) == []
    assert cw.run(op_id) == "succeeded"
    assert state(cw, vm_id) == ("stopped", "shutoff")


def test_passes_of_a_minute() -> None:
    """Every 30 s → two passes a minute; every 120 s → one pass every other minute."""
    assert reconcile.passes_this_minute(30, 7) == [0, 30]
    assert reconcile.passes_this_minute(20, 7) == [0, 20, 40]
    assert reconcile.passes_this_minute(120, 7) == []
    assert reconcile.passes_this_minute(120, 8) == [0]
    assert reconcile.passes_this_minute(60, 7) == [0]


def test_reconcile_over_500_domains(cw: ComputeWorld) -> None:
    """500 VMs on one simulated host, made through the real create job: one pass reads
    them in one bulk call; a third destroyed and a third paused behind our back are all
    marked with their outages, the rest untouched."""
    cw.runtime.compute.disk_overcommit = Decimal(100)  # thin qcow2 overlays
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    host = cw.host(cpus=512, ram_mib=1024 * 1024)
    cw.image()
    owner = cw.owner(client_id)[1]
    ops = []
    for n in range(500):
        with cw.database.unit() as session:
            _vm, op = vms.create_vm(
                session,
                owner,
                cw.runtime,
                cw.offers,
                schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name=f"v{n}"),
            )
            ops.append(op.id)
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(cw.run, ops)) == {"succeeded"}
    with cw.database.unit() as session:
        ids = list(session.execute(select(Vm.id).order_by(Vm.name)).scalars())
    hv = cw.runtime.hypervisor(host.uri)
    for vm_id in ids[0::3]:
        hv.destroy(uuid.UUID(vm_id))
    for vm_id in ids[1::3]:
        hv.pause(uuid.UUID(vm_id))

    started = time.monotonic()
    report = reconcile_pass(cw)
    took = time.monotonic() - started
    print(f"\npass over 500 domains, 333 changed: {took * 1000:.0f} ms")
    assert report.vms_checked == 500
    assert len(report.changed) == len(ids[0::3]) + len(ids[1::3])
    assert sorted(report.outages_opened) == sorted(ids[0::3] + ids[1::3])
    with cw.database.unit() as session:
        by_state = dict(
            session.execute(select(Vm.id, Vm.vm_state)).tuples().all()  # type: ignore[arg-type]
        )
    assert {by_state[i] for i in ids[0::3]} == {"stopped"}
    assert {by_state[i] for i in ids[1::3]} == {"error"}
    assert {by_state[i] for i in ids[2::3]} == {"running"}
    started = time.monotonic()
    again = reconcile_pass(cw)
    print(f"steady pass over 500 domains: {(time.monotonic() - started) * 1000:.0f} ms")
    assert (again.changed, again.outages_opened) == ([], [])
