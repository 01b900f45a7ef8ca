"""Outage sources (issue 22): an unreachable host takes every VM on it that should run
down for the SLA; a staff incident over a host resolves its VMs when declared; the
outages of one VM overlapping count once (002 §6)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.compute.hypervisor import DomainStatus, PowerState
from nuages.compute.models import Host, Vm, VmOutage
from nuages.compute.services import outages as recorded
from nuages.compute.services import reconcile
from nuages.contracts.models import Contract
from nuages.history.service import Actor
from nuages.kernel.clock import frozen_at
from nuages.sla import reports
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import World
from tests.sla.world import running_vm


def _t(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def test_unreachable_host_opens_an_outage_per_running_vm_until_seen_running(
    cw: ComputeWorld,
) -> None:
    """A host last seen at 10:00 stops answering at 10:01: each of its running VMs gets
    an outage from 10:00 (``host-unreachable``); a stopped VM gets none. Reachable again
    at 10:41 with the VM running: closed at 10:41, 41 minutes."""
    client_id = cw.world.client("Host down")
    contract_id = cw.contract(client_id)
    host = cw.host(name="far-host")
    up = running_vm(cw, contract_id, flavour="vm-s", since=_t(1, 0), host_id=host.id)
    stopped = running_vm(cw, contract_id, flavour="vm-s", since=_t(1, 0), host_id=host.id,
                         name="web-2")  # fmt: skip
    with cw.database.unit() as session:
        row = session.get(Host, host.id)
        assert row is not None
        row.last_seen = _t(3, 10)
        session.execute(VmOutage.__table__.select().limit(0))  # nothing yet
        from nuages.compute.models import Vm

        vm2 = session.get(Vm, stopped)
        assert vm2 is not None
        vm2.vm_state, vm2.power_state = "stopped", "shutoff"
    with frozen_at(_t(3, 10, 1)), cw.database.unit() as session:
        report = reconcile.apply(
            session, [reconcile.HostView(host.id, None, "timeout")], _t(3, 10, 1)
        )
        assert report.outages_opened == [up]
    domain = DomainStatus(f"nuages-{up}", uuid.UUID(up), PowerState.RUNNING, 1, 512)
    stopped_domain = DomainStatus(
        f"nuages-{stopped}", uuid.UUID(stopped), PowerState.SHUTOFF, 1, 512
    )
    with frozen_at(_t(3, 10, 41)), cw.database.unit() as session:
        view = reconcile.HostView(host.id, [domain, stopped_domain])
        report = reconcile.apply(session, [view], _t(3, 10, 41))
        assert report.outages_closed == [up]
    with cw.database.unit() as session:
        [outage] = session.execute(select(VmOutage)).scalars()
        assert (outage.vm_id, outage.cause) == (up, "host-unreachable")
        assert (outage.start, outage.end) == (_t(3, 10), _t(3, 10, 41))
        contract = session.get(Contract, contract_id)
        assert contract is not None
        with frozen_at(_t(20, 12)):
            month = reports.measure(session, cw.offers, contract, 2026, 11)
    assert month.counted_minutes == 41


def test_host_incident_resolves_its_vms_and_overlaps_count_once(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """Staff declare a host incident 09:00–10:00 (not excusable) while reconciliation
    also recorded the VM down 09:30–10:30: the host's running VM is resolved at
    declaration, a VM created later on it is not; the VM's month counts the union,
    90 minutes, not 120 (002 §6: overlapping outages count once)."""
    client_id = world.client("Overlap")
    contract_id = cw.contract(client_id)
    host = cw.host(name="rack-7")
    vm = running_vm(cw, contract_id, flavour="vm-s", since=_t(1, 0), host_id=host.id)
    with cw.database.unit() as session:
        row = session.get(Vm, vm)
        assert row is not None
        recorded.open_outage(session, row, start=_t(3, 9, 30), detected_at=_t(3, 9, 30),
                             cause="crashed")  # fmt: skip
        recorded.close_outage(session, row, _t(3, 10, 30), Actor.system("t"))
    admin = world.admin()
    body = {"scope": "host", "scope_ref": host.id, "start": _t(3, 9).isoformat()}
    body |= {"end": _t(3, 10).isoformat(), "cause": "not-excusable", "description": "PDU"}
    with frozen_at(_t(3, 12)):
        r = client.post("/api/v1/outages", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["vm_ids"] == [vm]
    later = running_vm(cw, contract_id, flavour="vm-s", since=_t(4, 0), host_id=host.id,
                       name="web-9")  # fmt: skip
    with frozen_at(_t(20, 12)), cw.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        month = reports.measure(session, cw.offers, contract, 2026, 11)
    counted = {x["vm_id"]: Decimal(x["counted_minutes"]) for x in month.lines}
    assert counted == {vm: Decimal(90), later: Decimal(0)}
