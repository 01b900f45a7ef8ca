"""Invoicing runs: dry runs, reruns, proration of upgrades, problems reported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute.models import Vm
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.invoicing import lines, upgrades
from nuages.invoicing.models import Invoice, InvoiceRun, InvoiceSequence
from nuages.kernel.db import Database
from tests.factories import World

from .factories import Billing, documents_of, run_at, utc

D = Decimal


def _counts(database: Database) -> tuple[int, int, int, int]:
    with database.unit() as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Invoice, InvoiceSequence, HistoryEntry, InvoiceRun)
        )


def test_dry_run_writes_nothing_and_shows_the_invoice(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A preview computes the documents a run would issue and writes nothing: no
    invoice, no number, no history entry, no run record."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-d4s", dt.date(2026, 3, 1))
    before = _counts(database)
    report = run_at(database, offers, utc(2026, 3, 1, 12), dry_run=True)
    assert _counts(database) == before
    [preview] = report.previews
    assert (preview["total_net"], preview["tax_total"], preview["grand_total"]) == (
        D("160.00"),
        D("32.00"),
        D("192.00"),
    )
    assert not report.issued and report.run_id is None
    # The real run issues exactly what was previewed; a rerun issues nothing more.
    real = run_at(database, offers, utc(2026, 3, 1, 13))
    assert real.issued[0]["grand_total"] == D("192.00")
    assert not run_at(database, offers, utc(2026, 3, 1, 14)).issued
    with database.unit() as session:
        row = session.get(InvoiceRun, real.run_id)
        assert row is not None and row.issued == 1 and row.finished_at is not None


def test_contract_without_price_is_reported_and_takes_no_number(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A contract with nothing billable gets a line in the run report, no invoice, and
    the sequence stays where it was; the next good invoice takes number 1."""
    client = billing.client()
    empty = billing.contract("optima-cloud-azure", client, utc(2026, 3, 1, 9))
    report = run_at(database, offers, utc(2026, 3, 1, 12))
    assert report.problems == [
        {
            "contract_id": empty,
            "problem": "no price: the contract has no VM, ordered line or charge to invoice",
        }
    ]
    good = billing.contract("optima-cloud-azure", client, utc(2026, 3, 1, 9))
    billing.line(good, "azure-b2s", dt.date(2026, 3, 1))
    report = run_at(database, offers, utc(2026, 3, 1, 13))
    assert [i["number"] for i in report.issued] == ["F-2026-000001"]


def test_004_s8_1_missing_syntec_index_is_reported_not_guessed(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """004 §8.1: at the anniversary the price follows Syntec; with no value entered for
    the year before the revision date, the run reports it and issues nothing for the
    contract — not even the months before (no half-written catch-up). Once staff enter
    the value (``nuages index set syntec 2026-02 …``) the rerun invoices everything."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2025, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2025, 3, 1))
    billing.index("syntec", "2025-02", "290")
    report = run_at(database, offers, utc(2026, 3, 1, 12))
    assert len(report.problems) == 1
    assert "missing syntec index value" in report.problems[0]["problem"]
    assert documents_of(database, contract) == []
    billing.index("syntec", "2026-02", "301.6")
    report = run_at(database, offers, utc(2026, 3, 1, 13))
    assert len(report.issued) == 13
    march = documents_of(database, contract)[-1][0]
    assert march.total_net == D("57.20")  # 55.00 × 301.6 / 290 = 57.20


def test_003_s14_3_upgrade_prorata_downgrade_neither_billed_nor_refunded(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.3: an upgrade on 11 March from SVP S (59.00) to SVP M (109.00), March
    already invoiced in advance, costs the difference for 21 of March's 31 days on the
    April invoice: 50.00 × 21/31 = 33.870… → 33.87 (VAT included). The downgrade back
    on 11 April adds no line and takes nothing back: May bills SVP S alone.
    An option added on 16 March is billed from that day: 10.00 × 16/31 = 5.16."""
    client = billing.client()
    contract = billing.contract("virtualsr-svp", client, utc(2026, 2, 28, 23))
    small = billing.line(contract, "svp-s", dt.date(2026, 3, 1))
    run_at(database, offers, utc(2026, 3, 1, 6))
    big = billing.line(contract, "svp-m", dt.date(2026, 3, 11), replaces_id=small)
    billing.line(contract, "datas-backup", dt.date(2026, 3, 16))
    run_at(database, offers, utc(2026, 4, 1, 6))
    billing.line(contract, "svp-s", dt.date(2026, 4, 11), replaces_id=big)
    run_at(database, offers, utc(2026, 5, 1, 6))
    march, april, may = (lines_ for _, lines_ in documents_of(database, contract))
    assert [(x.kind, x.gross_amount) for x in march] == [("item", D("59.00"))]
    assert [(x.kind, x.gross_amount) for x in april] == [
        ("item", D("109.00")),
        ("upgrade", D("33.87")),
        ("item", D("10.00")),
        ("prorata", D("5.16")),
    ]
    assert "SVP S → SVP M" in april[1].description and "003 §14.3" in april[1].description
    assert [(x.kind, x.gross_amount) for x in may] == [  # lines in order of start
        ("item", D("10.00")),
        ("item", D("59.00")),
    ]


def test_charges_go_on_the_next_invoice_once(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A fee added between invoices (001 §7 EUR 250 per transfer) is billed on the next
    invoice and never again; the same idempotency key cannot add it twice."""
    client = billing.client()
    contract_id = billing.contract("optima-cloud-azure", client, utc(2026, 3, 1, 9))
    billing.line(contract_id, "azure-b2s", dt.date(2026, 3, 1))
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        _, wrote = lines.add_charge(
            session,
            Actor.system("t"),
            contract,
            kind="fee",
            description="Transfert (001 §7)",
            amount=D("250"),
            idempotency_key="fee-transfer-1",
        )
        _, again = lines.add_charge(
            session,
            Actor.system("t"),
            contract,
            kind="fee",
            description="Transfert (001 §7)",
            amount=D("250"),
            idempotency_key="fee-transfer-1",
        )
    assert wrote and not again
    run_at(database, offers, utc(2026, 3, 1, 12))
    run_at(database, offers, utc(2026, 4, 1, 12))
    march, april = (lines_ for _, lines_ in documents_of(database, contract_id))
    assert [x.net_amount for x in march] == [D("55.00"), D("250.00")]
    assert [x.net_amount for x in april] == [D("55.00")]


def test_run_api_is_staff_only_and_previews(
    client: TestClient, world: World, billing: Billing
) -> None:
    """POST /invoicing/runs: staff preview then run; a client owner is refused (403)."""
    admin = world.admin()
    client_id = billing.client()
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    owner = world.user(Role.CLIENT_OWNER, client_id)
    body = {"run_on": "2026-03-01", "dry_run": True}
    assert (
        client.post("/api/v1/invoicing/runs", json=body, headers=owner.headers).status_code == 403
    )
    r = client.post("/api/v1/invoicing/runs", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["previews"][0]["grand_total"] == "66.00"
    r = client.post("/api/v1/invoicing/runs", json={"run_on": "2026-03-01"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    [issued] = r.json()["issued"]
    r = client.get("/api/v1/invoices", headers=owner.headers)
    assert [i["number"] for i in r.json()["items"]] == [issued["number"]]
    r = client.post("/api/v1/invoicing/runs", json={"run_on": "2099-01-01"}, headers=admin.headers)
    assert r.status_code == 422


def test_003_s14_3_vm_resize_charges_the_rest_of_the_invoiced_month(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.3 for a VM resized on 11 March (March invoiced on 1 March at SVP S):
    the difference 109.00 − 59.00 = 50.00 for 21 of 31 days = 33.87 VAT included;
    as a charge net of VAT that is 28.22 (28.22 + 5.64 = 33.86: no net reaches 33.87,
    so the cent goes to the client). April bills the VM at SVP M (net 90.83) plus the
    charge: net 119.05, VAT 23.81, total 142.86. A downgrade charges nothing, and a
    resize before its month is invoiced neither (the run bills the new size)."""
    client = billing.client()
    contract = billing.contract("virtualsr-svp", client, utc(2026, 2, 28, 23))
    vm_id = billing.vm(contract, "svp-s", utc(2026, 2, 28, 23), name="erp")
    run_at(database, offers, utc(2026, 3, 1, 6))
    with database.unit() as session:
        charge = upgrades.charge_vm_upgrade(
            session,
            Actor.system("compute"),
            offers,
            vm_id,
            "svp-s",
            "svp-m",
            utc(2026, 3, 11, 10),
        )
        assert charge is not None and charge.amount == D("28.22")
        assert "21/31 jours" in charge.description
        session.get(Vm, vm_id).flavour_id = "svp-m"  # type: ignore[union-attr]
        assert (
            upgrades.charge_vm_upgrade(
                session,
                Actor.system("compute"),
                offers,
                vm_id,
                "svp-m",
                "svp-s",
                utc(2026, 3, 20, 10),
            )
            is None
        )
        assert (
            upgrades.charge_vm_upgrade(
                session,
                Actor.system("compute"),
                offers,
                vm_id,
                "svp-s",
                "svp-m",
                utc(2026, 4, 2, 10),
            )
            is None
        )  # April is not invoiced yet
    run_at(database, offers, utc(2026, 4, 1, 6))
    april, lines_ = documents_of(database, contract)[1]
    assert [(x.kind, x.net_amount) for x in lines_] == [("vm", D("90.83")), ("upgrade", D("28.22"))]
    assert (april.total_net, april.tax_total, april.grand_total) == (
        D("119.05"),
        D("23.81"),
        D("142.86"),
    )
