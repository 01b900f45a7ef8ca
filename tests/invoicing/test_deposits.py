"""001 §4.6: "un acompte de 30% sur la totalité des montants à facturer pourra être
demandé au moment de la commande" (i) and "les Produits vendus demeurent la propriété
exclusive du prestataire jusqu'au complet paiement" (ii) — the deposit invoice staff
ask for on a hardware order (type 386), and the final invoice that deducts it (BT-113)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from nuages.accounts.roles import Role
from nuages.cli import app as cli_app
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import documents, facturx, pdf, reading
from nuages.invoicing.models import Deposit, Invoice, InvoiceLine, InvoiceSequence
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.models import Notice
from tests.factories import World
from tests.payments.test_en16931_schematron import en16931_errors

from .factories import Billing, run_at, utc

D = Decimal


def _order(billing: Billing, name: str = "Matériel SPRL") -> tuple[str, str, str]:
    """A Belgian client's cloudbizz contract formed 1 March 2026 (Brussels) with two
    users and a hardware order of 10,000.00 HT delivered on 20 March."""
    client_id = billing.client(name, country="BE")
    contract = billing.contract("cloudbizz", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 3, 1), quantity=D(2))
    line = billing.line(
        contract,
        "hardware",
        dt.date(2026, 3, 20),
        unit_price=D("10000.00"),
        description="2 serveurs et 1 switch",
    )
    return client_id, contract, line


def _counts(database: Database) -> tuple[int, int, int]:
    with database.unit() as session:
        invoices = session.execute(select(func.count()).select_from(Invoice)).scalar_one()
        deposits = session.execute(select(func.count()).select_from(Deposit)).scalar_one()
        numbers = session.execute(
            select(func.coalesce(func.sum(InvoiceSequence.last_number), 0))
        ).scalar_one()
    return invoices, deposits, int(numbers)


def test_001_s4_6_i_deposit_invoice_is_30_percent_of_the_hardware_order_with_vat(
    client: TestClient, world: World, database: Database, billing: Billing
) -> None:
    """001 §4.6 (i): staff ask for the deposit of a 10,000.00 HT hardware order: a
    numbered invoice of the same series, one line of 30 % = 3,000.00 HT, Belgian VAT
    21 % (630.00, the hardware's category and rate), Factur-X type 386 (BT-3), XSD and
    EN 16931 schematron valid, due 15 days after receipt (001 §4.1: issued 5 March,
    received 6 March, due 21 March), carrying the title retention note of 001 §4.6 (ii),
    e-mailed like any invoice; the client's API shows it as a deposit."""
    client_id, contract, line = _order(billing)
    set_now(utc(2026, 3, 5, 9))
    admin = world.admin()
    r = client.post(f"/api/v1/contracts/{contract}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["lines"] == [line] and D(body["order_total"]) == D("10000.00")
    invoice = body["invoice"]
    assert (invoice["total_net"], invoice["tax_total"], invoice["grand_total"]) == (
        "3000.00",
        "630.00",
        "3630.00",
    )
    assert invoice["kind"] == "invoice" and invoice["document_type"] == "deposit"
    assert invoice["number"] == "FB-2026-000001"  # the seller's invoice series
    assert invoice["due_date"] == "2026-03-21"
    [only] = invoice["lines"]
    assert only["description"].startswith("Acompte 30 % — commande matériel : 2 serveurs")
    assert (only["vat_category"], D(only["vat_rate"])) == ("S", D(21))

    owner = world.user(Role.CLIENT_OWNER, client_id)
    xml = client.get(f"/api/v1/invoices/{invoice['id']}/xml", headers=owner.headers).text
    header = xml.split("</rsm:ExchangedDocument>")[0]
    assert "<ram:TypeCode>386</ram:TypeCode>" in header
    assert facturx.check(xml)
    assert en16931_errors(xml) == []
    assert "Réserve de propriété (001 §4.6 (ii))" in xml
    assert "<ram:DuePayableAmount>3630.00</ram:DuePayableAmount>" in xml
    seen = client.get(f"/api/v1/invoices/{invoice['id']}", headers=owner.headers).json()
    assert seen["document_type"] == "deposit" and seen["outstanding"] == "3630.00"
    with database.unit() as session:
        notice = session.execute(
            select(Notice).where(Notice.object_id == invoice["id"])
        ).scalar_one()
        assert notice.kind == "invoice_issued"


def test_001_s4_6_i_deposit_pdf_is_titled_facture_d_acompte(
    client: TestClient, world: World, database: Database, billing: Billing
) -> None:
    """The deposit invoice's PDF says "Facture d'acompte" and the retention note."""
    _client_id, contract, _line = _order(billing)
    set_now(utc(2026, 3, 5, 9))
    admin = world.admin()
    r = client.post(f"/api/v1/contracts/{contract}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 201, r.text
    data = pdf.render_stored(database, r.json()["invoice"]["id"])
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Facture d'acompte n° FB-2026-000001" in text
    assert "Réserve de propriété" in text


def test_001_s4_6_i_final_invoice_deducts_the_deposit_as_prepaid_amount(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The March invoice billing the hardware deducts the deposit invoice's total with
    VAT: BT-113 = 3,630.00, BT-115 = total − 3,630.00, the deposit invoice referenced in
    BG-3 and named in a note; the deposit, still unpaid, stays due on its own (the
    price is paid once: SPEC §17); April's invoice deducts nothing."""
    _client_id, contract, _line = _order(billing)
    set_now(utc(2026, 2, 28, 23))  # at the order, when the contract is formed
    admin = world.admin()
    r = client.post(f"/api/v1/contracts/{contract}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 201, r.text
    deposit = r.json()["invoice"]
    [preview] = run_at(database, offers, utc(2026, 3, 1, 6), dry_run=True).previews
    assert preview["deposit_deducted"] == D("3630.00")
    [march] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    with database.unit() as session:
        final = session.get(Invoice, march["invoice_id"])
        assert final is not None
        assert final.prepaid_amount == D("3630.00")
        assert final.due_payable == final.grand_total - D("3630.00")
        assert final.grand_total > D("12100.00")  # 10,000 hardware + users, VAT 21 %
        assert "<ram:TotalPrepaidAmount>3630.00</ram:TotalPrepaidAmount>" in final.xml
        assert f"<ram:IssuerAssignedID>{deposit['number']}</ram:IssuerAssignedID>" in final.xml
        assert "<ram:TypeCode>380</ram:TypeCode>" in final.xml.split("</rsm:ExchangedDocument>")[0]
        assert facturx.check(final.xml) and en16931_errors(final.xml) == []
        notes = [t for _c, t in json.loads(final.notes)["notes"]]
        assert any(
            t.startswith(f"Acompte déduit (001 §4.6 (i)) : facture d'acompte {deposit['number']}")
            for t in notes
        )
        # Not "paid before issue": the rest is due with the late-payment mentions.
        assert any(t.startswith("Intérêts de retard") for t in notes)
        assert [d.deducted_by_id for d in session.execute(select(Deposit)).scalars()] == [final.id]
        first = session.get(Invoice, deposit["id"])
        assert first is not None and documents.outstanding(session, first) == D("3630.00")
        layout = json.loads(pdf.layout_data(final, _lines(session, final.id), None))
        assert ["Acompte déduit", "3\u202f630,00 EUR", False] in layout["totals"]
    set_now(utc(2026, 4, 1, 7))
    [april] = run_at(database, offers, utc(2026, 4, 1, 6)).issued
    with database.unit() as session:
        later = session.get(Invoice, april["invoice_id"])
        assert later is not None and later.prepaid_amount == D("0.00")


def _lines(session: Session, invoice_id: str) -> list[InvoiceLine]:
    return list(reading.invoice_lines(session, invoice_id))


def test_001_s4_6_deposit_refusals_write_nothing(
    client: TestClient, world: World, database: Database, billing: Billing
) -> None:
    """Refused, nothing written and no number taken: a client asking (403); an offer
    without [billing.deposit] (422); a cloudbizz contract with no hardware ordered
    (422); a line that is not hardware (422); a second deposit for the same order
    (409); hardware already invoiced (409)."""
    client_id, contract, line = _order(billing)
    set_now(utc(2026, 3, 5, 9))
    admin = world.admin()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    url = f"/api/v1/contracts/{contract}/deposits"
    before = _counts(database)
    assert client.post(url, json={}, headers=owner.headers).status_code == 403

    azure_client = billing.client("Société Lyonnaise SARL")
    azure = billing.contract("optima-cloud-azure", azure_client, utc(2026, 2, 28, 23))
    r = client.post(f"/api/v1/contracts/{azure}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 422 and "[billing.deposit]" in r.json()["detail"]

    bare_client = billing.client("Sans Matériel SA", country="BE")
    bare = billing.contract("cloudbizz", bare_client, utc(2026, 2, 28, 23))
    users = billing.line(bare, "desktop-std", dt.date(2026, 3, 1), quantity=D(2))
    r = client.post(f"/api/v1/contracts/{bare}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 422 and "no hardware ordered" in r.json()["detail"]
    r = client.post(
        f"/api/v1/contracts/{bare}/deposits", json={"lines": [users]}, headers=admin.headers
    )
    assert r.status_code == 422 and "not hardware" in r.json()["detail"]
    assert _counts(database) == before

    assert client.post(url, json={"lines": [line]}, headers=admin.headers).status_code == 201
    after = _counts(database)
    r = client.post(url, json={"lines": [line]}, headers=admin.headers)
    assert r.status_code == 409 and "already asked" in r.json()["detail"]
    r = client.post(url, json={}, headers=admin.headers)  # nothing left to ask for
    assert r.status_code == 422
    assert _counts(database) == after


def test_001_s4_6_no_deposit_once_the_hardware_is_invoiced(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """The deposit is asked at the order (001 §4.6 (i)): hardware already on an issued
    invoice is refused with a 409, nothing written."""
    _client_id, contract, line = _order(billing)
    run_at(database, offers, utc(2026, 3, 1, 6))
    set_now(utc(2026, 3, 2, 9))
    before = _counts(database)
    r = client.post(
        f"/api/v1/contracts/{contract}/deposits",
        json={"lines": [line]},
        headers=world.admin().headers,
    )
    assert r.status_code == 409 and "already invoiced" in r.json()["detail"]
    assert _counts(database) == before


def test_nuages_invoicing_deposit_cli(
    database: Database, settings: Settings, billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nuages invoicing deposit CONTRACT --json`` issues the deposit invoice (001 §4.6
    (i)) and prints it; asked again, it exits 1 with the refusal."""
    _client_id, contract, line = _order(billing)
    set_now(utc(2026, 3, 5, 9))
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli_app, ["invoicing", "deposit", contract, "--line", line, "--json"])
        assert r.exit_code == 0, r.output
        data = json.loads(r.output)
        assert (data["total_net"], data["tax_total"], data["grand_total"]) == (
            "3000.00",
            "630.00",
            "3630.00",
        )
        assert data["lines"] == [line]
        again = runner.invoke(cli_app, ["invoicing", "deposit", contract, "--line", line])
        assert again.exit_code == 1 and "already asked" in again.output
    finally:
        settings_module.get_settings.cache_clear()


def test_001_s4_6_i_a_cancelled_deposit_is_not_deducted_and_no_sla_credit_lands_on_one(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A deposit invoice credited in full (cancelled) is not owed, so the hardware
    invoice deducts nothing and the client pays the price once (SPEC §17); an SLA credit
    (002 §6) waiting for "the next invoice" never picks a deposit invoice, whose credit
    the final invoice would take back."""
    from nuages.sla.credits import _next_invoice

    _client_id, contract, _line = _order(billing)
    set_now(utc(2026, 2, 28, 23))
    admin = world.admin()
    r = client.post(f"/api/v1/contracts/{contract}/deposits", json={}, headers=admin.headers)
    assert r.status_code == 201, r.text
    deposit = r.json()["invoice"]
    with database.unit() as session:
        assert _next_invoice(session, contract, utc(2026, 2, 28, 0)) is None
    r = client.post(
        f"/api/v1/invoices/{deposit['id']}/credit-notes",
        json={"reason": "commande de matériel annulée"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    [march] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    with database.unit() as session:
        final = session.get(Invoice, march["invoice_id"])
        assert final is not None
        assert final.prepaid_amount == D("0.00") and final.due_payable == final.grand_total
        assert "<ram:InvoiceReferencedDocument>" not in final.xml
        assert _next_invoice(session, contract, utc(2026, 2, 28, 0)) == final
