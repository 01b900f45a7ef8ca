"""The prepaid rules an order form may set differently (000 §13.2 "par heure ou par
mois", §11.2 suspension, §1 VMs at the client's disposal), read from the terms file:
each test runs isstar-cloud with one value changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.app import create_app
from nuages.billing import metering
from nuages.billing.models import LedgerEntry
from nuages.billing.settings import BillingSettings
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.billing.factories import at, funded, vms
from tests.factories import World

OFFERS = Path(__file__).resolve().parents[2] / "offers"

Variant = Callable[[dict[str, str]], tuple[TestClient, OfferRegistry]]


@pytest.fixture
def variant(tmp_path: Path, settings: Settings, database: Database) -> Iterator[Variant]:
    """Build an app whose only offer is isstar-cloud with some lines replaced."""
    clients: list[TestClient] = []

    def make(replace: dict[str, str]) -> tuple[TestClient, OfferRegistry]:
        folder = tmp_path / f"offers-{len(clients)}"
        folder.mkdir()
        text = (OFFERS / "isstar-cloud.toml").read_text("utf-8")
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        (folder / "isstar-cloud.toml").write_text(text, "utf-8")
        registry = OfferRegistry.from_directory(folder)
        http = TestClient(create_app(settings, database, registry), raise_server_exceptions=False)
        http.__enter__()
        clients.append(http)
        return http, registry

    yield make
    for http in clients:
        http.__exit__(None, None, None)


def test_000_s13_2_monthly_debit_once_per_local_month(
    variant: Variant, world: World, database: Database
) -> None:
    """debit_basis = "monthly": November 2026 in Brussels (UTC+1) is [31 Oct 23:00Z,
    30 Nov 23:00Z) = 720 h. A vm-s there all month: 720 × 0.0150 = 10.80; one from
    15 Nov 12:00 local (11:00Z): 372 h × 0.0150 = 5.58; each one entry, written in the
    hour in which the local month ends; nothing before."""
    client, registry = variant({'debit_basis = "hourly"': 'debit_basis = "monthly"'})
    set_now(at("2026-10-30 10:00"))
    f = funded(world, client)
    whole = vms(database, f.contract_id, f.client_id, 1, at("2026-10-31 23:00"))[0]
    half = vms(database, f.contract_id, f.client_id, 1, at("2026-11-15 11:00"))[0]
    set_now(at("2026-11-30 22:59"))  # metering runs as of now (17.8)
    early = metering.run(database.unit, at("2026-11-30 22:59"), registry=registry)
    assert early.written == 0
    set_now(at("2026-11-30 23:10"))  # metering runs as of now (17.8)
    report = metering.run(database.unit, at("2026-11-30 23:10"), registry=registry)
    assert report.written == 2
    with database.unit() as session:
        rows = {
            e.resource_id: e
            for e in session.execute(select(LedgerEntry).where(LedgerEntry.kind == "usage"))
            .scalars()
            .all()
        }
    assert rows[whole].amount == Decimal("-10.8")
    assert rows[half].amount == Decimal("-5.58")
    assert rows[whole].period_start == at("2026-10-31 23:00")
    assert rows[whole].period_end == at("2026-11-30 23:00")


def test_000_s11_2_notify_then_suspend_waits_for_the_grace_time(
    variant: Variant, world: World, database: Database
) -> None:
    """on_negative_balance = "notify_then_suspend" with a 24 h grace: negative at 12:00,
    a notice at once, the suspension only once the grace time is over."""
    client, registry = variant(
        {'"suspend_without_notice"  # 000 §11.2': '"notify_then_suspend"  # variant'}
    )
    grace = BillingSettings(negative_grace_hours=24)
    set_now(at("2026-11-02 10:00"))
    f = funded(world, client, "100.00")
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/adjustments",
        json={"kind": "fee", "amount": "100.00", "reason": "test: spend it"},
        headers=f.admin.headers,
    )
    assert r.status_code == 201
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 11:00"))
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    first = metering.run(database.unit, at("2026-11-02 12:10"), registry=registry, settings=grace)
    assert first.suspended == []
    with database.unit() as session:
        actions = list(session.execute(select(HistoryEntry.action)).scalars())
    assert "notice.negative_balance" in actions and "notice.suspension" not in actions
    set_now(at("2026-11-03 12:10"))  # metering runs as of now (17.8)
    later = metering.run(database.unit, at("2026-11-03 12:10"), registry=registry, settings=grace)
    assert later.suspended == [f.contract_id]
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None and contract.state == "suspended"


def test_stopped_vms_not_billed_when_the_order_form_says_so(
    variant: Variant, world: World, database: Database
) -> None:
    """stopped_vms_billed = false: a stopped VM costs nothing, a running one 0.0150/h."""
    client, registry = variant({"stopped_vms_billed = true": "stopped_vms_billed = false"})
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"), state="stopped")
    running = vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"))[0]
    set_now(at("2026-11-02 11:00"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 11:00"), registry=registry)
    with database.unit() as session:
        rows = session.execute(
            select(LedgerEntry.resource_id, LedgerEntry.amount).where(LedgerEntry.kind == "usage")
        ).all()
    assert rows == [(running, Decimal("-0.015"))]


def test_no_suspension_when_the_terms_say_none(
    variant: Variant, world: World, database: Database
) -> None:
    """on_negative_balance = "none": the negative span is recorded (000 §5), nothing is
    suspended."""
    client, registry = variant({'"suspend_without_notice"  # 000 §11.2': '"none"  # variant'})
    set_now(at("2026-11-02 10:00"))
    f = funded(world, client)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/adjustments",
        json={"kind": "fee", "amount": "100.00", "reason": "test: spend it"},
        headers=f.admin.headers,
    )
    assert r.status_code == 201
    vms(database, f.contract_id, f.client_id, 1, at("2026-11-02 10:00"))
    set_now(at("2026-11-02 12:10"))  # metering runs as of now (17.8)
    report = metering.run(database.unit, at("2026-11-02 12:10"), registry=registry)
    assert report.suspended == []
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    assert account["negative_since"].startswith("2026-11-02T11:00")
    assert account["contract_state"] == "active"
