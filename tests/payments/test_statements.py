"""Bank statements reconciled for invoices and top-ups alike (issue 15): a real
CAMT.053 day statement with a transfer paying an invoice, one topping up a prepaid
account, one nobody can place and an invoice's returned direct debit; then the bad
input — a duplicate statement, an amount two invoices are open for, an unknown format."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.billing.models import LedgerEntry
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import reconcile
from nuages.invoicing import sepa as invoice_sepa
from nuages.invoicing.models import Invoice, Payment
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed
from nuages.payments import references, statements
from tests.billing.factories import funded
from tests.billing.test_sepa_camt import STAFF
from tests.factories import World
from tests.invoicing.factories import Billing, run_at, utc

SAMPLE = Path(__file__).parent / "data" / "camt053_2026-04-30.xml"
MANDATE = {
    "mandate_id": "MANDAT-0001",
    "signed_on": "2026-01-20",
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPPXXX",
}


def _invoice(database: Database, offers: OfferRegistry, billing: Billing, **kw: object) -> Invoice:
    if kw.get("mandate"):
        client = billing.client(str(kw.get("name", "Client France SARL")))
        contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
        billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
        billing.profile(contract, mandate=kw["mandate"])
    else:
        client = billing.client(str(kw.get("name", "Client Belge SPRL")), country="BE")
        contract = billing.contract("cloudbizz", client, utc(2026, 2, 28, 23))
        billing.line(contract, "desktop-std", dt.date(2026, 3, 1), quantity=Decimal(3))
    run_at(database, offers, utc(2026, 3, 1, 6))
    with database.unit() as session:
        invoice = session.execute(
            select(Invoice).where(Invoice.contract_id == contract)
        ).scalar_one()
        session.expunge(invoice)
        return invoice


def _state(database: Database, invoice_id: str) -> str:
    with database.unit() as session:
        found = session.get(Invoice, invoice_id)
        assert found is not None
        return found.state


def _count(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_camt053_invoice_transfer_topup_unknown_and_returned_debit_each_end_where_they_should(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The sample statement of 30 April 2026: (1) a transfer naming invoice
    F-…-000001 pays it (state paid); (2) a transfer with a prepaid account's RF
    reference credits that account (000 §13.2); (3) a transfer without reference for
    an amount nobody owes stays unmatched for staff; (4) the direct debit of an
    invoice (004 §8.2), settled on 28 April, returned AC04: its payment is returned
    with the reason code and the invoice is open again. Imported again (the same
    file): recognised, nothing booked twice."""
    set_now(utc(2026, 3, 1, 7))
    by_transfer = _invoice(database, offers, billing)
    by_debit = _invoice(database, offers, billing, mandate=MANDATE)
    set_now(utc(2026, 3, 2))
    with database.unit() as session:
        batch, _ = invoice_sepa.create_batch(
            session, STAFF, dt.date(2026, 4, 28), dt.date(2026, 4, 30), registry=offers
        )
        batch_id = batch.id
    set_now(utc(2026, 4, 28, 9))
    with database.unit() as session:
        found = session.get(type(batch), batch_id)
        assert found is not None
        invoice_sepa.settle(session, STAFF, offers, found)
    assert _state(database, by_debit.id) == "paid"
    f = funded(world, client)
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    balance_before = Decimal(account["balance"])

    data = (
        SAMPLE.read_text()
        .replace("{INVOICE_AMOUNT}", str(by_transfer.due_payable))
        .replace("{INVOICE_NUMBER}", by_transfer.number)
        .replace("{TOPUP_REFERENCE}", account["payment_reference"])
        .replace("{RETURNED_AMOUNT}", str(by_debit.due_payable))
        .replace("{RETURNED_E2E}", by_debit.number)
        .encode()
    )
    set_now(utc(2026, 5, 1, 8))
    report = statements.import_statement(database.unit, offers, data, STAFF, reconcile.reconcile)
    assert report.kind == "camt.053" and report.message_id == "AGRI20260430STMT0120"
    outcomes = [(x.outcome, x.target) for x in report.lines]
    assert outcomes == [
        ("paid", by_transfer.number),
        ("credited", f.contract_id),
        ("unmatched", ""),
        ("returned", by_debit.number),
    ], report.lines
    assert "AC04" in report.lines[3].detail
    assert _state(database, by_transfer.id) == "paid"
    assert _state(database, by_debit.id) == "issued"  # reopened
    with database.unit() as session:
        returned = session.execute(
            select(Payment).where(Payment.means == "direct_debit")
        ).scalar_one()
        assert (returned.state, returned.return_reason) == ("returned", "AC04")
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    assert Decimal(account["balance"]) == balance_before + Decimal("150.00")

    payments, entries = _count(database, Payment), _count(database, LedgerEntry)
    again = statements.import_statement(database.unit, offers, data, STAFF, reconcile.reconcile)
    assert again.already_imported
    assert {x.outcome for x in again.lines} == {"duplicate"}
    assert (_count(database, Payment), _count(database, LedgerEntry)) == (payments, entries)


def test_amount_matching_two_invoices_is_left_for_staff_with_both_suggested(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A transfer without reference from a debtor with two open invoices of the same
    amount pays neither (nothing guessed): the line is unmatched and suggests both."""
    set_now(utc(2026, 3, 1, 7))
    first = _invoice(database, offers, billing, name="Jumeaux SPRL")
    second = _invoice(database, offers, billing, name="Jumeaux SPRL")
    assert first.due_payable == second.due_payable
    data = (
        SAMPLE.read_text()
        .replace("{INVOICE_AMOUNT}", str(first.due_payable))
        .replace("VIR SEPA facture {INVOICE_NUMBER} merci", "paiement mars")
        .replace("CLIENT BELGE SPRL", "JUMEAUX SPRL")
        .replace("{TOPUP_REFERENCE}", "RF18539007547034")
        .replace("{RETURNED_AMOUNT}", "1.00")
        .replace("{RETURNED_E2E}", "UNKNOWN-E2E")
        .encode()
    )
    set_now(utc(2026, 4, 30, 22))
    report = statements.import_statement(database.unit, offers, data, STAFF, reconcile.reconcile)
    line = report.lines[0]
    assert line.outcome == "unmatched" and "2 open invoices" in line.detail
    assert first.number in line.suggestion and second.number in line.suggestion
    assert _state(database, first.id) == _state(database, second.id) == "issued"
    assert _count(database, Payment) == 0
    # The other lines are reported too, each on its own (nothing half-booked).
    assert [x.outcome for x in report.lines[1:]] == ["unmatched", "unmatched", "unmatched"]


def test_amount_and_debtor_pay_the_one_invoice_they_match(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """No reference, but one open invoice of the debtor named on the line for exactly
    that amount: the transfer pays it."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing, name="Client Belge SPRL")
    data = (
        SAMPLE.read_text()
        .replace("{INVOICE_AMOUNT}", str(invoice.due_payable))
        .replace("VIR SEPA facture {INVOICE_NUMBER} merci", "loyer cloud")
        .replace("{TOPUP_REFERENCE}", "RF18539007547034")
        .replace("{RETURNED_AMOUNT}", "1.00")
        .replace("{RETURNED_E2E}", "UNKNOWN-E2E")
        .encode()
    )
    set_now(utc(2026, 4, 30, 22))
    report = statements.import_statement(database.unit, offers, data, STAFF, reconcile.reconcile)
    assert (report.lines[0].outcome, report.lines[0].target) == ("paid", invoice.number)
    assert _state(database, invoice.id) == "paid"


def test_rf_creditor_reference_of_an_invoice_pays_it() -> None:
    """ISO 11649: an invoice's RF reference is valid and carries its number."""
    from stdnum import iso11649

    reference = references.invoice_reference("F-2026-000042")
    assert iso11649.is_valid(reference) and reference.endswith("F2026000042")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02">'
            b"<BkToCstmrAcctRpt/></Document>",
            "unknown format (BkToCstmrAcctRpt)",
        ),
        (b"{MT940}:20:STATEMENT", "not well-formed XML"),
    ],
)
def test_unknown_statement_format_is_refused_naming_it(data: bytes, words: str) -> None:
    """A CAMT.052 report or an MT940 file is no CAMT.053/054: 422 naming what it is."""
    with pytest.raises(ValidationFailed) as caught:
        statements.parse(data)
    assert words in caught.value.detail
