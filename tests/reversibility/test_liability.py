"""Liability caps from the contract's own invoices and payments (SPEC §15), with the
claim deadline, through ``GET /contracts/{id}/liability-cap``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import payments
from nuages.invoicing import schemas as invoicing_schemas
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.factories import World
from tests.invoicing.factories import Billing, run_at

UTC = dt.UTC


def _invoiced(
    database: Database, offers: OfferRegistry, offer_id: str, item: str
) -> tuple[str, str, Invoice]:
    billing = Billing(database, offers)
    client_id = billing.client()
    contract_id = billing.contract(offer_id, client_id, dt.datetime(2026, 2, 28, 23, tzinfo=UTC))
    billing.line(contract_id, item, dt.date(2026, 3, 1))
    [issued] = run_at(database, offers, dt.datetime(2026, 3, 1, 6, tzinfo=UTC)).issued
    with database.unit() as session:
        invoice = session.get(Invoice, issued["invoice_id"])
        assert invoice is not None
        session.expunge(invoice)
    return client_id, contract_id, invoice


def _pay(
    database: Database, offers: OfferRegistry, client_id: str, invoice: Invoice, on: dt.date
) -> None:
    with database.unit() as session:
        payments.record(
            session, Actor.system("t"), offers,
            invoicing_schemas.PaymentCreate(
                client_id=client_id, means="transfer", amount=invoice.grand_total,
                received_on=on, idempotency_key=f"pay-{invoice.id}",
            ),
        )  # fmt: skip


def _cap(client: TestClient, world: World, contract_id: str, **query: str) -> dict[str, object]:
    r = client.get(
        f"/api/v1/contracts/{contract_id}/liability-cap",
        params=query,
        headers=world.admin().headers,
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_001_s12_cap_is_invoices_issued_and_paid_and_claim_within_72_hours(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """001 §12: the March invoice counts only once paid (issued and paid in the 12
    months before the failure); a claim is due within 72 calendar hours of knowing."""
    client_id, contract_id, invoice = _invoiced(database, offers, "cloudbizz", "desktop-std")
    set_now(dt.datetime(2026, 4, 10, 12, tzinfo=UTC))
    body = _cap(client, world, contract_id, failure="2026-04-05T09:00:00Z")
    assert (body["clause"], body["cap"]) == ("001 §12", "0.00")
    _pay(database, offers, client_id, invoice, dt.date(2026, 3, 10))
    body = _cap(
        client, world, contract_id, failure="2026-04-05T09:00:00Z", known_at="2026-04-06T08:00:00Z"
    )
    assert Decimal(str(body["cap"])) == invoice.grand_total
    assert body["claim_deadline"] == "2026-04-09T08:00:00Z"


def test_003_s6_1_cap_is_amounts_received_and_claim_within_8_working_days(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """003 §6.1: the amounts received until the event (a payment on 10 March counts for
    a failure on 2 April, not for one on 9 March); claims within 8 working days in
    France, the event's day not counted: Fri 3 April (1), Easter Monday 6 April off,
    7-10 April (5), 13-15 April (8) — to the end of Wednesday 15 April, Paris."""
    client_id, contract_id, invoice = _invoiced(database, offers, "virtualsr-svp", "svp-s")
    _pay(database, offers, client_id, invoice, dt.date(2026, 3, 10))
    set_now(dt.datetime(2026, 4, 10, 12, tzinfo=UTC))
    before = _cap(client, world, contract_id, failure="2026-03-09T09:00:00Z")
    assert before["cap"] == "0.00"
    body = _cap(client, world, contract_id, failure="2026-04-02T09:00:00Z")
    assert body["clause"] == "003 §6.1" and Decimal(str(body["cap"])) == invoice.grand_total
    assert body["claim_by"] == "registered_letter"
    assert body["claim_deadline"] == "2026-04-15T22:00:00Z"


def test_004_s13_cap_is_invoiced_last_12_months(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """004 §13: what was invoiced in the 12 months before, paid or not; no claim window."""
    _client_id, contract_id, invoice = _invoiced(
        database, offers, "optima-cloud-azure", "azure-b2s"
    )
    set_now(dt.datetime(2026, 4, 10, 12, tzinfo=UTC))
    body = _cap(client, world, contract_id, failure="2026-04-02T09:00:00Z")
    assert Decimal(str(body["cap"])) == invoice.grand_total and body["claim_deadline"] is None


def test_000_s12_1_cap_twice_the_month_up_to_15_days_else_the_year(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """000 §12.1 on the prepaid account: 10 debits of 3.00 between 16 March and 14 April
    2026 make the monthly amount 30.00 for a failure from 15 April 10:00 UTC. Lasting 10
    days (≤ 15): 2 × 30.00 = 60.00; lasting 15 days and 6 hours (more than 15, read
    for the client) or 20 days: 1 × the yearly amount, 12 × 30.00 = 360.00 (the
    account is younger than a year). No claim window is stated."""
    from nuages.billing import ledger
    from nuages.contracts.models import Contract
    from tests.billing.factories import funded

    set_now(dt.datetime(2026, 3, 10, 9, tzinfo=UTC))
    f = funded(world, client, "100.00")
    with database.unit() as session:
        contract = session.get(Contract, f.contract_id)
        assert contract is not None
        account = ledger.ensure_account(session, contract, offers.current("isstar-cloud"))
        rows = []
        for n in range(10):
            start = dt.datetime(2026, 3, 16, 10, tzinfo=UTC) + dt.timedelta(days=3 * n)
            end = start + dt.timedelta(hours=1)
            rows.append((
                f.contract_id, account.client_id, "usage", Decimal("-3"), "EUR", end, end,
                f"usage:vm:cap-vm:{start.isoformat()}", "", "vm-l", None, "vm", "cap-vm",
                start, end, Decimal(1), Decimal("3"), None,
            ))  # fmt: skip
        assert ledger.bulk_insert(session, rows) == 10
    set_now(dt.datetime(2026, 5, 20, 9, tzinfo=UTC))
    failure = "2026-04-15T10:00:00Z"
    caps = {
        end: _cap(client, world, f.contract_id, failure=failure, failure_end=end)
        for end in ("2026-04-25T10:00:00Z", "2026-04-30T16:00:00Z", "2026-05-05T10:00:00Z")
    }
    short, barely, long = caps.values()
    assert short["clause"] == "000 §12.1" and short["basis"]["monthly_amount"] == "30.00"  # type: ignore[index]
    assert Decimal(str(short["cap"])) == Decimal("60.00")
    assert Decimal(str(barely["cap"])) == Decimal("360.00")
    assert Decimal(str(long["cap"])) == Decimal("360.00")
    assert short["claim_deadline"] is None
