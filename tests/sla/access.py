"""SLA objects of a tenant for the generated access tests (tests/foundation/test_access.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nuages.kernel.db import Database
from nuages.sla.models import Incident, IncidentVm, SlaReport


def sla_objects(database: Database, client_id: str, contract_id: str, vm_id: str) -> dict[str, str]:
    """A declared outage of the tenant's VM and an issued report of its contract."""
    start = dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC)
    with database.unit() as session:
        incident = Incident(
            scope="vm", scope_ref=vm_id, start=start, end=start + dt.timedelta(minutes=30),
            cause="not-excusable", description="access test", declared_by="test",
        )  # fmt: skip
        session.add(incident)
        session.flush()
        session.add(
            IncidentVm(
                incident_id=incident.id,
                vm_id=vm_id,
                client_id=client_id,
                contract_id=contract_id,
            )
        )
        report = SlaReport(
            contract_id=contract_id, client_id=client_id, offer_id="isstar-cloud", year=2026,
            month=10, version=1, denominator="coverage_minutes", objective_pct=Decimal("99.9"),
            availability_pct=Decimal(100), objective_met=True, counted_minutes=Decimal(0),
            credit_amount=Decimal(0), credit_mode="automatic", fingerprint="-", lines="[]",
        )  # fmt: skip
        session.add(report)
        session.flush()
        return {"outage_id": incident.id, "report_id": report.id}
