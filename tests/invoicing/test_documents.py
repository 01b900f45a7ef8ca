"""Documents through the API: Factur-X PDF/A-3 with the XML embedded, the XML itself,
disputes within the offer's window (001 §4.4, 004 §8.2), reverse charge, and the
``nuages index`` command."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import facturx as facturx_lib
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from nuages.accounts.roles import Role
from nuages.cli import app as cli_app
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import facturx
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import World

from .factories import Billing, run_at, utc

D = Decimal


def test_pdf_is_factur_x_pdf_a3_with_the_issued_xml(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """GET …/pdf is a PDF/A-3 in French whose embedded factur-x.xml is the stored CII
    XML (EN16931 profile, XSD-valid), with the legal mentions a French B2B invoice
    carries; it is rendered once and served identical after."""
    client_id = billing.client("Société Lyonnaise SARL")
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-d4s", dt.date(2026, 3, 1))
    billing.profile(contract, address="3 avenue des Clients", postcode="69002", city="Lyon")
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    owner = world.user(Role.CLIENT_OWNER, client_id)

    r = client.get(f"/api/v1/invoices/{issued['invoice_id']}/pdf", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    data = r.content
    xml = client.get(f"/api/v1/invoices/{issued['invoice_id']}/xml", headers=owner.headers)
    assert xml.headers["content-type"].startswith("application/xml")
    name, embedded = facturx_lib.get_xml_from_pdf(data, check_xsd=True)
    assert name == "factur-x.xml" and embedded == xml.content
    assert facturx.check(embedded)
    reader = PdfReader(io.BytesIO(data))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "EN 16931" in xmp
    text = reader.pages[0].extract_text()
    for mention in (
        "Facture n° F-2026-000001",
        "Société Lyonnaise SARL",
        "SIREN 842153074",
        "TVA FR47842153074",
        "Date d'échéance",
        "30/04/2026",  # 004 §8.2: in the month after issue
        "3 fois le taux d'intérêt légal",
        "40 €",
        "Pas d'escompte",
        "192,00 EUR",
    ):
        assert mention in text, mention
    again = client.get(f"/api/v1/invoices/{issued['invoice_id']}/pdf", headers=owner.headers)
    assert again.content == data


def test_001_s4_4_dispute_within_8_days_then_refused(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """001 §4.4: an invoice not disputed within 8 days counts as accepted. E-mailed on
    1 March and, no acceptance being recorded, received on 2 March (SPEC §17), it may be
    disputed until the end of 10 March; on 11 March the dispute is refused with a 409
    naming the rule."""
    client_id = billing.client("Client Belge", country="BE")
    contract = billing.contract("cloudbizz", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 3, 1), quantity=D(3))
    first, second = (
        run_at(database, offers, utc(2026, 3, 1, 8)).issued[0],
        run_at(database, offers, utc(2026, 4, 1, 8)).issued[0],
    )
    owner = world.user(Role.CLIENT_OWNER, client_id)
    set_now(utc(2026, 3, 11, 0))  # 11 March 01:00 in Brussels: the window is over
    r = client.post(
        f"/api/v1/invoices/{first['invoice_id']}/disputes",
        json={"reason": "trop d'utilisateurs"},
        headers=owner.headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/dispute-window-closed")
    assert "counts as accepted" in r.json()["detail"]
    set_now(utc(2026, 4, 9, 21))  # 9 April 23:00 in Brussels: still in time
    r = client.post(
        f"/api/v1/invoices/{second['invoice_id']}/disputes",
        json={"reason": "un utilisateur parti"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert (
        client.post(
            f"/api/v1/invoices/{second['invoice_id']}/disputes",
            json={"reason": "encore"},
            headers=owner.headers,
        ).status_code
        == 409
    )
    admin = world.admin()
    r = client.post(
        f"/api/v1/disputes/{dispute['id']}/resolve",
        json={"accept": True, "resolution": "un utilisateur de moins", "credit_amount": "47.19"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "accepted" and r.json()["credit_note_id"]
    note = client.get(f"/api/v1/invoices/{r.json()['credit_note_id']}", headers=owner.headers)
    body = note.json()
    # 47.19 VAT included at 21 %: net 39.00 (VAT 8.19) — one user for the month.
    assert (body["kind"], body["total_net"], body["grand_total"]) == (
        "credit_note",
        "39.00",
        "47.19",
    )
    invoice = client.get(f"/api/v1/invoices/{second['invoice_id']}", headers=owner.headers)
    assert invoice.json()["outstanding"] == str(D("141.57") - D("47.19"))


def test_004_s8_2_dispute_window_is_15_days_after_issue(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """004 §8.2: disputes within 15 days after issue; issued 1 March → last day 16 March."""
    client_id = billing.client()
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    owner = world.user(Role.CLIENT_OWNER, client_id)
    set_now(utc(2026, 3, 16, 23))  # 17 March 00:00 in Paris (CET): the window is over
    r = client.post(
        f"/api/v1/invoices/{issued['invoice_id']}/disputes",
        json={"reason": "tardif"},
        headers=owner.headers,
    )
    assert r.status_code == 409
    set_now(utc(2026, 3, 16, 23) - dt.timedelta(minutes=1))  # 16 March 23:59 in Paris
    r = client.post(
        f"/api/v1/invoices/{issued['invoice_id']}/disputes",
        json={"reason": "à temps"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text


def test_intra_eu_business_buyer_is_reverse_charged(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A business buyer with a valid VAT number of another member state is invoiced
    without VAT, category AE, with the "Autoliquidation" mention; an invalid number
    gets French VAT."""
    german = billing.client("Berlin GmbH", country="DE", vat="DE136695976")
    bogus = billing.client("Fake GmbH", country="DE", vat="DE000000000")
    for client_id in (german, bogus):
        contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
        billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    run_at(database, offers, utc(2026, 3, 1, 6))
    docs = {}
    for client_id in (german, bogus):
        with database.unit() as session:
            invoice = session.execute(
                select(Invoice).where(Invoice.client_id == client_id)
            ).scalar_one()
            docs[client_id] = (invoice.vat_regime, invoice.tax_total, invoice.xml)
    regime, tax, xml = docs[german]
    assert (regime, tax) == ("reverse_charge", D("0.00"))
    assert "<ram:CategoryCode>AE</ram:CategoryCode>" in xml and "Autoliquidation" in xml
    assert "<ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode>" in xml
    assert docs[bogus][:2] == ("standard", D("11.00"))


def test_nuages_index_set_cli(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nuages index set syntec 2026-10 VALUE`` records a value once; a different value
    for the same month is refused, a malformed month exits 2."""
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli_app, ["index", "set", "syntec", "2026-10", "296.4"])
        assert r.exit_code == 0, r.output
        assert "syntec 2026-10 = 296.4" in r.output
        assert runner.invoke(cli_app, ["index", "set", "syntec", "2026-10", "296.4"]).exit_code == 0
        r = runner.invoke(cli_app, ["index", "set", "syntec", "2026-10", "300"])
        assert r.exit_code == 1 and "already 296.4" in r.output
        assert runner.invoke(cli_app, ["index", "set", "syntec", "2026-13", "1"]).exit_code == 2
        r = runner.invoke(cli_app, ["index", "list"])
        assert "syntec 2026-10 296.4" in r.output
    finally:
        settings_module.get_settings.cache_clear()
