"""The messages the existing slices produce go through the outbox (issue #11 §3): the
invoice issued reaches the billing contact with its Factur-X PDF (004 §8.2), the XML
embedded in the PDF intact; written in the act's transaction."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import facturx as facturx_lib
from sqlalchemy import select
from typer.testing import CliRunner

from nuages.cli import app as cli_app
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import facturx
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings, get_settings
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import Notice
from tests.invoicing.factories import Billing, run_at, utc

from .smtp import SmtpServer


def test_004_s8_2_invoice_emailed_with_facturx_pdf_xml_intact(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """004 §8.2: the invoice is e-mailed. Issuing it writes its notice in the same
    transaction (kind invoice_issued, to the billing contact, legal reference: due date
    and dispute window); the pass delivers it with F-2026-000001.pdf attached, whose
    embedded factur-x.xml is byte for byte the stored XML and XSD-valid."""
    billing = Billing(database, offers)
    client_id = billing.client("Société Lyonnaise SARL")
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-d4s", dt.date(2026, 3, 1))
    billing.profile(contract, address="3 avenue des Clients", postcode="69002", city="Lyon")
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    with database.unit() as session:
        invoice = session.get(Invoice, issued["invoice_id"])
        assert invoice is not None
        notice = session.execute(select(Notice).where(Notice.object_id == invoice.id)).scalar_one()
        assert (notice.kind, notice.state, notice.clause) == (
            "invoice_issued",
            "queued",
            "004 §8.2",
        )
        assert "30/04/2026" in notice.legal_ref or "2026-04-30" in notice.legal_ref
        stored_xml, number = invoice.xml, invoice.number
    set_now(utc(2026, 3, 1, 6))
    report = deliver_pass(database, smtp_settings)
    with database.unit() as session:
        row = session.get(Notice, notice.id)
        assert row is not None
        assert report.sent == [notice.id], (report, row.state, row.last_error, row.next_attempt_at)
    [got] = smtp.received
    assert got.rcpt_tos == json.loads(notice.recipients) and got.rcpt_tos[0].startswith("compta")
    message = got.message
    assert message["Subject"] == f"Facture {number} émise"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{number}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    name, embedded = facturx_lib.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and embedded == stored_xml.encode()
    assert facturx.check(embedded)


def test_issue_11_cli_list_show_retry_json(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, monkeypatch: object
) -> None:
    """`nuages notices list|show|retry --json`: the outbox as JSON, exit 1 on a notice
    that is not failed (retry) or unknown (show)."""
    from tests.factories import World

    from .test_delivery import payment_notice

    client_id = World(database).client()
    notice_id = payment_notice(database, client_id)
    mp = monkeypatch  # type: ignore[assignment]
    mp.setenv("NUAGES_DATABASE_URL", database.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli_app, ["notices", "list", "--json"])
        assert r.exit_code == 0, r.output
        [row] = json.loads(r.output)
        assert row["id"] == notice_id and row["state"] == "queued"
        r = runner.invoke(cli_app, ["notices", "show", notice_id, "--json"])
        assert r.exit_code == 0 and "Nous avons reçu" in json.loads(r.output)["body"]
        r = runner.invoke(cli_app, ["notices", "retry", notice_id, "--json"])
        assert r.exit_code == 1 and "only a failed notice" in json.loads(r.output)["error"]
        r = runner.invoke(cli_app, ["notices", "show", "nope", "--json"])
        assert r.exit_code == 1
        r = runner.invoke(cli_app, ["notices", "list", "--state", "bogus"])
        assert r.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_003_s14_5_reminder_emailed_to_billing_contact_then_payment_receipt(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """003 §14.5 / 001 §4.4: the reminder goes by e-mail to the billing contact with the
    step's French text (fee 75.00 EUR) and the English version; a payment recorded
    writes its receipt. Each once: the dunning run repeated writes no second notice."""
    from tests.invoicing.test_dunning import _dun, _pay

    billing = Billing(database, offers)
    client = billing.client("Client Retard", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2025, 12, 31, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    run_at(database, offers, utc(2026, 1, 1, 8))
    _dun(database, offers, dt.date(2026, 1, 18))  # due 17 January (001 §4.1)
    _dun(database, offers, dt.date(2026, 1, 18))
    with database.unit() as session:
        kinds = list(
            session.execute(
                select(Notice.kind)
                .where(Notice.contract_id == contract)
                .order_by(Notice.created_at)
            ).scalars()
        )
    assert kinds == ["invoice_issued", "reminder"]
    _pay(database, offers, client, "235.95", dt.date(2026, 1, 20), "pay-january-1")
    set_now(utc(2026, 1, 20, 10))
    report = deliver_pass(database, smtp_settings)
    assert len(report.sent) == 3, report
    by_subject = {r.message["Subject"]: r for r in smtp.received}
    reminder = next(r for s, r in by_subject.items() if s.startswith("Rappel"))
    body = reminder.message.get_content()
    assert "Frais de rappel de 75.00 EUR" in body and "A reminder fee of 75.00 EUR" in body
    assert reminder.rcpt_tos[0].startswith("compta")
    assert "Paiement de 235.95 EUR reçu" in by_subject
