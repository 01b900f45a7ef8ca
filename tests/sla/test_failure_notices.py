"""002 §6 "en cas de Notification de Défaillance": the client's failure notice of a VM is
recorded through the API, and the VM's unavailability counts from the earlier of its
detection and the notice. Runs on SQLite and PostgreSQL (``database`` fixture)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute.models import Vm
from nuages.compute.services import outages
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.clock import frozen_at
from nuages.sla import service
from nuages.sla.models import FailureNotice
from nuages.terms import apply
from nuages.terms.calc import sla
from tests.compute.world import tenant_objects
from tests.factories import World
from tests.terms.test_readings_002_s6 import AVANCE

PARIS = ZoneInfo("Europe/Paris")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS).astimezone(dt.UTC)


def _url(vm_id: str) -> str:
    return f"/api/v1/vms/{vm_id}/failure-notices"


def _count(world: World) -> int:
    with world.database.unit() as session:
        return session.execute(select(func.count()).select_from(FailureNotice)).scalar_one()


def test_002_s6_failure_notice_recorded_and_counted_from_the_notice(
    client: TestClient, world: World
) -> None:
    """002 §6: the owner files a notice of its VM on Tue 3 November 2026 at 09:00 Paris
    (201, recorded in the history); the platform detects the outage from 09:50 and sees
    the VM back at 10:50. Over November's 12,000 coverage minutes the VM was unavailable
    110 minutes, not 60: (12000 − 110) / 12000 = 99.0833… % → 10 %."""
    client_id = world.client("Notifier")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    vm_id = tenant_objects(world, client_id, owner)["vm_id"]
    with frozen_at(local(2026, 11, 3, 9)):
        r = client.post(
            _url(vm_id), json={"description": "no answer on 443"}, headers=owner.headers
        )
    assert r.status_code == 201, r.text
    assert dt.datetime.fromisoformat(r.json()["noticed_at"]) == local(2026, 11, 3, 9)
    listed = client.get(_url(vm_id), headers=owner.headers).json()
    assert [n["id"] for n in listed["items"]] == [r.json()["id"]]
    with world.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        row = outages.open_outage(
            session,
            vm,
            start=local(2026, 11, 3, 9, 50),
            detected_at=local(2026, 11, 3, 9, 51),
            cause="crashed",
        )
        assert row is not None
        outages.close_outage(session, vm, local(2026, 11, 3, 10, 50), HistoryActor.system("t"))
        recorded = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == vm_id)
        ).scalars()
        assert "vm.failure_notice" in list(recorded)
        start, end = local(2026, 11, 1), local(2026, 12, 1)
        notices = service.notices_for(session, [vm_id], start, end)
        counted = [sla.Outage(row.start, row.end or end, service=row.vm_id)]
    result = apply.sla_for_month(AVANCE, 2026, 11, counted, Decimal(1000), failure_notices=notices)
    assert result.report.unavailable_minutes == 110
    assert result.report.credit_rate_pct == 10


def test_002_s6_failure_notice_for_a_vm_the_client_cannot_see_is_404(
    client: TestClient, world: World
) -> None:
    """002 §6: client B's owner notifying client A's VM, and a member of A not granted the
    VM, get 404 (its existence is not theirs to know); a guest cannot file (403); nothing
    is written."""
    client_a = world.client("A")
    owner_a = world.user(Role.CLIENT_OWNER, client_a)
    vm_id = tenant_objects(world, client_a, owner_a)["vm_id"]
    owner_b = world.user(Role.CLIENT_OWNER, world.client("B"))
    member_a = world.user(Role.CLIENT_MEMBER, client_a)
    body = {"description": "down"}
    for actor in (owner_b, member_a):
        r = client.post(_url(vm_id), json=body, headers=actor.headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    guest = world.user(Role.GUEST, client_a)
    assert client.post(_url(vm_id), json=body, headers=guest.headers).status_code == 403
    assert client.post(_url("no-such-vm"), json=body, headers=owner_a.headers).status_code == 404
    assert _count(world) == 0


def test_002_s6_failure_notice_received_at_is_staff_only_and_never_future(
    client: TestClient, world: World
) -> None:
    """002 §6: a client cannot date its own notice earlier (403 naming received_at and the
    clause); staff recording a telephoned notice give when it arrived, but not a moment
    in the future (422 naming received_at); an empty description is a 422."""
    client_id = world.client("Dates")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    vm_id = tenant_objects(world, client_id, owner)["vm_id"]
    admin = world.admin()
    with frozen_at(local(2026, 11, 3, 12)):
        early = {"description": "down", "received_at": "2026-11-03T08:00:00+00:00"}
        r = client.post(_url(vm_id), json=early, headers=owner.headers)
        assert r.status_code == 403 and "received_at" in r.text and "002 §6" in r.text
        future = {"description": "down", "received_at": "2026-11-04T08:00:00+00:00"}
        r = client.post(_url(vm_id), json=future, headers=admin.headers)
        assert r.status_code == 422 and "received_at" in r.text
        r = client.post(_url(vm_id), json={"description": "  "}, headers=owner.headers)
        assert r.status_code == 422 and "description" in r.text
        assert _count(world) == 0
        r = client.post(_url(vm_id), json=early, headers=admin.headers)
        assert r.status_code == 201, r.text
        assert dt.datetime.fromisoformat(r.json()["noticed_at"]) == dt.datetime(
            2026, 11, 3, 8, tzinfo=dt.UTC
        )


def test_002_s6_vm_sla_month_over_the_api_counts_from_the_notice(
    client: TestClient, world: World
) -> None:
    """002 §6 through ``GET /api/v1/vms/{vm_id}/sla``: a VM on isstar-cloud (24/7
    coverage, so November 2026's 43,200 coverage minutes) notified at 09:00 on 3 November
    and found down 09:50–10:50 counts 110 minutes; the answer names its denominator. Another
    client's owner gets 404, a malformed or future month 422."""
    client_id = world.client("Month")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    vm_id = tenant_objects(world, client_id, owner)["vm_id"]
    with frozen_at(local(2026, 11, 3, 9)):
        r = client.post(_url(vm_id), json={"description": "down"}, headers=owner.headers)
        assert r.status_code == 201, r.text
    with world.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        outages.open_outage(
            session,
            vm,
            start=local(2026, 11, 3, 9, 50),
            detected_at=local(2026, 11, 3, 9, 51),
            cause="crashed",
        )
        outages.close_outage(session, vm, local(2026, 11, 3, 10, 50), HistoryActor.system("t"))
    url = f"/api/v1/vms/{vm_id}/sla"
    with frozen_at(local(2026, 12, 1, 12)):
        r = client.get(url, params={"month": "2026-11"}, headers=owner.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["denominator"], Decimal(body["denominator_minutes"])) == (
            "coverage_minutes",
            43_200,
        )
        assert Decimal(body["counted_minutes"]) == 110 and body["month"] == "2026-11"
        other = world.user(Role.CLIENT_OWNER, world.client("Other"))
        assert (
            client.get(url, params={"month": "2026-11"}, headers=other.headers).status_code == 404
        )
        for bad in ("2026-13", "2027-01"):
            r = client.get(url, params={"month": bad}, headers=owner.headers)
            assert r.status_code == 422 and "month" in r.text
