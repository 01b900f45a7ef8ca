"""Payments, allocation, returned debits and SEPA direct-debit batches (003 §14.2,
§14.5; 004 §8.2), through the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import sepaxml
import xmlschema
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import Payment, PaymentAllocation
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.factories import Actor, World

from .factories import Billing, run_at, utc

D = Decimal
MANDATE = {
    "mandate_id": "MANDAT-0001",
    "signed_on": "2026-01-20",
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPPXXX",
}
PAIN_008 = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"


def _invoice(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    offer_id: str,
    item: str,
    **profile: Any,
) -> tuple[str, str, str]:
    client = billing.client()
    contract = billing.contract(offer_id, client, utc(2026, 2, 28, 23))
    billing.line(contract, item, dt.date(2026, 3, 1))
    if profile:
        billing.profile(contract, **profile)
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    return client, contract, issued["invoice_id"]


def _pay(http: TestClient, admin: Actor, client_id: str, amount: str, key: str, **kw: Any) -> Any:
    body = {
        "client_id": client_id,
        "means": kw.pop("means", "transfer"),
        "amount": amount,
        "received_on": kw.pop("received_on", "2026-03-10"),
        "idempotency_key": key,
        **kw,
    }
    return http.post("/api/v1/payments", json=body, headers=admin.headers)


def _payments(database: Database) -> int:
    with database.unit() as session:
        return session.execute(select(func.count()).select_from(Payment)).scalar_one()


def test_payment_larger_than_due_is_refused_whole(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A payment above what the client owes is refused (422) and nothing is written:
    no payment, no allocation."""
    admin = world.admin()
    client_id, _, invoice_id = _invoice(
        database, offers, billing, "optima-cloud-azure", "azure-b2s"
    )
    r = _pay(client, admin, client_id, "66.01", "too-much-0001")
    assert r.status_code == 422, r.text
    assert "more than the 66.00 this client owes" in r.json()["detail"]
    r = _pay(
        client,
        admin,
        client_id,
        "70.00",
        "too-much-0002",
        allocations=[{"invoice_id": invoice_id, "amount": "70.00"}],
    )
    assert r.status_code == 422 and "more than the 66.00 due" in r.json()["detail"]
    assert _payments(database) == 0
    r = _pay(client, admin, client_id, "66.00", "exact-0001")
    assert r.status_code == 201, r.text
    assert (
        client.get(f"/api/v1/invoices/{invoice_id}", headers=admin.headers).json()["state"]
        == "paid"
    )


def test_003_s14_5_partial_payment_rejected_004_accepted(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.5: "tout paiement partiel … est rejeté" — a partial payment is refused;
    004 accepts it and the invoice stays open for the rest."""
    admin = world.admin()
    svp_client, _, svp_invoice = _invoice(database, offers, billing, "virtualsr-svp", "svp-s")
    r = _pay(client, admin, svp_client, "20.00", "partial-svp-1")
    assert r.status_code == 422 and "003 §14.5" in r.json()["detail"], r.text
    assert _payments(database) == 0
    r = _pay(client, admin, svp_client, "59.00", "full-svp-1")
    assert r.status_code == 201
    paid = client.get(f"/api/v1/invoices/{svp_invoice}", headers=admin.headers).json()
    assert (paid["state"], paid["outstanding"]) == ("paid", "0.00")

    azure_client, _, azure_invoice = _invoice(
        database, offers, billing, "optima-cloud-azure", "azure-b2s"
    )
    r = _pay(client, admin, azure_client, "20.00", "partial-azure-1")
    assert r.status_code == 201, r.text
    invoice = client.get(f"/api/v1/invoices/{azure_invoice}", headers=admin.headers).json()
    assert (invoice["state"], invoice["outstanding"]) == ("issued", "46.00")


def test_payment_to_cancelled_invoice_is_refused(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """An invoice fully credited is cancelled: a payment allocated to it is a 409."""
    admin = world.admin()
    client_id, _, invoice_id = _invoice(
        database, offers, billing, "optima-cloud-azure", "azure-b2s"
    )
    r = client.post(
        f"/api/v1/invoices/{invoice_id}/credit-notes",
        json={"reason": "erreur"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["number"] == "AV-2026-000001" and note["grand_total"] == "66.00"
    r = _pay(
        client,
        admin,
        client_id,
        "66.00",
        "to-cancelled-1",
        allocations=[{"invoice_id": invoice_id, "amount": "66.00"}],
    )
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    r = client.post(
        f"/api/v1/invoices/{invoice_id}/credit-notes",
        json={"reason": "encore"},
        headers=admin.headers,
    )
    assert r.status_code == 409


def test_payments_are_written_once_per_key(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A retried request with the same key finds the first payment; the same key for
    another payment is a 409."""
    admin = world.admin()
    client_id, _, _ = _invoice(database, offers, billing, "optima-cloud-azure", "azure-b2s")
    first = _pay(client, admin, client_id, "30.00", "retry-key-0001")
    again = _pay(client, admin, client_id, "30.00", "retry-key-0001")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert _pay(client, admin, client_id, "31.00", "retry-key-0001").status_code == 409
    assert _payments(database) == 1


def test_card_payment_through_the_terminal_provider(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Card payments go through the configured provider (the terminal one needs the
    authorisation reference, kept as provider_ref)."""
    admin = world.admin()
    client_id, _, _ = _invoice(database, offers, billing, "optima-cloud-azure", "azure-b2s")
    r = _pay(client, admin, client_id, "66.00", "card-0001", means="card")
    assert r.status_code == 422 and "authorisation reference" in r.json()["detail"]
    r = _pay(client, admin, client_id, "66.00", "card-0002", means="card", reference="AUTH-42")
    assert r.status_code == 201 and r.json()["provider_ref"] == "AUTH-42"


def test_004_s8_2_sepa_batch_settled_then_a_returned_debit_reopens_its_invoice(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """004 §8.2: invoices paid by direct debit. A pain.008.001.02 batch (valid against
    its XSD) collects the due invoices under their mandates (FRST the first time, RCUR
    after); settling it pays them; a returned debit reopens its invoice, and the next
    batch collects it again."""
    admin = world.admin()
    set_now(utc(2026, 3, 2))
    first_client, _, first = _invoice(
        database, offers, billing, "optima-cloud-azure", "azure-b2s", mandate=MANDATE
    )
    second_client, _, second = _invoice(
        database,
        offers,
        billing,
        "optima-cloud-azure",
        "azure-d4s",
        mandate={**MANDATE, "mandate_id": "MANDAT-0002"},
    )
    set_now(utc(2026, 3, 2))
    r = client.post(
        "/api/v1/sepa-batches",
        json={"collection_date": "2026-04-28", "due_by": "2026-04-30"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["count"], batch["total"]) == (2, "258.00")  # 66.00 + 192.00
    assert {i["sequence_type"] for i in batch["items"]} == {"FRST"}
    xml = client.get(f"/api/v1/sepa-batches/{batch['id']}/xml", headers=admin.headers).text
    xmlschema.XMLSchema(str(PAIN_008)).validate(xml)
    assert "<MndtId>MANDAT-0001</MndtId>" in xml and "<CtrlSum>258.00</CtrlSum>" in xml
    # Nothing left to collect while the batch is pending.
    r = client.post(
        "/api/v1/sepa-batches", json={"collection_date": "2026-04-28"}, headers=admin.headers
    )
    assert r.status_code == 409

    # 9.3: the bank collects on the collection date; settling before it is refused.
    r = client.post(f"/api/v1/sepa-batches/{batch['id']}/settle", headers=admin.headers)
    assert r.status_code == 422 and "2026-04-28" in r.json()["detail"], r.text
    set_now(utc(2026, 4, 28, 9))
    r = client.post(f"/api/v1/sepa-batches/{batch['id']}/settle", headers=admin.headers)
    assert r.status_code == 200, r.text
    items = {i["invoice_id"]: i for i in r.json()["items"]}
    for invoice_id in (first, second):
        assert (
            client.get(f"/api/v1/invoices/{invoice_id}", headers=admin.headers).json()["state"]
            == "paid"
        )

    payment_id = items[first]["payment_id"]
    r = client.post(
        f"/api/v1/payments/{payment_id}/return", json={"reason": "AM04"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "returned"
    assert sorted(a["amount"] for a in r.json()["allocations"]) == ["-66.00", "66.00"]
    reopened = client.get(f"/api/v1/invoices/{first}", headers=admin.headers).json()
    assert (reopened["state"], reopened["outstanding"]) == ("issued", "66.00")
    r = client.post(
        f"/api/v1/payments/{payment_id}/return", json={"reason": "AM04"}, headers=admin.headers
    )
    assert r.status_code == 409

    # SEPA rulebook: the new collection is pre-notified 14 calendar days ahead too, so
    # the day after the return is too early (named in the 409), 12 May is not.
    r = client.post(
        "/api/v1/sepa-batches",
        json={"collection_date": "2026-04-29", "due_by": "2026-04-30"},
        headers=admin.headers,
    )
    assert r.status_code == 409 and "14 calendar days" in r.json()["detail"], r.text
    r = client.post(
        "/api/v1/sepa-batches",
        json={"collection_date": "2026-05-12", "due_by": "2026-04-30"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    [item] = r.json()["items"]
    assert (item["invoice_id"], item["sequence_type"]) == (first, "RCUR")
    with database.unit() as session:
        rows = session.execute(select(PaymentAllocation)).scalars().all()
    assert sum((a.amount for a in rows), D(0)) == D("192.00")  # only the second stays paid
    assert {first_client, second_client}
