"""A network cut on a contractual ground shares the contract's holds (issue 14 "Depends
on"; 000 §11.1, 004 §7, §9): a network-scope hold, a partial suspension — recorded with
the contract's holds, billed, credited back for the cut VMs only when lifted as
wrongful — that neither suspends the contract nor pauses its other VMs. On both
databases, hosts simulated by libvirt's test driver."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import metering, wrongful
from nuages.billing.models import LedgerEntry
from nuages.compute import schemas as compute_schemas
from nuages.compute.models import Operation, Vm
from nuages.compute.services import holds as compute_holds
from nuages.compute.services import vms as compute_vms
from nuages.contracts import holds
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.kernel import jobs
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import Funded, at, funded
from tests.compute.world import ComputeWorld, holds_inline, make_runtime
from tests.factories import World


@pytest.fixture
def cw(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[ComputeWorld]:
    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    try:
        with holds_inline(runtime):
            yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()


def _vms(cw: ComputeWorld, f: Funded, count: int) -> list[str]:
    cw.host()
    image = cw.image()
    owner = cw.principal(f.owner)
    ids = []
    for i in range(count):
        with cw.database.unit() as session:
            vm, operation = compute_vms.create_vm(
                session,
                owner,
                cw.runtime,
                cw.offers,
                compute_schemas.VmCreate(
                    contract_id=f.contract_id, flavour="vm-s", image=image.id, name=f"web-{i}"
                ),
            )
        assert cw.run(operation.id) == "succeeded"
        ids.append(vm.id)
    return ids


def _holds(database: Database, contract_id: str) -> list[ContractHold]:
    with database.unit() as session:
        found = session.execute(
            select(ContractHold).where(ContractHold.contract_id == contract_id)
        ).scalars()
        return list(found)


def test_000_s11_1_cut_on_a_contractual_ground_is_a_network_hold_not_a_suspension(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §11.1 (isstar-cloud's ``malicious-traffic`` suspension ground): blocking one
    VM opens a network-scope hold on its contract, with the terms' clause; the contract
    stays active, the other VM keeps running, nothing is paused (reconciliation
    included), the client may still act; staff restoring the VM lift the hold."""
    set_now(at("2026-11-02 09:30"))
    f = funded(world, client)
    cut_vm, other = _vms(cw, f, 2)
    set_now(at("2026-11-02 11:00"))
    r = client.post(
        f"/api/v1/vms/{cut_vm}/network-cut",
        json={"ground": "malicious-traffic", "reason": "SYN flood"},
        headers=f.admin.headers,
    )
    assert r.status_code == 200, r.text
    (hold,) = _holds(database, f.contract_id)
    assert (hold.scope, hold.ground, hold.lifted_at) == ("network", "malicious-traffic", None)
    assert "11.1" in hold.clause
    listed = client.get(f"/api/v1/contracts/{f.contract_id}/holds", headers=f.admin.headers)
    assert [h["scope"] for h in listed.json()] == ["network"]
    compute_holds.enforce_all(database, cw.runtime)
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None and contract.state == "active"
        states = dict(session.execute(select(Vm.id, Vm.vm_state)).all())
        assert states == {cut_vm: "running", other: "running"}
        queued = session.execute(select(Operation.id).where(Operation.state == "queued"))
        assert queued.first() is None
        holds.refuse_if_held(session, contract, "act")  # the client is not locked out
    set_now(at("2026-11-02 12:00"))
    r = client.post(
        f"/api/v1/vms/{cut_vm}/network-restore",
        json={"reason": "flood stopped"},
        headers=f.admin.headers,
    )
    assert r.status_code == 200 and r.json()["cut"] is False
    (hold,) = _holds(database, f.contract_id)
    assert hold.lifted_at == at("2026-11-02 12:00") and hold.lift_reason == "flood stopped"
    assert hold.wrongful is False


def test_000_s11_1_wrongful_network_cut_gives_back_the_cut_vms_time_only(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §11.1: billed unless manifestly wrongful. Two vm-s (0.0150/h) run from
    10:00; staff cut ONE at 11:00 (malicious traffic); metering debits to 14:00; at
    14:20 staff restore it as wrongful: only the cut VM's hours [11, 14) come back,
    3 × 0.0150 = 0.045 (not the contract's 0.09: the other VM was not suspended); once
    (the job run again writes nothing new)."""
    set_now(at("2026-11-02 09:30"))
    f = funded(world, client)
    set_now(at("2026-11-02 10:00"))
    cut_vm, _other = _vms(cw, f, 2)
    set_now(at("2026-11-02 11:00"))
    r = client.post(
        f"/api/v1/vms/{cut_vm}/network-cut",
        json={"ground": "malicious-traffic", "reason": "flood reported"},
        headers=f.admin.headers,
    )
    assert r.status_code == 200, r.text
    (hold,) = _holds(database, f.contract_id)
    set_now(at("2026-11-02 14:10"))
    metering.run(database.unit, at("2026-11-02 14:10"), registry=cw.offers)
    set_now(at("2026-11-02 14:20"))
    credit = lambda hid: wrongful.run_job(database, cw.offers, hid)  # noqa: E731
    with jobs.handled("billing_credit_wrongful_hold", credit):
        r = client.post(
            f"/api/v1/vms/{cut_vm}/network-restore",
            json={"reason": "the flood came from elsewhere", "wrongful": True},
            headers=f.admin.headers,
        )
    assert r.status_code == 200, r.text
    assert wrongful.run_job(database, cw.offers, hold.id) is not None  # again: same entry
    with database.unit() as session:
        credits = (
            session.execute(
                select(LedgerEntry.amount).where(
                    LedgerEntry.contract_id == f.contract_id, LedgerEntry.kind == "credit"
                )
            )
            .scalars()
            .all()
        )
    assert credits == [Decimal("0.045")]
