"""Metering (000 §9, §13.2; offer isstar-cloud): every VM-period debited exactly once,
pro rata to the second, never less than one hour per VM, catching up missed hours in
order. Prices of isstar-cloud: vm-s 0.0150, vm-m 0.0480 per hour."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import ledger, metering
from nuages.billing.models import LedgerEntry, MeteringPeriod
from nuages.billing.settings import BillingSettings
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import at, funded, vms
from tests.factories import World

SETTINGS = BillingSettings(metering_batch=7)


def _usage(database: Database, contract_id: str) -> list[LedgerEntry]:
    with database.unit() as session:
        return list(
            session.execute(
                select(LedgerEntry)
                .where(LedgerEntry.contract_id == contract_id, LedgerEntry.kind == "usage")
                .order_by(LedgerEntry.seq)
            ).scalars()
        )


def test_000_s13_2_hourly_debit_per_vm_hour_written_once(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """Three vm-s from 10:00 and one vm-m from 10:30, metered at 12:05: hours [10, 11)
    and [11, 12) → 3 × 2 × 0.0150 + 0.5 × 0.0480 + 1 × 0.0480 = 0.162000 over 8
    entries; a second run at the same time writes nothing."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client, "100.00")
    vms(database, f.contract_id, f.client_id, 3, at("2026-11-02 10:00"))
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:30"), flavour="vm-m")
    set_now(at("2026-11-02 12:05"))
    report = metering.run(database.unit, at("2026-11-02 12:05"), registry=offers, settings=SETTINGS)
    assert report.periods == [at("2026-11-02 10:00"), at("2026-11-02 11:00")]
    assert report.written == 8
    entries = _usage(database, f.contract_id)
    assert sum(e.amount for e in entries) == Decimal("-0.162")
    half = [e for e in entries if e.quantity == Decimal("0.5")]
    assert len(half) == 1 and half[0].amount == Decimal("-0.024")
    assert half[0].period_start == at("2026-11-02 10:00")
    assert half[0].period_end == at("2026-11-02 11:00")
    set_now(at("2026-11-02 12:05"))  # metering runs as of now (17.8)
    again = metering.run(database.unit, at("2026-11-02 12:05"), registry=offers, settings=SETTINGS)
    assert again.periods == [] and again.written == 0
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("99.838")
        assert ledger.verify(session) == []


def test_000_s9_deleted_vm_billed_at_least_one_hour(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """000 §9 (minimum_billed = 1 hour): a vm-s living 10:20–10:35 costs 1 h = 0.0150,
    in its only period; one living 10:20–11:05 costs 40 min in [10, 11) and 5 + 15 min in
    [11, 12): 0.010 + 0.005 = 0.0150 in all; one living 10:00–12:30 costs 2.5 h."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    short = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:20"),
                deleted_at=at("2026-11-02 10:35"))[0]  # fmt: skip
    straddling = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:20"),
                     deleted_at=at("2026-11-02 11:05"))[0]  # fmt: skip
    long = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"),
               deleted_at=at("2026-11-02 12:30"))[0]  # fmt: skip
    set_now(at("2026-11-02 14:00"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 14:00"), registry=offers, settings=SETTINGS)
    by_vm: dict[str, list[LedgerEntry]] = {}
    for e in _usage(database, f.contract_id):
        assert e.resource_id is not None
        by_vm.setdefault(e.resource_id, []).append(e)
    assert [e.amount for e in by_vm[short]] == [Decimal("-0.015")]
    assert [e.amount for e in by_vm[straddling]] == [Decimal("-0.01"), Decimal("-0.005")]
    assert sum(e.quantity or 0 for e in by_vm[straddling]) == Decimal(1)
    assert sum(e.amount for e in by_vm[long]) == Decimal("-0.0375")
    assert len(by_vm[long]) == 3


def test_stopped_billed_error_not_and_unpriced_flavour_reported(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """isstar-cloud bills stopped VMs (stopped_vms_billed = true, 000 §1: still at the
    client's disposal); a VM in error is at nobody's disposal and is not billed; a flavour
    the offer does not sell is reported, never priced by guess."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    stopped = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"),
                  state="stopped")[0]  # fmt: skip
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"), state="error")
    from sqlalchemy import update

    from nuages.compute.models import Vm

    odd = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"))[0]
    with database.unit() as session:
        session.execute(update(Vm).where(Vm.id == odd).values(flavour_id="custom-xl"))
    set_now(at("2026-11-02 11:00"))  # metering runs as of now (17.8)
    report = metering.run(database.unit, at("2026-11-02 11:00"), registry=offers, settings=SETTINGS)
    entries = _usage(database, f.contract_id)
    assert [e.resource_id for e in entries] == [stopped]
    assert report.unpriced == {"custom-xl"}


def test_worker_down_seven_hours_catches_up_each_hour_once_in_order(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """Metered up to 10:00, then the worker is down until 17:20: the next run meters
    [10, 11) … [16, 17) — 7 hours — each once and oldest first; 5 vm-s × 7 × 0.0150."""
    set_now(at("2026-11-02 08:00"))
    f = funded(world, client)
    ids = vms(database, f.contract_id, f.client_id, 5, at("2026-11-02 09:00"))
    set_now(at("2026-11-02 10:00"))  # metering runs as of now (17.8)
    first = metering.run(database.unit, at("2026-11-02 10:00"), registry=offers, settings=SETTINGS)
    assert first.periods == [at("2026-11-02 09:00")]
    set_now(at("2026-11-02 17:20"))  # metering runs as of now (17.8)
    late = metering.run(database.unit, at("2026-11-02 17:20"), registry=offers, settings=SETTINGS)
    hours = [at("2026-11-02 10:00") + dt.timedelta(hours=i) for i in range(7)]
    assert late.periods == hours
    assert late.written == 35
    entries = [e for e in _usage(database, f.contract_id) if e.period_start in hours]
    assert Counter((e.resource_id, e.period_start) for e in entries) == Counter(
        {(vm, h): 1 for vm in ids for h in hours}
    )
    # Written in order: entry numbers grow with the period start.
    starts = [e.period_start for e in entries]
    assert starts == sorted(starts)
    assert sum(e.amount for e in entries) == Decimal("-0.525")
    with database.unit() as session:
        done = session.execute(
            select(MeteringPeriod.period_start).order_by(MeteringPeriod.period_start)
        ).scalars()
        assert list(done) == [at("2026-11-02 09:00"), *hours]


def test_usage_per_vm_and_period_through_the_api(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """Usage is visible per VM and per period, and totalled per VM."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    a, b = vms(database, f.contract_id, f.client_id, 2, at("2026-11-02 10:00"))
    set_now(at("2026-11-02 13:00"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 13:00"), registry=offers, settings=SETTINGS)
    base = f"/api/v1/billing/contracts/{f.contract_id}"
    page = client.get(f"{base}/usage?resource_id={a}", headers=f.owner.headers).json()
    assert page["total"] == 3
    assert {item["resource_id"] for item in page["items"]} == {a}
    window = client.get(
        f"{base}/usage?since=2026-11-02T11:00:00Z&until=2026-11-02T12:00:00Z",
        headers=f.owner.headers,
    ).json()
    assert window["total"] == 2
    assert {i["period_start"][:16] for i in window["items"]} == {"2026-11-02T11:00"}
    totals = client.get(f"{base}/usage/totals", headers=f.owner.headers).json()
    assert {t["resource_id"]: (t["periods"], Decimal(t["amount"])) for t in totals} == {
        a: (3, Decimal("-0.045")),
        b: (3, Decimal("-0.045")),
    }
    account = client.get(f"{base}/account", headers=f.owner.headers).json()
    assert Decimal(account["hourly_burn"]) == Decimal("0.03")
