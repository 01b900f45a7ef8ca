"""003 §7.9 abuse reports and violation notices kept per client, over the API and the
CLI: staff record them with source and evidence; a violation sends the client its
violation notice at once; an unheeded one lets staff suspend the contract (003 §8: a
hold, never a termination); a new IP address answers a recorded misuse report. Both
databases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute import schemas as compute_schemas
from nuages.compute.services import vms
from nuages.contracts.models import Contract, ContractHold
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.compute.test_service_cli import Ran, nuages  # noqa: F401
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401


@pytest.fixture
def api(client: TestClient, cw: ComputeWorld) -> TestClient:
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return client


def _vm(cw: ComputeWorld, client_id: str, offer_id: str) -> tuple[str, str]:
    contract_id = cw.contract(client_id, offer_id)
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session,
            CLI,
            cw.runtime,
            cw.offers,
            compute_schemas.VmCreate(
                contract_id=contract_id,
                flavour=cw.offers.current(offer_id).catalogue.flavours[0].id,
                image="base",
                name=f"web-{offer_id[:6]}",
            ),
        )
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    return contract_id, vm_id


def _report(kind: str, vm_id: str, **kw: object) -> dict[str, object]:
    return {
        "kind": kind,
        "vm_id": vm_id,
        "source": "abuse desk of a mail provider",
        "evidence": "Spam from the VM's address.\nHeaders attached.",
        "received_at": (utc_now() - dt.timedelta(hours=2)).isoformat(),
        **kw,
    }


def test_003_s7_9_reports_kept_per_client_violation_notice_then_suspension(
    api: TestClient, cw: ComputeWorld
) -> None:
    """003 §7.9: a misuse report and a violation are kept on the client's record (the
    owner reads them, another client gets 404 and an empty list); the violation sends
    the "Notification de violation" to the owners at once; suspending after a misuse
    report is a 409 (its measure is a new address); after the violation notice staff
    suspend the VM's contract on the breach ground (003 §8) — suspended, not ended —
    once only; closing keeps the report; the standing counts each."""
    cw.host(site="paris-1", country="FR")
    cw.image("base")
    client_id = cw.world.client("Abus SARL")
    contract_id, vm_id = _vm(cw, client_id, "virtualsr-svp")
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    admin = cw.world.admin()

    r = api.post("/api/v1/abuse-reports", json=_report("misuse", vm_id), headers=owner.headers)
    assert r.status_code == 403
    r = api.post("/api/v1/abuse-reports", json=_report("misuse", vm_id), headers=admin.headers)
    assert r.status_code == 201, r.text
    misuse = r.json()
    assert misuse["client_id"] == client_id and misuse["notice_id"] is None
    r = api.post("/api/v1/abuse-reports", json=_report("violation", vm_id), headers=admin.headers)
    assert r.status_code == 201, r.text
    violation = r.json()
    with cw.database.unit() as session:
        notice = session.get(Notice, violation["notice_id"])
        assert notice is not None and notice.kind == "abuse_violation"
        assert "Notification de violation" in notice.subject and "7.9" in notice.body

    listed = api.get("/api/v1/abuse-reports", headers=owner.headers).json()
    assert [x["id"] for x in listed] == [misuse["id"], violation["id"]]
    other = cw.world.user(Role.CLIENT_OWNER, cw.world.client("Autre SA"))
    assert api.get("/api/v1/abuse-reports", headers=other.headers).json() == []
    r = api.get(f"/api/v1/abuse-reports/{misuse['id']}", headers=other.headers)
    assert r.status_code == 404

    r = api.post(
        f"/api/v1/abuse-reports/{misuse['id']}/suspend", json={"reason": "x"}, headers=admin.headers
    )
    assert r.status_code == 409 and "003 §7.9" in r.json()["detail"]
    r = api.post(
        f"/api/v1/abuse-reports/{violation['id']}/suspend",
        json={"reason": "content still online"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    hold_id = r.json()["hold_id"]
    with cw.database.unit() as session:
        hold = session.get(ContractHold, hold_id)
        assert hold is not None and hold.ground == "breach" and "003 §7.9" in hold.clause
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "suspended"  # 003 §8: not ended
    r = api.post(
        f"/api/v1/abuse-reports/{violation['id']}/suspend",
        json={"reason": "x"},
        headers=admin.headers,
    )
    assert r.status_code == 409

    r = api.post(
        f"/api/v1/abuse-reports/{misuse['id']}/close",
        json={"reason": "unfounded"},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["closed_at"] is not None
    r = api.post(
        f"/api/v1/abuse-reports/{misuse['id']}/close",
        json={"reason": "again"},
        headers=admin.headers,
    )
    assert r.status_code == 409
    standing = api.get(f"/api/v1/clients/{client_id}/abuse-standing", headers=owner.headers)
    assert standing.status_code == 200, standing.text
    assert standing.json() | {"clause": "003 §7.9"} == {
        "client_id": client_id,
        "misuse_reports": 1,
        "violation_notices": 1,
        "open_reports": 1,
        "suspensions": 1,
        "clause": "003 §7.9",
    }
    r = api.get(f"/api/v1/clients/{client_id}/abuse-standing", headers=other.headers)
    assert r.status_code == 404
    with cw.database.unit() as session:
        actions = set(
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.client_id == client_id)
            ).scalars()
        )
    assert {
        "abuse.misuse.record",
        "abuse.violation.record",
        "abuse.violation.suspend",
        "abuse.misuse.close",
        "contract.hold.place",
    } <= actions


def test_003_s7_9_bad_reports_and_a_new_ip_without_a_misuse_report(
    api: TestClient, cw: ComputeWorld
) -> None:
    """Bad input, each a 422 naming the field and nothing written: a report received in
    the future, naming no client, or a VM of another client than the one named. A new
    address without a misuse report (or with a violation's) is a 422 naming report_id
    and 003 §7.9. An offer without 003 §7.9 (isstar-cloud) suspends on no violation."""
    cw.host(site="paris-1", country="FR")
    cw.host(site="waterloo-1", country="BE")
    cw.image("base")
    client_id = cw.world.client("Abus SARL")
    _contract, vm_id = _vm(cw, client_id, "virtualsr-svp")
    admin = cw.world.admin()
    later = (utc_now() + dt.timedelta(hours=1)).isoformat()
    bad = [
        (_report("misuse", vm_id, received_at=later), "received_at"),
        ({**_report("misuse", vm_id), "vm_id": None}, "client_id"),
        (_report("misuse", vm_id, client_id=cw.world.client("Autre SA")), "client_id"),
    ]
    for body, field in bad:
        r = api.post("/api/v1/abuse-reports", json=body, headers=admin.headers)
        assert r.status_code == 422 and field in r.json()["detail"], r.text
    assert api.get("/api/v1/abuse-reports", headers=admin.headers).json() == []

    r = api.post(f"/api/v1/vms/{vm_id}/new-ip", json={"reason": "x"}, headers=admin.headers)
    assert r.status_code == 422 and "report_id" in r.json()["detail"]
    assert "003 §7.9" in r.json()["detail"]
    violation = api.post(
        "/api/v1/abuse-reports", json=_report("violation", vm_id), headers=admin.headers
    ).json()
    r = api.post(
        f"/api/v1/vms/{vm_id}/new-ip",
        json={"reason": "x", "report_id": violation["id"]},
        headers=admin.headers,
    )
    assert r.status_code == 422 and "report_id" in r.json()["detail"]

    iss_client = cw.world.client("Isstar SRL")
    _c, iss_vm = _vm(cw, iss_client, "isstar-cloud")
    report = api.post(
        "/api/v1/abuse-reports", json=_report("violation", iss_vm), headers=admin.headers
    ).json()
    r = api.post(
        f"/api/v1/abuse-reports/{report['id']}/suspend", json={"reason": "x"}, headers=admin.headers
    )
    assert r.status_code == 409 and "provides for no suspension" in r.json()["detail"]


def test_abuse_cli_records_and_counts(
    nuages: Callable[..., Ran],  # noqa: F811
    cw: ComputeWorld,
    database: Database,
    tmp_path: Path,
) -> None:
    """``nuages vm abuse record|standing --json`` over the same services; a time without
    zone is a usage error (exit 2) naming the option."""
    cw.host(site="paris-1", country="FR")
    cw.image("base")
    client_id = cw.world.client("Abus SARL")
    _contract, vm_id = _vm(cw, client_id, "virtualsr-svp")
    data = tmp_path / "cli-data"
    args = ["vm", "abuse", "record", "--kind", "misuse", "--vm", vm_id, "--source", "desk"]
    at = (utc_now() - dt.timedelta(hours=1)).isoformat()
    done = nuages(database, data, *args, "--received-at", at, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["client_id"] == client_id
    bad = nuages(database, data, *args, "--received-at", "2026-12-01T09:00:00")
    assert bad.returncode == 2 and "--received-at" in bad.stderr
    done = nuages(database, data, "vm", "abuse", "standing", client_id, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["misuse_reports"] == 1
