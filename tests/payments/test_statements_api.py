"""``POST /api/v1/bank-statements`` (issue 15): staff send a CAMT.053 file as the body;
the report comes back line by line; the same file again books nothing. A transfer
naming the invoice by its RF creditor reference (ISO 11649) pays it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import Invoice, Payment
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.payments import references
from tests.factories import World
from tests.invoicing.factories import Billing, utc
from tests.payments.test_statements import SAMPLE, _invoice, _state

XML = {"content-type": "application/xml"}


def _payments(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Payment)).scalar_one())


def _statement(invoice: Invoice, remittance: str) -> bytes:
    return (
        SAMPLE.read_text()
        .replace("{INVOICE_AMOUNT}", str(invoice.due_payable))
        .replace("facture {INVOICE_NUMBER}", remittance)
        .replace("{TOPUP_REFERENCE}", "RF00NOTHING")
        .replace("{RETURNED_AMOUNT}", "12.34")
        .replace("{RETURNED_E2E}", "NO-SUCH-DEBIT")
        .encode()
    )


def test_statement_route_pays_by_rf_reference_and_is_idempotent_on_the_same_file(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The invoice's RF reference, typed in groups of four as printed on the invoice,
    pays it; the other lines stay unmatched. Sent again: ``already_imported``, no
    second payment."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    reference = references.grouped(references.invoice_reference(invoice.number))
    data = _statement(invoice, f"ref {reference}")
    admin = world.admin()
    set_now(utc(2026, 5, 1, 8))
    r = client.post("/api/v1/bank-statements", content=data, headers=admin.headers | XML)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["already_imported"]) == ("camt.053", False)
    assert body["lines"][0]["outcome"] == "paid" and body["lines"][0]["target"] == invoice.number
    assert body["counts"]["paid"] == 1
    assert _state(database, invoice.id) == "paid"
    paid = _payments(database)

    r = client.post("/api/v1/bank-statements", content=data, headers=admin.headers | XML)
    assert r.status_code == 200, r.text
    assert r.json()["already_imported"] is True
    assert {x["outcome"] for x in r.json()["lines"]} == {"duplicate"}
    assert _payments(database) == paid


def test_statement_route_is_staff_only_and_refuses_what_is_no_statement(
    client: TestClient, world: World, database: Database
) -> None:
    """A client's owner may not import statements (403, nothing booked); staff sending
    a file that is no CAMT.053/054 get a 422 naming the statement and its format."""
    owner = world.user(Role.CLIENT_OWNER, world.client("Curieuse SARL"))
    data = Path(SAMPLE).read_bytes()
    r = client.post("/api/v1/bank-statements", content=data, headers=owner.headers | XML)
    assert r.status_code == 403, r.text
    admin = world.admin()
    camt052 = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02">'
        b"<BkToCstmrAcctRpt/></Document>"
    )
    r = client.post("/api/v1/bank-statements", content=camt052, headers=admin.headers | XML)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "statement" in r.json()["detail"] and "BkToCstmrAcctRpt" in r.json()["detail"]
    r = client.post("/api/v1/bank-statements", content=b"not xml", headers=admin.headers | XML)
    assert r.status_code == 422 and "statement" in r.json()["detail"], r.text
    assert _payments(database) == 0


def test_statement_route_takes_a_2_mib_file_and_refuses_past_its_own_limit(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """``NUAGES_MAX_STATEMENT_BYTES`` (20 MiB) bounds bank statements, not the 1 MiB of
    other bodies: a 2 MiB statement is booked; 21 MiB is a 413 with nothing booked;
    2 MiB sent to another route is still a 413."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    data = _statement(invoice, f"facture {invoice.number}")
    head, _, rest = data.partition(b"?>")
    padding = b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->"
    big = head + b"?>" + padding + rest
    admin = world.admin()
    set_now(utc(2026, 5, 1, 8))
    too_big = head + b"?>" + b"<!--" + b"x" * (21 * 1024 * 1024) + b"-->" + rest
    r = client.post("/api/v1/bank-statements", content=too_big, headers=admin.headers | XML)
    assert r.status_code == 413, r.text
    assert _payments(database) == 0
    r = client.post("/api/v1/card-webhooks", content=big, headers=admin.headers | XML)
    assert r.status_code == 413, r.text
    r = client.post("/api/v1/bank-statements", content=big, headers=admin.headers | XML)
    assert r.status_code == 200, r.text
    assert _state(database, invoice.id) == "paid"
