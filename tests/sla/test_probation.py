"""002 §4: no SLA for a managed service during its probation, as the managed slice
states it (``managed.probation``), on SQLite and PostgreSQL (issue 22).

002 §4: after the initial footprint audit, the managed service runs a probation of 3
calendar months, billed, without SLA. The SLA asks ``managed.probation.probation_period``
(one rule decides): before the audit's end and after the probation the SLA applies.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import select

from nuages.contracts.models import Contract
from nuages.kernel.clock import frozen_at
from nuages.managed import agreements
from nuages.managed.probation import in_probation
from nuages.sla import jobs, reports
from nuages.sla.models import SlaReport
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401
from tests.sla.test_reports import WHO, _down, paris
from tests.sla.world import running_vm


def _managed_contract(cw: ComputeWorld, name: str, audit_end: dt.datetime | None) -> str:
    client_id = cw.world.client(name)
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    values: dict[str, object] = {"managed": True, "footprint_audit_end": audit_end}
    with cw.database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, values)
    return contract_id


def _lines(cw: ComputeWorld, contract_id: str) -> tuple[SlaReport, dict[str, dict[str, str]]]:
    with cw.database.unit() as session:
        [report] = session.execute(
            select(SlaReport).where(SlaReport.contract_id == contract_id)
        ).scalars()
        return report, {x["name"]: x for x in json.loads(report.lines)}


def test_002_s4_managed_server_in_probation_has_no_sla(cw: ComputeWorld) -> None:
    """002 §4: footprint audit ended 1 October 2026 00:00 Paris → probation to 1 January
    2027. The managed server down 3 h on Tue 3 November earns nothing and its line says
    why; a plain VM of the same contract down the same 3 h earns its credit (180 of
    12,000 coverage minutes → 98.5 % → 10 % of 45.00 = 4.50). The managed slice agrees."""
    contract_id = _managed_contract(cw, "In probation", paris(2026, 10, 1))
    since = paris(2026, 9, 1)
    managed = running_vm(cw, contract_id, flavour="avance-2-4", since=since, managed=True,
                         name="managed-1")  # fmt: skip
    plain = running_vm(cw, contract_id, flavour="avance-2-4", since=since, name="plain-1")
    for vm in (managed, plain):
        _down(cw, vm, paris(2026, 11, 3, 9), 180)
    with cw.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        assert in_probation(session, contract, paris(2026, 11, 3, 9))
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    report, lines = _lines(cw, contract_id)
    assert "002 §4" in lines["managed-1"]["note"]
    assert Decimal(lines["managed-1"]["credit"]) == 0
    assert Decimal(lines["plain-1"]["credit"]) == Decimal("4.50")
    assert report.credit_amount == Decimal("4.50")


def test_002_s4_managed_server_out_of_probation_has_its_sla(cw: ComputeWorld) -> None:
    """002 §4: footprint audit ended 1 August 2026 → probation ended 1 November 2026
    00:00 Paris. The managed server started 1 June (its own start no longer decides) is
    down 3 h on 3 November: 180/12,000 → 98.5 % → 10 % of 45.00 = 4.50."""
    contract_id = _managed_contract(cw, "Out of probation", paris(2026, 8, 1))
    managed = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 10, 20),
                         managed=True, name="managed-1")  # fmt: skip
    _down(cw, managed, paris(2026, 11, 3, 9), 180)
    with cw.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        assert not in_probation(session, contract, paris(2026, 11, 3, 9))
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    report, lines = _lines(cw, contract_id)
    assert "note" not in lines["managed-1"]
    assert Decimal(lines["managed-1"]["counted_minutes"]) == 180
    assert report.credit_amount == Decimal("4.50")


def test_002_s4_probation_ending_mid_month_counts_only_after_it(cw: ComputeWorld) -> None:
    """002 §4: audit ended 16 August 2026 10:00 Paris → probation until 16 November
    10:00. Down 3 h on Tue 3 November (in probation: nothing) and 2 h on Tue 17 November
    09:00–11:00 (counts): 120/12,000 → 99.0 % → 10 % of 45.00 = 4.50. Before the audit's
    end the SLA applied (no probation yet, SPEC §17); the calculator (``measure``) and
    the monthly job agree."""
    contract_id = _managed_contract(cw, "Mid-month", paris(2026, 8, 16, 10))
    managed = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 7, 1),
                         managed=True, name="managed-1")  # fmt: skip
    _down(cw, managed, paris(2026, 11, 3, 9), 180)
    _down(cw, managed, paris(2026, 11, 17, 9), 120)
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
        with cw.database.unit() as session:
            contract = session.get(Contract, contract_id)
            assert contract is not None
            measured = reports.measure(session, cw.offers, contract, 2026, 11)
    report, lines = _lines(cw, contract_id)
    line = lines["managed-1"]
    assert Decimal(line["counted_minutes"]) == 120
    assert line["probation_until"] == paris(2026, 11, 16, 10).isoformat()
    assert report.credit_amount == Decimal("4.50")
    assert measured.lines == json.loads(report.lines)


def test_002_s4_no_probation_before_the_footprint_audit_ends(cw: ComputeWorld) -> None:
    """002 §4 read for the client (SPEC §17): with no footprint-audit end recorded the
    probation has not begun, so the SLA applies: 180/12,000 → 4.50."""
    contract_id = _managed_contract(cw, "No audit yet", None)
    managed = running_vm(cw, contract_id, flavour="avance-2-4", since=paris(2026, 10, 1),
                         managed=True, name="managed-1")  # fmt: skip
    _down(cw, managed, paris(2026, 11, 3, 9), 180)
    with frozen_at(paris(2026, 12, 1, 3)):
        jobs.run(cw.database, WHO, cw.offers, 2026, 11)
    report, lines = _lines(cw, contract_id)
    assert "note" not in lines["managed-1"]
    assert report.credit_amount == Decimal("4.50")
