"""Issue 9.8 (000 §8): an authorised extension creates its VMs (and removes them after
its end and the grace period), raises one VM's resources and puts them back, and the
owner's automatic policy orders extensions within its budget.

VMs run on libvirt's in-process test driver (``test://`` hosts) through compute's real
services and operations; the test runs the queued operations as a worker would."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import autoscale, extension_vms, metering
from nuages.billing.models import Extension, LedgerEntry
from nuages.compute import schemas as compute_schemas
from nuages.compute.hypervisor import DomainNotFound, PowerState
from nuages.compute.models import Host, Operation, Vm
from nuages.compute.runtime import set_runtime
from nuages.compute.services import vms as compute_vms
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.jobs import tasks
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import Funded, at, funded
from tests.compute.test_api_worker import start_worker, wait_op  # noqa: F401
from tests.compute.world import ComputeWorld, make_runtime
from tests.factories import World


@pytest.fixture
def cw(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[ComputeWorld]:
    """Compute over the test database; operations run when the test says."""
    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    # Billing asks compute without a runtime: compute runs with the process's.
    previous = set_runtime(runtime)
    try:
        yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        set_runtime(previous)
        runtime.close()


def _run_queued(cw: ComputeWorld) -> int:
    with cw.database.unit() as session:
        queued = list(
            session.execute(
                select(Operation.id).where(Operation.state == "queued").order_by(Operation.id)
            ).scalars()
        )
    for operation_id in queued:
        assert cw.run(operation_id) == "succeeded"
    return len(queued)


def _pass(cw: ComputeWorld, when: str) -> extension_vms.PassReport:
    return extension_vms.run_pass(cw.database.unit, cw.offers, at(when))


def _setup(client: TestClient, world: World, cw: ComputeWorld, **host: Any) -> tuple[Funded, Vm]:
    """A funded isstar-cloud contract with one running vm-s of its own, made at 09:00."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    cw.host(**host)
    image = cw.image()
    with cw.database.unit() as session:
        vm, operation = compute_vms.create_vm(
            session,
            cw.principal(f.owner),
            cw.runtime,
            cw.offers,
            compute_schemas.VmCreate(
                contract_id=f.contract_id, flavour="vm-s", image=image.id, name="web"
            ),
        )
    assert cw.run(operation.id) == "succeeded"
    return f, vm


def _order(client: TestClient, f: Funded, **change: Any) -> dict[str, Any]:
    body = {
        "kind": "vms",
        "item_id": "vm-m",
        "quantity": 2,
        "starts_at": "2026-11-02T10:00:00Z",
        "ends_at": "2026-11-02T13:00:00Z",
    } | change
    r = client.post(
        f"/api/v1/contracts/{f.contract_id}/extensions", json=body, headers=f.owner.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "approved"
    out: dict[str, Any] = r.json()
    return out


def _ext_vms(database: Database, ext_id: str) -> list[Vm]:
    with database.unit() as session:
        return list(
            session.execute(select(Vm).where(Vm.extension_id == ext_id).order_by(Vm.name))
            .scalars()
            .all()
        )


def _domain(cw: ComputeWorld, vm: Vm) -> Any:
    with cw.database.unit() as session:
        host = session.get(Host, vm.host_id)
        assert host is not None
        uri = host.uri
    return cw.runtime.hypervisor(uri).status(uuid.UUID(vm.id))


def _usage(database: Database, resource_id: str) -> list[tuple[Any, Decimal, Decimal]]:
    with database.unit() as session:
        return [
            (r[0], r[1], r[2])
            for r in session.execute(
                select(LedgerEntry.period_start, LedgerEntry.amount, LedgerEntry.quantity)
                .where(LedgerEntry.resource_id == resource_id)
                .order_by(LedgerEntry.period_start)
            ).all()
        ]


def test_regression_approved_vm_extensions_are_billed_but_create_no_vm(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §8: 2 × vm-m over [10:00, 13:00), authorised at once. At 09:30 nothing is
    made; at 10:00 compute is asked for two vm-m from the contract's image, marked with
    the extension's id, and they run on the host. Billed as the extension's VM-hours:
    each of the 3 hours 2 × 0.0480 = 0.096 (quantity 2 h), never as VMs of their own.
    At 13:30 (in the 60-minute grace) they still run and cost nothing; at 14:00 they
    are deleted through compute, their domains gone, and the extension is released."""
    f, model = _setup(client, world, cw)
    ext = _order(client, f)
    assert _pass(cw, "2026-11-02 09:30").created == []
    set_now(at("2026-11-02 10:00"))
    report = _pass(cw, "2026-11-02 10:00")
    assert len(report.created) == 2
    assert _run_queued(cw) == 2
    made = _ext_vms(database, ext["id"])
    assert [(v.flavour_id, v.image_id, v.vm_state) for v in made] == [
        ("vm-m", model.image_id, "running")
    ] * 2
    assert all(_domain(cw, v).power_state is PowerState.RUNNING for v in made)
    assert _pass(cw, "2026-11-02 10:01").created == []  # made once

    set_now(at("2026-11-02 13:30"))
    assert _pass(cw, "2026-11-02 13:30").deleted == []  # the grace period
    assert {v.vm_state for v in _ext_vms(database, ext["id"])} == {"running"}
    set_now(at("2026-11-02 14:00"))
    assert len(_pass(cw, "2026-11-02 14:00").deleted) == 2
    assert _run_queued(cw) == 2
    assert {v.vm_state for v in _ext_vms(database, ext["id"])} == {"deleted"}
    for vm in made:
        with pytest.raises(DomainNotFound):
            _domain(cw, vm)
    assert _pass(cw, "2026-11-02 14:01").released == [ext["id"]]

    set_now(at("2026-11-02 15:00"))  # metering takes no time after the present
    metering.run(database.unit, at("2026-11-02 15:00"), registry=cw.offers)
    rows = _usage(database, ext["id"])
    assert [r[0].hour for r in rows] == [10, 11, 12]
    assert [r[1] for r in rows] == [Decimal("-0.096")] * 3
    assert [r[2] for r in rows] == [Decimal(2)] * 3
    assert all(_usage(database, v.id) == [] for v in made)  # not billed as plain VMs
    assert len(_usage(database, model.id)) == 6  # the contract's own VM, 09:00–15:00
    with database.unit() as session:
        actions = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == ext["id"])
            ).scalars()
        )
    assert {"extension.vm_create", "extension.vm_delete", "extension.released"} <= actions


def test_vm_extension_bills_only_the_vms_compute_had_room_for(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §8 read for the client (SPEC §17): billed per extra VM-hour of VMs that exist.
    A 6 GiB host holding the contract's vm-s (1 GiB) has room for one vm-m (4 GiB) of
    the two ordered: one is made and kept, the other is refused and reported (tried
    again at the next pass); [10:00, 13:00) is billed 1 × 0.0480 an hour, not 2 ×."""
    f, _model = _setup(client, world, cw, cpus=8, ram_mib=6144)
    ext = _order(client, f)
    set_now(at("2026-11-02 10:00"))
    report = _pass(cw, "2026-11-02 10:00")
    assert len(report.created) == 1 and len(report.problems) == 1, report
    assert _run_queued(cw) == 1
    again = _pass(cw, "2026-11-02 10:01")
    assert again.created == [] and len(again.problems) == 1
    set_now(at("2026-11-02 13:00"))  # metering takes no time after the present
    metering.run(database.unit, at("2026-11-02 13:00"), registry=cw.offers)
    rows = _usage(database, ext["id"])
    assert [(r[1], r[2]) for r in rows] == [(Decimal("-0.048"), Decimal(1))] * 3


def _settle_all(cw: ComputeWorld, when: str, rounds: int = 4) -> None:
    # Resources change in steps (stop, resize, start), one operation per pass.
    for _ in range(rounds):
        _pass(cw, when)
        if _run_queued(cw) == 0:
            return


def test_000_s8_resources_extension_raises_a_vm_and_puts_it_back(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §8 ("augmenter les ressources allouées"): the running vm-s (1 vCPU, 1 GiB)
    gets vm-m's 2 vCPU and 4 GiB over [10:00, 12:00) — stopped, resized, started again by
    compute — keeping its flavour and 20 GiB disk; each hour costs the difference
    0.0480 − 0.0150 = 0.033 on the extension, the VM itself stays billed as a vm-s.
    After 12:00 + 60 min grace it gets 1 vCPU and 1 GiB back, running, released."""
    f, model = _setup(client, world, cw)
    ext = _order(client, f, kind="resources", quantity=1, vm_id=model.id,
                 ends_at="2026-11-02T12:00:00Z")  # fmt: skip
    set_now(at("2026-11-02 10:00"))
    _settle_all(cw, "2026-11-02 10:00")
    with database.unit() as session:
        vm = session.get(Vm, model.id)
        assert vm is not None
        assert (vm.vcpus, vm.ram_mib, vm.flavour_id, vm.disk_gib, vm.vm_state) == (
            2, 4096, "vm-s", 20, "running")  # fmt: skip
    status = _domain(cw, model)
    assert (status.vcpus, status.memory_mib, status.power_state) == (2, 4096, PowerState.RUNNING)
    set_now(at("2026-11-02 13:00"))
    _settle_all(cw, "2026-11-02 13:00")
    _pass(cw, "2026-11-02 13:01")
    with database.unit() as session:
        vm = session.get(Vm, model.id)
        row = session.get(Extension, ext["id"])
        assert vm is not None and row is not None
        assert (vm.vcpus, vm.ram_mib, vm.vm_state) == (1, 1024, "running")
        assert row.released_at is not None
    metering.run(database.unit, at("2026-11-02 13:00"), registry=cw.offers)
    assert [r[1] for r in _usage(database, ext["id"])] == [Decimal("-0.033")] * 2
    assert {r[1] for r in _usage(database, model.id)} == {Decimal("-0.015")}


def test_resources_extension_refused_for_a_smaller_flavour_or_another_vm(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """A resources extension only raises: a flavour with fewer resources, the VM's own,
    no VM, or two at once on one VM: 422, nothing written."""
    f, model = _setup(client, world, cw)
    url = f"/api/v1/contracts/{f.contract_id}/extensions"
    base = {"kind": "resources", "quantity": 1, "starts_at": "2026-11-02T10:00:00Z",
            "ends_at": "2026-11-02T12:00:00Z"}  # fmt: skip
    for change in ({"item_id": "vm-s", "vm_id": model.id}, {"item_id": "vm-m"},
                   {"item_id": "vm-m", "vm_id": "nope"}):  # fmt: skip
        r = client.post(url, json=base | change, headers=f.owner.headers)
        assert r.status_code == 422, (change, r.text)
    _order(client, f, kind="resources", quantity=1, vm_id=model.id)
    r = client.post(
        url, json=base | {"item_id": "vm-l", "vm_id": model.id}, headers=f.owner.headers
    )
    assert r.status_code == 422 and "another resources extension" in r.text


def _policy(client: TestClient, f: Funded, **change: Any) -> None:
    body = {"enabled": True, "cpu_pct": 85, "sustained_minutes": 15, "flavour_id": "vm-m",
            "quantity": 1, "duration_hours": 6, "monthly_budget": "0.50"} | change  # fmt: skip
    r = client.put(
        f"/api/v1/contracts/{f.contract_id}/extension-policy", json=body, headers=f.owner.headers
    )
    assert r.status_code == 200, r.text


def _autoscale(cw: ComputeWorld, when: str) -> autoscale.AutoscaleReport:
    set_now(at(when))
    report = autoscale.run_pass(cw.database.unit, cw.offers, at(when))
    _pass(cw, when)
    _run_queued(cw)
    return report


def test_000_s8_automatic_policy_orders_within_its_budget(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §8 "automatique en cas de manque de ressources": libvirt's test driver runs
    its domains busy on one CPU, so the 1-vCPU vm-s is at ~100 % CPU. Policy: 85 % for
    15 min → 1 × vm-m for 6 h, budget 0.50 a month. Readings at 09:00, 09:05, 09:10 do
    not cover 15 minutes yet; at 09:15 they do: one extension (6 × 0.048 = 0.288) is
    ordered and its VM made. Still loaded after it ends and its grace (16:15), the
    next would take the month to 0.576 > 0.50: held, never ordered."""
    f, _model = _setup(client, world, cw)
    _policy(client, f)
    for when in ("09:00", "09:05", "09:10"):
        assert _autoscale(cw, f"2026-11-02 {when}").ordered == []
    report = _autoscale(cw, "2026-11-02 09:15")
    assert len(report.ordered) == 1
    (ext_id,) = report.ordered
    with database.unit() as session:
        ext = session.get(Extension, ext_id)
        assert ext is not None and ext.state == "approved" and ext.policy_id is not None
        assert (ext.item_id, ext.quantity, ext.ends_at) == ("vm-m", 1, at("2026-11-02 15:15"))
    assert [v.vm_state for v in _ext_vms(database, ext_id)] == ["running"]
    assert _autoscale(cw, "2026-11-02 09:20").ordered == []  # one at a time
    held = []
    for when in ("16:15", "16:20", "16:25", "16:30", "16:35"):
        r = _autoscale(cw, f"2026-11-02 {when}")
        assert r.ordered == []
        held += r.held
    assert held and "above the budget of 0.50" in held[0]
    with database.unit() as session:
        count = len(session.execute(select(Extension.id)).all())
    assert count == 1


def test_000_s8_automatic_policy_quiet_below_its_threshold(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """The same VM (one CPU busy of one) under a 2-vCPU flavour would be at 50 %: with a
    vm-m of its own (2 vCPU, test driver busy on one) and a 60 % threshold, 20 minutes of
    readings order nothing."""
    set_now(at("2026-11-02 09:00"))
    f, model = _setup(client, world, cw)
    with database.unit() as session:
        _vm, operation = compute_vms.create_vm(
            session, cw.principal(f.owner), cw.runtime, cw.offers,
            compute_schemas.VmCreate(contract_id=f.contract_id, flavour="vm-m",
                                     image=model.image_id, name="big"),
        )  # fmt: skip
    assert cw.run(operation.id) == "succeeded"
    # Only the 2-vCPU VM is read: stop the vm-s.
    with database.unit() as session:
        _vm, stop = compute_vms.request(
            session, cw.principal(f.owner), cw.runtime, model.id, compute_vms.Action.STOP
        )
    assert cw.run(stop.id) == "succeeded"
    _policy(client, f, cpu_pct=60)
    for minute in range(0, 25, 5):
        assert _autoscale(cw, f"2026-11-02 09:{minute:02d}").ordered == []
    with database.unit() as session:
        use = autoscale.sustained_use(session, f.contract_id, at("2026-11-02 09:20"), 15)
    assert use is not None and all(Decimal("0.45") < u < Decimal("0.55") for u in use), use


def test_000_s8_extension_vms_run_through_the_real_job_queue(
    client: TestClient,
    world: World,
    database: Database,
    cw: ComputeWorld,
    start_worker: Callable[[], subprocess.Popen[bytes]],  # noqa: F811 (the fixture)
) -> None:
    """The extension pass asks compute like any client: with the queue executor the two
    create operations are enqueued on huey after the commit (none before), and a real
    ``nuages worker`` process runs them: both extension VMs end up running."""
    f, _model = _setup(client, world, cw)
    ext = _order(client, f)
    queue_runtime = make_runtime(cw.tmp / "data", database, executor="queue")
    set_runtime(queue_runtime)
    try:
        set_now(at("2026-11-02 10:00"))
        report = extension_vms.run_pass(database.unit, cw.offers, at("2026-11-02 10:00"))
    finally:
        set_runtime(cw.runtime)
        queue_runtime.close()
    assert len(report.created) == 2
    # Enqueued after the commit (the notices' delivery pass may be queued beside them).
    operations = [t for t in tasks.huey.pending() if t.name.endswith("compute_operation")]
    assert len(operations) == 2
    start_worker()
    for vm_id in report.created:
        with database.unit() as session:
            op_id = session.execute(
                select(Operation.id).where(Operation.vm_id == vm_id)
            ).scalar_one()
        assert wait_op(client, f.owner.headers, op_id)["state"] == "succeeded"
    assert {v.vm_state for v in _ext_vms(database, ext["id"])} == {"running"}
