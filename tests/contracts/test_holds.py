"""Contract holds (SPEC §11; 003 §8, 004 §7, §17.1, 000 §11.1): the one way a contract
is suspended, what a hold does to the VMs (through compute's services and operations on
libvirt's test driver), its API, its bad input, crashes and concurrency."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute import schemas as compute_schemas
from nuages.compute.hypervisor import PowerState
from nuages.compute.models import Host, Operation, Vm
from nuages.compute.services import holds as compute_holds
from nuages.compute.services import reconcile
from nuages.compute.services import vms as compute_vms
from nuages.contracts import holds
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from tests.compute.world import ComputeWorld, holds_inline, make_runtime
from tests.factories import World

UTC = dt.UTC


@pytest.fixture
def cw(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[ComputeWorld]:
    """Compute on libvirt's test driver; the app uses the same runtime; hold jobs run
    in this process after commit, as a worker would."""
    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    try:
        yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()


def _setup(cw: ComputeWorld, offer_id: str = "isstar-cloud") -> tuple[str, str, list[str]]:
    """A client, its formed contract and two VMs: one running, one stopped."""
    client_id = cw.world.client("Held SARL")
    owner_actor, owner = cw.owner(client_id)
    contract_id = cw.contract(client_id, offer_id)
    if offer_id.startswith("virtualsr"):
        cw.host(site="paris-1", country="FR")
    else:
        cw.host()
    image = cw.image()
    ids = []
    for name in ("web", "db"):
        with cw.database.unit() as session:
            vm, op = compute_vms.create_vm(
                session,
                owner,
                cw.runtime,
                cw.offers,
                compute_schemas.VmCreate(
                    contract_id=contract_id, flavour=_flavour(cw, offer_id), image=image.id,
                    name=name,
                ),
            )  # fmt: skip
        assert cw.run(op.id) == "succeeded"
        ids.append(vm.id)
    with cw.database.unit() as session:
        _vm, op = compute_vms.request(session, owner, cw.runtime, ids[1], compute_vms.Action.STOP)
    assert cw.run(op.id) == "succeeded"
    return contract_id, owner_actor.token, ids


def _flavour(cw: ComputeWorld, offer_id: str) -> str:
    return cw.offers.current(offer_id).catalogue.flavours[0].id


def _run_queued(cw: ComputeWorld) -> list[str]:
    with cw.database.unit() as session:
        queued = list(
            session.execute(
                select(Operation.id)
                .where(Operation.state == "queued")
                .order_by(Operation.created_at)
            ).scalars()
        )
    for operation_id in queued:
        assert cw.run(operation_id) == "succeeded"
    return queued


def _states(cw: ComputeWorld, ids: list[str]) -> list[tuple[str, str | None]]:
    with cw.database.unit() as session:
        return [
            (vm.vm_state, vm.suspended_reason)
            for vm in (session.get(Vm, i) for i in ids)
            if vm is not None
        ]


def _power(cw: ComputeWorld, vm_id: str) -> PowerState:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None and vm.host_id is not None
        host = session.get(Host, vm.host_id)
        assert host is not None
        uri = host.uri
    return cw.runtime.hypervisor(uri).status(uuid.UUID(vm_id)).power_state


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_003_s8_hold_pauses_the_vms_refuses_client_acts_and_lifting_brings_them_back(
    client: TestClient, cw: ComputeWorld
) -> None:
    """003 §8, 004 §7: a staff hold suspends the contract; compute pauses its running VM
    and suspends its stopped one (disks, addresses kept); the client's start, stop,
    reboot and new VM are refused with a problem naming the ground and its clause;
    staff still act. Lifting the hold resumes them: the running VM runs again, the
    stopped one stays stopped."""
    contract_id, token, (web, db) = _setup(cw)
    admin = cw.world.admin()
    with holds_inline(cw.runtime):
        r = client.post(
            f"/api/v1/contracts/{contract_id}/holds",
            json={"ground": "malicious-traffic", "reason": "port scan", "expected_end_at": None},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        hold = r.json()
        assert (hold["ground"], hold["clause"], hold["lifted_at"]) == (
            "malicious-traffic",
            "000 §11.1",
            None,
        )
        assert len(_run_queued(cw)) == 2
        assert _states(cw, [web, db]) == [("suspended", "hold:malicious-traffic")] * 2
        assert _power(cw, web) is PowerState.PAUSED
        assert _power(cw, db) is PowerState.SHUTOFF
        for action in ("start", "stop", "reboot"):
            r = client.post(f"/api/v1/vms/{web}/{action}", headers=_headers(token))
            assert r.status_code == 409, (action, r.text)
            body = r.json()
            assert body["type"].endswith("/contract-on-hold")
            assert (body["ground"], body["clause"]) == ("malicious-traffic", "000 §11.1")
            assert "malicious-traffic (000 §11.1)" in body["detail"]
        r = client.post(
            "/api/v1/vms",
            json={"contract_id": contract_id, "flavour": "vm-s", "image": "base", "name": "x"},
            headers=_headers(token),
        )
        assert r.status_code == 409 and r.json()["ground"] == "malicious-traffic"
        r = client.get(f"/api/v1/contracts/{contract_id}", headers=_headers(token))
        assert r.json()["state"] == "suspended"
        assert [h["id"] for h in r.json()["holds"]] == [hold["id"]]

        r = client.post(
            f"/api/v1/contracts/{contract_id}/holds/{hold['id']}/lift",
            json={"reason": "scan stopped", "wrongful": False},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        assert len(_run_queued(cw)) == 2
    assert _states(cw, [web, db]) == [("running", None), ("stopped", None)]
    assert _power(cw, web) is PowerState.RUNNING
    r = client.get(f"/api/v1/contracts/{contract_id}", headers=_headers(token))
    assert (r.json()["state"], r.json()["holds"]) == ("active", [])
    with cw.database.unit() as session:
        actions = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == contract_id)
            ).scalars()
        )
    assert {
        "contract.hold.place",
        "contract.hold.lift",
        "contract.suspended",
        "contract.active",
    } <= actions


def test_hold_bad_input_is_refused_and_nothing_written(
    client: TestClient, world: World, cw: ComputeWorld
) -> None:
    """Unknown ground → 422 naming the field and the offer's grounds; a client placing
    or lifting → 403; lifting a hold already lifted → 409; a ground already open → 409.
    Nothing is written by a refusal."""
    client_id = world.client("Bad SARL")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = cw.contract(client_id)
    admin = world.admin()

    def count() -> tuple[int, int]:
        with cw.database.unit() as session:
            return (
                session.execute(select(func.count()).select_from(ContractHold)).scalar_one(),
                # Refusals are recorded (api/refusals.py); no contract change is.
                session.execute(
                    select(func.count())
                    .select_from(HistoryEntry)
                    .where(HistoryEntry.action.like("contract.%"))
                ).scalar_one(),
            )

    before = count()
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds",
        json={"ground": "bad-weather", "reason": "x"},
        headers=admin.headers,
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("ground: 'bad-weather' is not a suspension ground")
    assert "negative-balance" in r.json()["detail"]
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds",
        json={"ground": "staff-decision", "reason": "mine"},
        headers=owner.headers,
    )
    assert r.status_code == 403
    assert count() == before

    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds",
        json={"ground": "staff-decision", "reason": "abuse report 42"},
        headers=admin.headers,
    )
    hold_id = r.json()["id"]
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds",
        json={"ground": "staff-decision", "reason": "again"},
        headers=admin.headers,
    )
    assert r.status_code == 409 and hold_id in r.json()["detail"]
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds/{hold_id}/lift",
        json={"reason": "my own"},
        headers=owner.headers,
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds/{hold_id}/lift",
        json={"reason": "done", "wrongful": True},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["wrongful"] is True
    middle = count()
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds/{hold_id}/lift",
        json={"reason": "twice"},
        headers=admin.headers,
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/hold-not-open")
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds/{uuid.uuid4()}/lift",
        json={"reason": "none"},
        headers=admin.headers,
    )
    assert r.status_code == 404
    assert count() == middle
    r = client.get(f"/api/v1/contracts/{contract_id}/holds", headers=owner.headers)
    assert [(h["ground"], h["lifted_by"] is not None) for h in r.json()] == [
        ("staff-decision", True)
    ]


def test_regression_suspend_alias_is_a_hold_and_resume_lifts_every_hold(
    client: TestClient, world: World, cw: ComputeWorld
) -> None:
    """``POST /contracts/{id}/suspend`` wrote the state only (its VMs kept running);
    it is now a staff-decision hold, and ``/resume`` lifts every open hold."""
    contract_id, token, (web, _db) = _setup(cw)
    admin = cw.world.admin()
    with holds_inline(cw.runtime):
        r = client.post(
            f"/api/v1/contracts/{contract_id}/suspend",
            json={"reason": "staff: abuse"},
            headers=admin.headers,
        )
        assert r.status_code == 200 and r.json()["state"] == "suspended"
        assert [h["ground"] for h in r.json()["holds"]] == ["staff-decision"]
        _run_queued(cw)
        assert _power(cw, web) is PowerState.PAUSED
        r = client.post(f"/api/v1/vms/{web}/start", headers=_headers(token))
        assert r.status_code == 409
        r = client.post(
            f"/api/v1/contracts/{contract_id}/resume", json={"reason": "ok"}, headers=admin.headers
        )
        assert r.status_code == 200 and r.json()["state"] == "active"
        _run_queued(cw)
    assert _power(cw, web) is PowerState.RUNNING


def test_hold_placed_twice_and_job_delivered_twice_pause_once(cw: ComputeWorld) -> None:
    """Idempotent: placing the same ground twice is one hold; the enforcement job run
    twice and a reconciliation pass after it queue one suspension per VM."""
    contract_id, _token, ids = _setup(cw)
    offer = cw.offers.current("isstar-cloud")
    who = Actor.system("test")
    with cw.database.unit() as session:
        first, new = holds.place(session, who, offer, contract_id, "authority-request", "order")
    with cw.database.unit() as session:
        again, new_again = holds.place(session, who, offer, contract_id, "authority-request", "x")
    assert new and not new_again and first.id == again.id
    assert cw.runtime.database is not None
    compute_holds.run_job(cw.runtime.database, cw.runtime, contract_id)
    compute_holds.run_job(cw.runtime.database, cw.runtime, contract_id)
    reconcile.run_pass(cw.database, cw.runtime)
    assert len(_run_queued(cw)) == 2
    with cw.database.unit() as session:
        kinds = (
            session.execute(select(Operation.vm_id).where(Operation.kind == "suspend"))
            .scalars()
            .all()
        )
    assert sorted(kinds) == sorted(ids)


def test_worker_killed_between_hold_and_pause_is_finished_by_reconciliation(
    cw: ComputeWorld, delivered_jobs: list[tuple[str, tuple[object, ...]]]
) -> None:
    """The hold commits and asks for ``compute_enforce_holds``; the worker dies before
    running it (the job is lost: nothing paused, the client already refused). After the
    restart the job is delivered again *and* a reconciliation pass runs: each VM ends
    paused by exactly one suspend operation."""
    contract_id, _token, (web, db) = _setup(cw)
    offer = cw.offers.current("isstar-cloud")
    with cw.database.unit() as session:
        holds.place(session, Actor.system("test"), offer, contract_id, "legal-obligation", "x")
    assert delivered_jobs == [("compute_enforce_holds", (contract_id,))]
    assert _states(cw, [web, db]) == [("running", None), ("stopped", None)]
    assert _power(cw, web) is PowerState.RUNNING
    # Restart: the reconciliation pass finds the contract out of line …
    report = reconcile.run_pass(cw.database, cw.runtime)
    assert sorted(report.holds_suspended) == sorted([web, db])
    # … and the redelivered job (at-least-once queue) finds nothing left to ask.
    assert cw.runtime.database is not None
    assert compute_holds.run_job(cw.runtime.database, cw.runtime, contract_id).suspended == []
    assert len(_run_queued(cw)) == 2
    assert _power(cw, web) is PowerState.PAUSED
    with cw.database.unit() as session:
        suspends = session.execute(
            select(func.count()).select_from(Operation).where(Operation.kind == "suspend")
        ).scalar_one()
    assert suspends == 2
    assert reconcile.run_pass(cw.database, cw.runtime).holds_suspended == []


def test_50_concurrent_place_and_lift_calls_leave_a_consistent_set_of_holds(
    world: World, cw: ComputeWorld
) -> None:
    """50 threads place and lift holds on five grounds of one contract at once. After:
    at most one open hold per ground, every lift matched a placed hold, and the contract
    is suspended exactly when a hold is open."""
    client_id = world.client("Busy SARL")
    contract_id = cw.contract(client_id)
    offer = cw.offers.current("isstar-cloud")
    grounds = ["authority-request", "legal-obligation", "malicious-traffic", "negative-balance",
               "staff-decision"]  # fmt: skip
    errors: list[str] = []
    barrier = threading.Barrier(50)

    def work(i: int) -> None:
        ground = grounds[i % len(grounds)]
        barrier.wait()
        try:
            with cw.database.unit() as session:
                if i % 2 == 0:
                    holds.place(session, Actor.system(f"t{i}"), offer, contract_id, ground, "r")
                else:
                    holds.lift_ground(session, Actor.system(f"t{i}"), contract_id, ground, "r")
        except NuagesError as exc:
            errors.append(exc.detail)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with cw.database.unit() as session:
        rows = list(session.execute(select(ContractHold)).scalars())
        contract = session.get(Contract, contract_id)
        assert contract is not None
        open_ = [h for h in rows if h.lifted_at is None]
        assert len({h.ground for h in open_}) == len(open_)
        assert all(h.ground in grounds for h in rows)
        assert (contract.state == "suspended") == bool(open_)
        placed = session.execute(
            select(func.count())
            .select_from(HistoryEntry)
            .where(
                HistoryEntry.object_id == contract_id, HistoryEntry.action == "contract.hold.place"
            )
        ).scalar_one()
        lifted = session.execute(
            select(func.count())
            .select_from(HistoryEntry)
            .where(
                HistoryEntry.object_id == contract_id, HistoryEntry.action == "contract.hold.lift"
            )
        ).scalar_one()
    assert placed == len(rows) and lifted == len(rows) - len(open_)
    # Whatever the interleaving, lifting what is open resumes the contract.
    with cw.database.unit() as session:
        for hold in holds.open_holds(session, contract_id):
            holds.lift(session, Actor.system("end"), contract_id, hold.id, "end")
    with cw.database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]


def test_004_s17_1_hold_open_15_days_makes_the_contract_terminable(
    client: TestClient, world: World, cw: ComputeWorld
) -> None:
    """004 §17.1: a suspension longer than 15 days lets the provider terminate. A hold
    placed on 3 March 2026 at 23:30 UTC (4 March 00:30 in Paris, the contract's
    calendar): the 15 calendar days after 4 March (its own day not counted) end with
    19 March, so the contract is terminable from 20 March 00:00 Paris = 19 March 23:00
    UTC (CET, before the 29 March change)."""
    client_id = world.client("Optima SA")
    contract_id = cw.contract(client_id, "optima-cloud-azure")
    admin = world.admin()
    set_now(dt.datetime(2026, 3, 3, 23, 30, tzinfo=UTC))
    r = client.post(
        f"/api/v1/contracts/{contract_id}/holds",
        json={"ground": "security-risk", "reason": "compromised VM",
              "expected_end_at": "2026-03-10T00:00:00Z"},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = client.get(f"/api/v1/contracts/{contract_id}", headers=admin.headers)
    assert r.json()["terminable_from"] == "2026-03-19T23:00:00Z"
    assert r.json()["holds"][0]["expected_end_at"] == "2026-03-10T00:00:00Z"
    # An offer without the right shows none.
    other = cw.contract(world.client("Isstar SA"))
    client.post(
        f"/api/v1/contracts/{other}/holds",
        json={"ground": "staff-decision", "reason": "x"},
        headers=admin.headers,
    )
    assert (
        client.get(f"/api/v1/contracts/{other}", headers=admin.headers).json()["terminable_from"]
        is None
    )


def test_regression_only_holds_suspend_or_resume_a_contract(world: World, cw: ComputeWorld) -> None:
    """Formation, suspension and resumption were written in three places with a free
    reason; a direct state change to or from ``suspended`` is now refused: only a
    hold moves it (and the contract stays as it was)."""
    from nuages.contracts import service as contracts
    from nuages.contracts.states import ContractState
    from nuages.kernel.errors import InvalidTransition

    contract_id = cw.contract(world.client("Direct SARL"))
    with pytest.raises(InvalidTransition, match="through its holds only"):
        with cw.database.unit() as session:
            contract = session.get(Contract, contract_id)
            assert contract is not None
            contracts.transition(
                session, contract, ContractState.SUSPENDED, Actor.system("x"), "direct"
            )
    with cw.database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]


def test_worker_process_killed_9_between_hold_and_pause_then_reconciled(
    cw: ComputeWorld,
) -> None:
    """A real process places a hold and is killed with SIGKILL while its enforcement job
    runs, before any VM is paused. The hold is committed (the contract suspended, the
    client refused); the restarted side's reconciliation pass pauses each VM exactly
    once."""
    import os
    import signal
    import subprocess
    import sys

    contract_id, _token, (web, db) = _setup(cw)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.contracts.hold_crash", cw.database.url,
         str(root / "offers"), contract_id],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == b"placed", child.stderr.read() if child.stderr else ""
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with cw.database.unit() as session:
        assert [h.ground for h in holds.open_holds(session, contract_id)] == ["legal-obligation"]
        assert session.get(Contract, contract_id).state == "suspended"  # type: ignore[union-attr]
    assert _states(cw, [web, db]) == [("running", None), ("stopped", None)]
    report = reconcile.run_pass(cw.database, cw.runtime)
    assert sorted(report.holds_suspended) == sorted([web, db])
    assert reconcile.run_pass(cw.database, cw.runtime).holds_suspended == []
    assert len(_run_queued(cw)) == 2
    assert _power(cw, web) is PowerState.PAUSED
    with cw.database.unit() as session:
        suspends = session.execute(
            select(func.count()).select_from(Operation).where(Operation.kind == "suspend")
        ).scalar_one()
    assert suspends == 2
