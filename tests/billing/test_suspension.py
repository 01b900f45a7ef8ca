"""Negative balance (000 §11.2, §5): the contract's VMs are paused through compute's
services, a notice is recorded, the negative span is kept for the SLA, and a top-up
bringing the balance back to zero or above resumes everything by itself.

VMs run on libvirt's in-process test driver (``test://`` hosts) through compute's real
services and operations; ``test_real_guest_paused_and_resumed`` does the same with a
real QEMU guest (``-m vm``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import balance, metering
from nuages.billing.models import NegativeBalancePeriod
from nuages.billing.settings import BillingSettings
from nuages.compute import schemas as compute_schemas
from nuages.compute.hypervisor import PowerState
from nuages.compute.models import Host, Operation, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import vms as compute_vms
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import Funded, at, funded, transfer
from tests.compute.world import ComputeWorld, holds_inline, make_runtime
from tests.factories import World

SETTINGS = BillingSettings()


@pytest.fixture
def cw(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[ComputeWorld]:
    """Compute over the test database with operations run by the test; the app's
    requests (top-ups) use the same runtime."""
    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    try:
        with holds_inline(runtime):
            yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()


def _create_vms(cw: ComputeWorld, f: Funded, count: int, image: str) -> list[str]:
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
                    contract_id=f.contract_id, flavour="vm-s", image=image, name=f"web-{i}"
                ),
            )
        assert cw.run(operation.id) == "succeeded"
        ids.append(vm.id)
    return ids


def _run_queued(cw: ComputeWorld) -> int:
    """Run every queued operation, as a worker would."""
    with cw.database.unit() as session:
        queued = list(
            session.execute(select(Operation.id).where(Operation.state == "queued")).scalars()
        )
    for operation_id in queued:
        assert cw.run(operation_id) == "succeeded"
    return len(queued)


def _vm_states(database: Database, ids: list[str]) -> set[tuple[str, str, str | None]]:
    with database.unit() as session:
        rows = session.execute(
            select(Vm.vm_state, Vm.power_state, Vm.suspended_reason).where(Vm.id.in_(ids))
        ).all()
        return {tuple(r) for r in rows}  # type: ignore[misc]


def _power(runtime: ComputeRuntime, database: Database, vm_id: str) -> PowerState:
    with database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None and vm.host_id is not None
        host = session.get(Host, vm.host_id)
        assert host is not None
        uri = host.uri
    return runtime.hypervisor(uri).status(uuid.UUID(vm_id)).power_state


def _drain(f: Funded, client: TestClient, keep: str) -> None:
    """A staff fee leaving ``keep`` EUR on the account."""
    r = client.get(f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers)
    left = Decimal(r.json()["balance"]) - Decimal(keep)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/adjustments",
        json={"kind": "fee", "amount": str(left), "reason": "test: spend the balance"},
        headers=f.admin.headers,
    )
    assert r.status_code == 201, r.text


def test_000_s11_2_negative_balance_pauses_vms_and_top_up_resumes_them(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """Two vm-s (0.0150/h each) on 0.01 EUR: the hour [11, 12) costs 0.03, the balance
    goes to −0.02 at 12:00 (000 §11.2, suspend_without_notice): the contract is
    suspended, both VMs paused by compute with disks and addresses kept, a notice
    recorded, and [12:00, top-up) kept as a negative span (000 §5). A 5.00 transfer at
    14:30 resumes contract and VMs; the suspended hours were billed (000 §11.1)."""
    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    ids = _create_vms(cw, f, 2, image.id)
    _drain(f, client, "0.01")
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    report = metering.run(database.unit, at("2026-11-02 12:10"), registry=cw.offers)
    assert report.suspended == [f.contract_id]
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None and contract.state == "suspended"
        notices = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == f.contract_id)
            ).scalars()
        )
        assert {"notice.negative_balance", "notice.suspension"} <= notices
    assert _run_queued(cw) == 2
    assert _vm_states(database, ids) == {("suspended", "paused", "hold:negative-balance")}
    assert all(_power(cw.runtime, database, vm) is PowerState.PAUSED for vm in ids)
    with database.unit() as session:
        kept = session.execute(select(Vm.ssh_port).where(Vm.id.in_(ids))).scalars().all()
        assert all(port is not None for port in kept)  # the address stays leased
    # A run later on changes nothing more: suspension happens once.
    set_now(at("2026-11-02 14:10"))  # metering runs as of now (17.8)
    again = metering.run(database.unit, at("2026-11-02 14:10"), registry=cw.offers)
    assert again.suspended == [] and _run_queued(cw) == 0

    set_now(at("2026-11-02 14:30"))
    assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None and contract.state == "active"
        spans = balance.negative_periods(
            session, f.contract_id, at("2026-11-02 00:00"), at("2026-11-03 00:00")
        )
    assert spans == [(at("2026-11-02 12:00"), at("2026-11-02 14:30"))]
    assert _run_queued(cw) == 2
    assert _vm_states(database, ids) == {("running", "running", None)}
    assert all(_power(cw.runtime, database, vm) is PowerState.RUNNING for vm in ids)
    # 000 §11.1: suspension is billed: 2 VMs × 3 h (11–14) × 0.0150 = 0.09 in all.
    r = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/usage/totals", headers=f.owner.headers
    )
    assert sum(Decimal(t["amount"]) for t in r.json()) == Decimal("-0.09")
    r = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/negative-periods"
        "?since=2026-11-02T00:00:00Z&until=2026-11-03T00:00:00Z",
        headers=f.owner.headers,
    )
    assert r.json() == [{"start": "2026-11-02T12:00:00Z", "end": "2026-11-02T14:30:00Z"}]


def test_only_billings_own_suspension_is_lifted(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """A VM staff suspended for malicious traffic (000 §11.1) stays suspended when a
    top-up ends a negative-balance suspension."""
    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    abuse, normal = _create_vms(cw, f, 2, image.id)
    from tests.compute.world import CLI

    with database.unit() as session:
        compute_vms.suspend_vm(session, CLI, cw.runtime, abuse, "malicious-traffic")
    _run_queued(cw)
    _drain(f, client, "0.00")
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 12:10"), registry=cw.offers)
    _run_queued(cw)
    assert _vm_states(database, [normal]) == {("suspended", "paused", "hold:negative-balance")}
    set_now(at("2026-11-02 13:00"))
    assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
    _run_queued(cw)
    assert _vm_states(database, [normal]) == {("running", "running", None)}
    assert _vm_states(database, [abuse]) == {("suspended", "paused", "malicious-traffic")}


def test_low_balance_warning_fires_once_before_money_runs_out(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """Warning horizon 72 h (NUAGES_BILLING_LOW_BALANCE_HOURS): one vm-s burns 0.015/h,
    so 1.00 EUR lasts 66 h < 72 h → one notice.low_balance, not repeated next hour; a
    top-up to 20.00 EUR (1 333 h) clears it."""
    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    _create_vms(cw, f, 1, image.id)
    _drain(f, client, "1.015")
    set_now(at("2026-11-02 12:05"))  # metering runs as of now (17.8)
    first = metering.run(database.unit, at("2026-11-02 12:05"), registry=cw.offers,
                         settings=SETTINGS)  # fmt: skip
    assert first.warned == [f.contract_id]
    set_now(at("2026-11-02 13:05"))  # metering runs as of now (17.8)
    second = metering.run(database.unit, at("2026-11-02 13:05"), registry=cw.offers,
                          settings=SETTINGS)  # fmt: skip
    assert second.warned == []
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    assert Decimal(account["hourly_burn"]) == Decimal("0.015")
    assert account["runs_out_at"] is not None
    set_now(at("2026-11-02 13:30"))
    assert transfer(client, f.admin, f.contract_id, "20.00").status_code == 201
    with database.unit() as session:
        from nuages.billing.models import BillingAccount

        account_row = session.get(BillingAccount, f.contract_id)
        assert account_row is not None and account_row.low_balance_warned_at is None
        warned = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "notice.low_balance")
        ).scalars()
        assert len(list(warned)) == 1


def test_negative_periods_feed_the_sla_calculator(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §5: an outage while the account is negative does not count. An outage
    12:30–13:30 half inside the negative span [12:00, 13:00) counts 30 minutes."""
    from nuages.terms.calc.sla import without_penalty_suspension

    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    _create_vms(cw, f, 1, image.id)
    _drain(f, client, "0.00")
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 12:10"), registry=cw.offers)
    set_now(at("2026-11-02 13:00"))
    assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
    with database.unit() as session:
        spans = balance.negative_periods(
            session, f.contract_id, at("2026-11-01 00:00"), at("2026-12-01 00:00")
        )
        rows = session.execute(select(NegativeBalancePeriod)).scalars().all()
        assert len(rows) == 1 and rows[0].ended_at == at("2026-11-02 13:00")
    counted = without_penalty_suspension([(at("2026-11-02 12:30"), at("2026-11-02 13:30"))], spans)
    assert counted == [(at("2026-11-02 13:00"), at("2026-11-02 13:30"))]
    assert sum((e - s for s, e in counted), dt.timedelta()) == dt.timedelta(minutes=30)


def test_two_holds_negative_balance_lifted_first_vms_stay_paused_until_the_second(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """Holds (SPEC §11): billing's negative-balance hold (000 §11.2) and a staff hold on
    malicious traffic (000 §11.1) at once. The top-up lifts billing's hold only: the
    contract stays suspended and its VMs paused until staff lift the second; then the
    VMs come back. (Under the shipped offers a prepaid contract has no unpaid-invoice
    ground: its second hold here is the staff one.)"""
    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    ids = _create_vms(cw, f, 2, image.id)
    _drain(f, client, "0.01")
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 12:10"), registry=cw.offers)
    assert _run_queued(cw) == 2
    set_now(at("2026-11-02 12:20"))
    r = client.post(
        f"/api/v1/contracts/{f.contract_id}/holds",
        json={"ground": "malicious-traffic", "reason": "port scan from web-0"},
        headers=f.admin.headers,
    )
    assert r.status_code == 201, r.text
    assert _run_queued(cw) == 0  # already paused: nothing asked twice
    set_now(at("2026-11-02 14:30"))
    assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
    r = client.get(f"/api/v1/contracts/{f.contract_id}", headers=f.owner.headers)
    assert r.json()["state"] == "suspended"
    assert [h["ground"] for h in r.json()["holds"]] == ["malicious-traffic"]
    assert _run_queued(cw) == 0
    assert _vm_states(database, ids) == {("suspended", "paused", "hold:negative-balance")}
    r = client.post(f"/api/v1/vms/{ids[0]}/reboot", headers=f.owner.headers)
    assert r.status_code == 409 and r.json()["ground"] == "malicious-traffic"
    assert "000 §11.1" in r.json()["detail"]
    r = client.post(
        f"/api/v1/contracts/{f.contract_id}/extensions",
        json={"kind": "vms", "item_id": "vm-m", "quantity": 1,
              "starts_at": "2026-11-02T15:00:00Z", "ends_at": "2026-11-02T16:00:00Z"},
        headers=f.owner.headers,
    )  # fmt: skip
    assert r.status_code == 409, r.text  # an extension order is refused too (003 §8)
    assert r.json()["type"].endswith("/contract-on-hold")
    assert r.json()["ground"] == "malicious-traffic"

    hold_id = client.get(
        f"/api/v1/contracts/{f.contract_id}/holds", headers=f.owner.headers
    ).json()[-1]["id"]
    r = client.post(
        f"/api/v1/contracts/{f.contract_id}/holds/{hold_id}/lift",
        json={"reason": "scan stopped"},
        headers=f.admin.headers,
    )
    assert r.status_code == 200, r.text
    assert _run_queued(cw) == 2
    assert _vm_states(database, ids) == {("running", "running", None)}
    r = client.get(f"/api/v1/contracts/{f.contract_id}", headers=f.owner.headers)
    assert (r.json()["state"], r.json()["holds"]) == ("active", [])


def test_000_s11_1_hold_lifted_as_wrongful_credits_the_suspended_time(
    client: TestClient, world: World, database: Database, cw: ComputeWorld
) -> None:
    """000 §11.1: billed unless the suspension was manifestly wrongful. Two vm-s
    (0.0150/h) run from 10:00; staff hold them at 11:00 (malicious traffic: billed while
    it lasts); metering debits the hours to 14:00; at 14:20 staff lift the hold as
    wrongful: the hours [11, 14) are credited back, 2 × 3 × 0.0150 = 0.09, once."""
    from nuages.billing import wrongful
    from nuages.billing.models import LedgerEntry
    from nuages.kernel import jobs

    set_now(at("2026-11-02 09:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 10:00"))
    ids = _create_vms(cw, f, 2, image.id)
    set_now(at("2026-11-02 11:00"))
    r = client.post(
        f"/api/v1/contracts/{f.contract_id}/holds",
        json={"ground": "malicious-traffic", "reason": "flood reported"},
        headers=f.admin.headers,
    )
    hold_id = r.json()["id"]
    assert _run_queued(cw) == 2 and len(ids) == 2
    set_now(at("2026-11-02 14:10"))
    metering.run(database.unit, at("2026-11-02 14:10"), registry=cw.offers)
    set_now(at("2026-11-02 14:20"))
    credit = lambda hid: wrongful.run_job(database, cw.offers, hid)  # noqa: E731
    with jobs.handled("billing_credit_wrongful_hold", credit):
        r = client.post(
            f"/api/v1/contracts/{f.contract_id}/holds/{hold_id}/lift",
            json={"reason": "the flood came from elsewhere", "wrongful": True},
            headers=f.admin.headers,
        )
    assert r.status_code == 200 and r.json()["wrongful"] is True
    assert wrongful.run_job(database, cw.offers, hold_id) is not None  # again: same entry
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
    assert credits == [Decimal("0.09")]
