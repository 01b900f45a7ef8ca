"""Monthly SLA reports, maintenance and credits (issue 22), on SQLite and PostgreSQL.

Outages are written the way reconciliation writes them (``compute.services.outages``)
or declared by staff through the API; reports are issued by the monthly job's body.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.compute.models import Vm
from nuages.compute.services import outages as recorded
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.clock import frozen_at
from nuages.notices.models import Notice
from nuages.sla import jobs
from nuages.sla.models import Incident, Maintenance, SlaCredit, SlaReport
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import World
from tests.sla.world import debit, entries, running_vm

PARIS = ZoneInfo("Europe/Paris")
BRUSSELS = ZoneInfo("Europe/Brussels")
WHO = HistoryActor.system("test")


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS).astimezone(dt.UTC)


def brussels(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BRUSSELS).astimezone(dt.UTC)


def _down(cw: ComputeWorld, vm_id: str, start: dt.datetime, minutes: int) -> None:
    """An outage as reconciliation records it: seen down at ``start``, running again
    ``minutes`` later."""
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        assert (
            recorded.open_outage(session, vm, start=start, detected_at=start, cause="crashed")
            is not None
        )
        recorded.close_outage(session, vm, start + dt.timedelta(minutes=minutes), WHO)


def _reports(cw: ComputeWorld, contract_id: str) -> list[SlaReport]:
    with cw.database.unit() as session:
        return list(
            session.execute(
                select(SlaReport)
                .where(SlaReport.contract_id == contract_id)
                .order_by(SlaReport.version)
            ).scalars()
        )


def _lines(report: SlaReport) -> dict[str, dict[str, str]]:
    return {line["name"]: line for line in json.loads(report.lines)}


def test_002_s6_boundaries_99_85_and_99_5_exactly_and_a_public_holiday(
    cw: ComputeWorld,
) -> None:
    """002 §6 over November 2026's 12,000 coverage minutes (SPEC §17): web-1 down 18 min
    on Tue 3 Nov → (12000 − 18)/12000 = 99.85 % exactly: objective met, no credit; web-2
    down 60 min → 99.5 % exactly: the 10 % tier (SPEC §17: the client's row), 10 % of
    45.00 = 4.50 (under the 20 % cap, 9.00); web-3 down 3 h on Wed 11 Nov (Armistice, a
    French public holiday): outside coverage, 100 %. Credit on request: claimable."""
    client_id = cw.world.client("Boundaries")
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    since = paris(2026, 10, 1)
    web1 = running_vm(cw, contract_id, flavour="avance-2-4", since=since, name="web-1")
    web2 = running_vm(cw, contract_id, flavour="avance-2-4", since=since, name="web-2")
    web3 = running_vm(cw, contract_id, flavour="avance-2-4", since=since, name="web-3")
    _down(cw, web1, paris(2026, 11, 3, 9), 18)
    _down(cw, web2, paris(2026, 11, 3, 9), 60)
    _down(cw, web3, paris(2026, 11, 11, 9), 180)
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    [report] = _reports(cw, contract_id)
    lines = _lines(report)
    assert Decimal(lines["web-1"]["availability_pct"]) == Decimal("99.85")
    assert Decimal(lines["web-1"]["credit"]) == 0 and lines["web-1"]["objective_met"]
    assert Decimal(lines["web-2"]["availability_pct"]) == Decimal("99.5")
    assert Decimal(lines["web-2"]["credit_rate_pct"]) == 10
    assert Decimal(lines["web-2"]["credit"]) == Decimal("4.50")
    assert Decimal(lines["web-3"]["counted_minutes"]) == 0
    assert Decimal(lines["web-1"]["denominator_minutes"]) == 12000
    assert report.credit_amount == Decimal("4.50") and not report.objective_met
    with cw.database.unit() as session:
        credit = session.execute(select(SlaCredit)).scalar_one()
        assert (credit.state, credit.amount) == ("claimable", Decimal("4.50"))


def test_002_s6_dst_month_october_counts_13200_coverage_minutes(cw: ComputeWorld) -> None:
    """002 §6 on October 2026 (DST ends on the 25th): 22 working days × 600 = 13,200
    coverage minutes whatever the clock change; 66 min down → 99.5 % exactly → 10 %."""
    client_id = cw.world.client("DST")
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 9, 1))
    _down(cw, vm, paris(2026, 10, 26, 10), 66)  # the Monday after the change
    with frozen_at(paris(2026, 11, 2, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 10)
    [report] = _reports(cw, contract_id)
    line = _lines(report)["web-1"]
    assert Decimal(line["denominator_minutes"]) == 13200
    assert Decimal(line["availability_pct"]) == Decimal("99.5")
    assert Decimal(line["credit"]) == Decimal("4.50")


def _maintenance(client: TestClient, admin: object, start: dt.datetime, minutes: int) -> dict:
    body = {
        "scope": "platform",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=minutes)).isoformat(),
        "reason": "kernel update",
    }
    r = client.post("/api/v1/maintenance", json=body, headers=admin.headers)  # type: ignore[attr-defined]
    assert r.status_code == 201, r.text
    return r.json()


def test_000_s7_maintenance_47h_ahead_is_an_outage_2_clear_days_not(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """000 §7: maintenance escapes penalties only if announced ≥ 2 clear days ahead
    (announced on D, it may start from D+4 00:00, SPEC §16). Announced Mon 2 Nov 2026
    23:00 for Wed 4 Nov 22:00 (47 h ahead): not in time, its 60 minutes count as an
    outage; announced Mon 2 Nov 10:00 for Fri 6 Nov 23:00: excused, counts nothing.
    Each announcement is a notice to the affected client (``maintenance_planned``)."""
    from nuages.accounts.roles import Role

    client_id = world.client("Night works")
    owner = world.user(Role.CLIENT_OWNER, client_id)  # the notices' recipient (000 §1)
    contract_id = cw.contract(client_id)
    vm = running_vm(cw, contract_id, flavour="vm-s", since=brussels(2026, 10, 1))
    debit(cw, contract_id, vm, "100", brussels(2026, 11, 15))
    admin = world.admin()
    with frozen_at(brussels(2026, 11, 2, 10)):
        excused = _maintenance(client, admin, brussels(2026, 11, 6, 23), 60)
    with frozen_at(brussels(2026, 11, 2, 23)):
        late = _maintenance(client, admin, brussels(2026, 11, 4, 22), 60)
    assert [c["in_time"] for c in excused["contracts"]] == [True]
    assert [c["in_time"] for c in late["contracts"]] == [False]
    assert excused["vm_ids"] == [vm] == late["vm_ids"]
    with cw.database.unit() as session:
        kinds = session.execute(
            select(Notice.kind).where(Notice.object_id.in_([excused["id"], late["id"]]))
        ).scalars()
        assert list(kinds) == ["maintenance_planned"] * 2
    with frozen_at(brussels(2026, 12, 2, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    [report] = _reports(cw, contract_id)
    line = _lines(report)["web-1"]
    assert Decimal(line["counted_minutes"]) == 60
    assert line["late_maintenance"] == 1
    # The VM's own SLA month counts the late window like the report, not the excused one.
    with frozen_at(brussels(2026, 12, 2, 3)):
        r = client.get(f"/api/v1/vms/{vm}/sla?month=2026-11", headers=owner.headers)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["counted_minutes"]) == 60
    pct = Decimal(r.json()["availability_pct"]).quantize(Decimal("0.000001"))
    assert pct == Decimal(line["availability_pct"])


def test_000_s5_monthly_job_twice_one_report_one_credit_then_a_correction(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """000 §5 (automatic penalties, prepaid): web-1 down 2 h in November 2026 (24/7,
    43,200 min): 99.7222 % → the 10 % tier of the month's debits, 100.00 → 10.00, applied
    as one ledger credit. The job run twice writes one report and one credit. Staff then
    declare a 6 h outage of 10 Nov late: the next run issues version 2 saying what
    changed (8 h: 98.8888 % → 50 %, capped at 30 % of the month's invoice = 30.00) whose
    credit is the 20.00 not yet granted."""
    client_id = world.client("Prepaid")
    contract_id = cw.contract(client_id)
    vm = running_vm(cw, contract_id, flavour="vm-s", since=brussels(2026, 10, 1))
    debit(cw, contract_id, vm, "100", brussels(2026, 11, 20))
    _down(cw, vm, brussels(2026, 11, 3, 9), 120)
    with frozen_at(brussels(2026, 12, 1, 3)):
        first = jobs.run(cw.database, WHO, cw.offers, 2026, 11)
        again = jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    assert (first["issued"], first["applied"]) == (1, 1)
    assert (again["issued"], again["corrected"], again["applied"]) == (0, 0, 0)
    [report] = _reports(cw, contract_id)
    assert report.credit_amount == Decimal("10.00") and report.credit_mode == "automatic"
    assert [e.amount for e in entries(cw, contract_id, "credit")] == [Decimal("10.00")]
    admin = world.admin()
    body = {
        "scope": "vm",
        "scope_ref": vm,
        "start": brussels(2026, 11, 10, 9).isoformat(),
        "end": brussels(2026, 11, 10, 15).isoformat(),
        "cause": "not-excusable",
        "description": "storage array failure, reported late",
    }
    with frozen_at(brussels(2026, 12, 3, 9)):
        r = client.post("/api/v1/outages", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["vm_ids"] == [vm]
    with frozen_at(brussels(2026, 12, 4, 3)):
        later = jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    assert (later["corrected"], later["applied"]) == (1, 1)
    v1, v2 = _reports(cw, contract_id)
    assert (v2.version, v2.supersedes_id, v2.credit_amount) == (2, v1.id, Decimal("30.00"))
    assert "counted 120 → 480" in v2.changes
    assert sorted(e.amount for e in entries(cw, contract_id, "credit")) == [
        Decimal("10.00"),
        Decimal("20.00"),
    ]


def test_bad_input_outages_maintenance_and_claims_write_nothing(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """An outage ending before it starts, an unknown cause, maintenance in the past:
    422 naming the field; maintenance outside 000 §7's 22:00–08:00 needs confirming
    (409, then 201 with ``confirm_outside_window``); a client cannot declare outages
    (403); a claim twice is a 409 (002 §6 "sur demande": once)."""
    client_id = world.client("Bad input")
    contract_id = cw.contract(client_id)
    vm = running_vm(cw, contract_id, flavour="vm-s", since=brussels(2026, 10, 1))
    admin = world.admin()
    base = {"scope": "vm", "scope_ref": vm, "cause": "not-excusable", "description": "x"}
    with frozen_at(brussels(2026, 11, 20, 12)):
        cases = [
            ({"start": "2026-11-10T10:00:00Z", "end": "2026-11-10T09:00:00Z"}, "end"),
            ({"start": "2026-11-10T10:00:00Z", "cause": "bad-luck"}, "cause"),
        ]
        for extra, field in cases:
            r = client.post("/api/v1/outages", json=base | extra, headers=admin.headers)
            assert r.status_code == 422, r.text
            assert field in r.text
        past = {"scope": "vm", "scope_ref": vm, "reason": "x"}
        past |= {"start": "2026-11-19T23:00:00Z", "end": "2026-11-20T00:00:00Z"}
        r = client.post("/api/v1/maintenance", json=past, headers=admin.headers)
        assert r.status_code == 422 and "start" in r.text
        day = {"scope": "vm", "scope_ref": vm, "reason": "x"}
        day |= {"start": "2026-11-30T10:00:00+01:00", "end": "2026-11-30T11:00:00+01:00"}
        r = client.post("/api/v1/maintenance", json=day, headers=admin.headers)
        assert r.status_code == 409 and "confirm_outside_window" in r.text
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(Maintenance)).scalar_one() == 0
    with frozen_at(brussels(2026, 11, 20, 12)):
        r = client.post(
            "/api/v1/maintenance",
            json=day | {"confirm_outside_window": True},
            headers=admin.headers,
        )
    assert r.status_code == 201 and r.json()["outside_window"] is True


def test_002_s6_claim_once_through_the_api(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """002 §6 "sur demande": the owner sees the claimable 4.50 on its contract's SLA
    month and claims it once (201); a second claim is a 409; nothing else changes."""
    from nuages.accounts.roles import Role

    client_id = world.client("Claimer")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 10, 1))
    _down(cw, vm, paris(2026, 11, 3, 9), 60)
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    with frozen_at(paris(2026, 12, 2, 9)):
        r = client.get(f"/api/v1/contracts/{contract_id}/sla?month=2026-11", headers=owner.headers)
        assert r.status_code == 200, r.text
        report = r.json()["report"]
        assert report["credit"]["state"] == "claimable" and Decimal(
            report["credit"]["amount"]
        ) == Decimal("4.50")
        url = f"/api/v1/sla/reports/{report['id']}/claims"
        r = client.post(url, json={"note": "ticket 1"}, headers=owner.headers)
        assert r.status_code == 201 and r.json()["state"] == "due", r.text
        r = client.post(url, json={}, headers=owner.headers)
        assert r.status_code == 409 and "already claimed" in r.text


def test_000_s5_penalties_lost_while_the_account_was_negative(cw: ComputeWorld) -> None:
    """000 §5: penalties are suspended, and lost, while the prepaid account is negative.
    Down 2 h on 3 November 09:00–11:00 Brussels, the account negative from 08:00 to
    10:00: only 10:00–11:00 counts, 60 of 43,200 min → 99.8611 % → the seed's 10 %
    tier of the month's debits, 100.00 → 10.00."""
    from nuages.billing.models import NegativeBalancePeriod

    client_id = cw.world.client("Negative")
    contract_id = cw.contract(client_id)
    vm = running_vm(cw, contract_id, flavour="vm-s", since=brussels(2026, 10, 1))
    debit(cw, contract_id, vm, "100", brussels(2026, 11, 20))
    _down(cw, vm, brussels(2026, 11, 3, 9), 120)
    with cw.database.unit() as session:
        session.add(
            NegativeBalancePeriod(
                contract_id=contract_id,
                client_id=client_id,
                started_at=brussels(2026, 11, 3, 8),
                ended_at=brussels(2026, 11, 3, 10),
            )
        )
    with frozen_at(brussels(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    [report] = _reports(cw, contract_id)
    assert Decimal(_lines(report)["web-1"]["counted_minutes"]) == 60
    assert report.credit_amount == Decimal("10.00")
