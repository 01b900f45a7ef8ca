"""Prepaid metering at and after the contract's end, and the burn at the revised price
(issue #21): 000 §18 / §13.2 give no paid reversibility period, so an ended contract's
VMs (waiting for their image and erasure) are not debited after ``ended_at``; and the
burn shown on the account is the catalogue price times the revisions in force (000
§13.3), as the daily revision entries debit it. isstar-cloud: vm-s 0.0150/h."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import metering
from nuages.billing.models import LedgerEntry
from nuages.billing.settings import BillingSettings
from nuages.contracts.models import Contract, ContractPriceRevision
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import at, funded, vms
from tests.factories import World

SETTINGS = BillingSettings(metering_batch=2)


def _usage(database: Database, contract_id: str) -> list[LedgerEntry]:
    with database.unit() as session:
        return list(
            session.execute(
                select(LedgerEntry)
                .where(LedgerEntry.contract_id == contract_id, LedgerEntry.kind == "usage")
                .order_by(LedgerEntry.seq)
            ).scalars()
        )


def _end_now(http: TestClient, admin_headers: dict[str, str], contract_id: str) -> None:
    r = http.post(
        f"/api/v1/contracts/{contract_id}/end-now",
        json={"cause": "client_notice"},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "reversibility"


def test_regression_prepaid_metering_stops_at_the_contract_end(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """000 §18, §13.2: three vm-s from 10:00 (one of them arriving at 10:30), the contract
    ended at 11:30 and its VMs not erased yet; metered at 15:05: [10, 11) 2 × 0.0150 +
    0.5 × 0.0150, [11, 11:30) 3 × 0.5 × 0.0150 → 0.0375 + 0.0225 = 0.0600, nothing after
    11:30 (before the fix every later hour was debited, 0.0450 an hour); the account's
    burn is then 0 and no run-out date is shown."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client, "100.00")
    vms(database, f.contract_id, f.client_id, 2, at("2026-11-02 10:00"))
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:30"))
    set_now(at("2026-11-02 11:30"))
    _end_now(client, f.admin.headers, f.contract_id)
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None and contract.ended_at == at("2026-11-02 11:30")
    set_now(at("2026-11-02 15:05"))
    metering.run(database.unit, at("2026-11-02 15:05"), registry=offers, settings=SETTINGS)
    entries = _usage(database, f.contract_id)
    assert sum(e.amount for e in entries) == Decimal("-0.06")
    assert max(e.period_end for e in entries if e.period_end) == at("2026-11-02 12:00")
    after = [e for e in entries if e.period_start and e.period_start >= at("2026-11-02 12:00")]
    assert after == []
    last = [e for e in entries if e.period_start == at("2026-11-02 11:00")]
    assert sorted(e.quantity for e in last) == [Decimal("0.5")] * 3
    summary = client.get(f"/api/v1/billing/contracts/{f.contract_id}/account",
                         headers=f.owner.headers)  # fmt: skip
    assert summary.status_code == 200, summary.text
    assert Decimal(summary.json()["hourly_burn"]) == 0
    assert summary.json()["runs_out_at"] is None


def test_000_s13_3_burn_and_run_out_include_the_price_revision(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """000 §13.3: a revision ×1.085 in force since 1 November; two vm-s cost 2 × 0.0150 =
    0.0300/h at the catalogue price, 0.03255/h revised (the daily revision fee debits
    the difference); with 100.00 on the account the money lasts 100 / 0.03255 =
    3,072.2 h, not 3,333.3 h (before the fix the burn ignored the revision)."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client, "100.00")
    vms(database, f.contract_id, f.client_id, 2, at("2026-11-02 08:00"))
    with database.unit() as session:
        session.add(
            ContractPriceRevision(
                contract_id=f.contract_id, client_id=f.client_id,
                effective_at=at("2026-11-01 00:00"), factor=Decimal("1.085"),
                cumulative=Decimal("1.085"), clause="000 §13.3", decided_by="test",
            )
        )  # fmt: skip
    set_now(at("2026-11-02 09:10"))
    r = client.get(f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert Decimal(body["hourly_burn"]) == Decimal("0.03255")
    balance = Decimal(body["balance"])
    runs_out = dt.datetime.fromisoformat(body["runs_out_at"])
    hours = (runs_out - at("2026-11-02 09:10")).total_seconds() / 3600
    assert abs(hours - float(balance / Decimal("0.03255"))) < 0.01
    assert 3070 < hours < 3073
