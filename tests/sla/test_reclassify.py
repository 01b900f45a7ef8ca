"""Staff reclassify outages reconciliation recorded (issue 22, 002 §6), on SQLite and
PostgreSQL: ``PATCH /outages/{id}`` on a VM found down or a host's outage sets the cause
the SLA reads (an offer's excusable cause, or ``not-excusable``) with a reason, in the
history; the monthly job (SQL counting) and the VM's SLA month (calculator) both read it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute.models import Vm, VmOutage
from nuages.compute.services import outages as recorded
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import frozen_at
from nuages.sla import jobs
from nuages.sla.models import OutageCause
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import World
from tests.sla.test_reports import WHO, _lines, _reports, paris
from tests.sla.world import running_vm


def _record(cw: ComputeWorld, vm_id: str, start: dt.datetime, minutes: int, cause: str) -> str:
    """An outage as reconciliation records it (``cause``: crashed, guest-shutdown,
    host-unreachable)."""
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        row = recorded.open_outage(session, vm, start=start, detected_at=start, cause=cause)
        assert row is not None
        recorded.close_outage(session, vm, start + dt.timedelta(minutes=minutes), WHO)
        return row.id


def test_002_s6_staff_reclassify_recorded_and_host_outages(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """002 §6 (axantis Avancé, coverage Mon–Fri 08:00–18:00 Paris, 12,000 min in
    November 2026), three VMs each down 3 h on Tue 3 November 09:00–12:00:

    - web-1 crashed, reclassified "client-acts" (002 §6 (ii)): excused, 0 counted;
    - web-2 stopped by its guest (excused as recorded), reclassified "not-excusable"
      (the stop was ours): 180 counted → 98.5 % → 10 % of 45.00 = 4.50;
    - web-3 on a host that stopped answering, reclassified "force-majeure": 0 counted.

    Each reclassification is in the history with its reason; the VM's SLA month (the
    calculator) reads the same causes as the monthly job (SQL)."""
    client_id = world.client("Reclassified")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    since = paris(2026, 10, 1)
    vms = [
        running_vm(cw, contract_id, flavour="avance-2-4", since=since, name=f"web-{k}")
        for k in (1, 2, 3)
    ]
    down = paris(2026, 11, 3, 9)
    ids = [
        _record(cw, vms[0], down, 180, "crashed"),
        _record(cw, vms[1], down, 180, "guest-shutdown"),
        _record(cw, vms[2], down, 180, "host-unreachable"),
    ]
    admin = world.admin()
    awaiting = "/api/v1/outages?source=recorded&unclassified=true"
    with frozen_at(paris(2026, 11, 20, 12)):
        # Awaiting staff's cause (counted not excusable): compute's crashed and
        # host-unreachable, not the guest's own shutdown (the client's act).
        r = client.get(awaiting, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert sorted(o["id"] for o in r.json()["items"]) == sorted([ids[0], ids[2]])
        r = client.get("/api/v1/outages?unclassified=true", headers=admin.headers)
        assert r.status_code == 422, r.text
        causes = ["client-acts", "not-excusable", "force-majeure"]
        for outage_id, cause in zip(ids, causes, strict=True):
            body = {"cause": cause, "reason": f"ticket 77: {cause}"}
            r = client.patch(f"/api/v1/outages/{outage_id}", json=body, headers=admin.headers)
            assert r.status_code == 200, r.text
            out = r.json()
            assert (out["cause"], out["reason"]) == (cause, f"ticket 77: {cause}")
        assert out["source"] == "host" and out["recorded_cause"] == "host-unreachable"
        # Reclassifying again replaces the cause; both changes are in the history.
        body = {"cause": "client-acts", "reason": "ticket 77: the client's own firewall"}
        r = client.patch(f"/api/v1/outages/{ids[0]}", json=body, headers=admin.headers)
        assert r.status_code == 200, r.text
        r = client.get(awaiting, headers=admin.headers)
        assert r.status_code == 200 and r.json()["items"] == [], r.text
        r = client.get("/api/v1/outages?source=recorded", headers=owner.headers)
        assert r.status_code == 200, r.text
        listed = {o["id"]: o for o in r.json()["items"]}
        assert listed[ids[0]]["reason"] == "ticket 77: the client's own firewall"
        assert listed[ids[1]]["cause"] == "not-excusable"
    with cw.database.unit() as session:
        entries = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "sla.outage.reclassify")
        ).scalars()
        reasons = sorted(json.loads(e.params)["reason"] for e in entries if e.object_id == vms[0])
        assert reasons == ["ticket 77: client-acts", "ticket 77: the client's own firewall"]
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
        months = {}
        for vm in vms:
            r = client.get(f"/api/v1/vms/{vm}/sla?month=2026-11", headers=owner.headers)
            assert r.status_code == 200, r.text
            months[vm] = Decimal(r.json()["counted_minutes"])
    [report] = _reports(cw, contract_id)
    lines = _lines(report)
    assert [Decimal(lines[f"web-{k}"]["counted_minutes"]) for k in (1, 2, 3)] == [0, 180, 0]
    assert [months[vm] for vm in vms] == [0, 180, 0]
    assert report.credit_amount == Decimal("4.50")


def test_cli_lists_recorded_outages_with_staff_cause(
    cw: ComputeWorld, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nuages sla outages --recorded --json`` shows a recorded outage with the cause
    staff reclassified it to and why."""
    from typer.testing import CliRunner

    from nuages.cli import app as cli_app
    from nuages.kernel.settings import get_settings

    client_id = world.client("CLI reclass")
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 10, 1))
    outage_id = _record(cw, vm, paris(2026, 11, 3, 9), 60, "host-unreachable")
    body = {"cause": "force-majeure", "reason": "storm"}
    with frozen_at(paris(2026, 11, 20, 12)):
        r = client.patch(f"/api/v1/outages/{outage_id}", json=body, headers=world.admin().headers)
    assert r.status_code == 200, r.text
    monkeypatch.setenv("NUAGES_DATABASE_URL", cw.database.url)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli_app, ["sla", "outages", "--recorded", "--json"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.output)
    assert (row["id"], row["scope"], row["cause"]) == (outage_id, "host", "force-majeure")
    assert "storm" in row["description"] and row["vm_ids"] == [vm]


def test_bad_input_reclassifying_a_recorded_outage_writes_nothing(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """No reason, an unknown cause, an end (reconciliation's to say), or a client
    asking: a clear 4xx naming the field, nothing written."""
    client_id = world.client("Bad reclass")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 10, 1))
    outage_id = _record(cw, vm, paris(2026, 11, 3, 9), 60, "crashed")
    admin = world.admin()
    url = f"/api/v1/outages/{outage_id}"
    with frozen_at(paris(2026, 11, 20, 12)):
        for body, field in (
            ({"cause": "client-acts"}, "reason"),
            ({"cause": "bad-luck", "reason": "x"}, "cause"),
            ({"reason": "x"}, "cause"),
            ({"cause": "client-acts", "reason": "x", "end": "2026-11-03T09:30:00Z"}, "end"),
        ):
            r = client.patch(url, json=body, headers=admin.headers)
            assert r.status_code == 422, r.text
            assert field in r.json()["detail"], r.text
        r = client.patch(url, json={"cause": "client-acts", "reason": "x"}, headers=owner.headers)
        assert r.status_code in (403, 404), r.text
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(OutageCause)).scalar_one() == 0
        row = session.get(VmOutage, outage_id)
        assert row is not None and row.cause == "crashed"
