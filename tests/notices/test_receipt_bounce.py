"""An invoice e-mail that bounces after the relay accepted it was not received (issue #11
x #20; 001 §4.1, §4.4; SPEC §17): the receipt its acceptance recorded is voided, in the
history, and the invoice is "not received": it does not fall due, is not reminded, bears
no late interest and its dispute window has not started, until staff record its receipt
another way (``POST /api/v1/invoices/{id}/receipt``), from which the deadlines then run.
Real aiosmtpd relay, real DSN over SMTP to the bounce listener.

cloudbizz (001) invoice issued Thu 1 January 2026: prints due Sat 17 January.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from nuages.accounts.roles import Role
from nuages.cli import app as cli_app
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.invoicing import receipts
from nuages.invoicing.models import Invoice, InvoiceReceipt
from nuages.kernel import jobs
from nuages.kernel import settings as settings_module
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.models import Notice
from tests.factories import World
from tests.invoicing.factories import utc
from tests.invoicing.test_dunning import _dun

from .dsn_mail import postfix_dsn
from .smtp import SmtpServer
from .test_bounces import _bounce, bounce_listener  # noqa: F401 (fixture)
from .test_delivery import billing_email
from .test_receipts import _deliver, _effective, _invoice, _record


def _void(database: Database, notice_id: str) -> None:
    with database.unit() as session:
        receipts.void(session, notice_id)


def _notice(database: Database, invoice_id: str) -> Notice:
    with database.unit() as session:
        [notice] = session.execute(select(Notice).where(Notice.object_id == invoice_id)).scalars()
        session.expunge(notice)
        return notice


def _dsn(database: Database, smtp: SmtpServer, port: int, client_id: str, at: dt.datetime) -> None:
    """The recipient's MX refuses (5.1.1) the e-mail the relay accepted; the relay's DSN
    reaches the bounce listener, which runs the bounce job here."""
    [got] = smtp.received
    set_now(at)
    with jobs.handled("invoicing_invoice_bounced", lambda nid: _void(database, nid)):
        code, reply = _bounce(
            port,
            got.mail_from,
            postfix_dsn(
                got.message, to=got.mail_from, recipient=billing_email(database, client_id)
            ),
        )
    assert code == 250, reply


def test_regression_bounced_invoice_email_does_not_count_as_received(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,  # noqa: F811
) -> None:
    """001 §4.1, §4.4, SPEC §17: the relay down three days, the e-mail accepted Mon 5
    January 10:00 (receipt: due Tue 20 January), then bounced for good on 5 January
    11:00. The receipt is voided, in the history with what it said; the invoice is then
    not received (SPEC §17): no due date, no dispute window, no reminder on 18 January
    nor later."""
    invoice_id, client_id = _invoice(database, offers)
    smtp.stop()
    _deliver(database, offers, smtp_settings, utc(2026, 1, 1, 9))
    smtp.start()
    with database.unit() as session:
        [notice] = session.execute(select(Notice).where(Notice.object_id == invoice_id)).scalars()
        notice.next_attempt_at = utc(2026, 1, 5, 10)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 5, 10))
    assert _effective(database, invoice_id)[0] == dt.date(2026, 1, 20)  # received

    _dsn(database, smtp, bounce_listener, client_id, utc(2026, 1, 5, 11))

    notice = _notice(database, invoice_id)
    assert notice.state == "bounced" and "5.1.1" in notice.last_error
    with database.unit() as session:
        assert session.get(InvoiceReceipt, invoice_id) is None
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.due_date == dt.date(2026, 1, 17)  # frozen
        [entry] = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.object_id == invoice_id,
                HistoryEntry.action == "invoicing.invoice.receipt_voided",
            )
        ).scalars()
        assert entry.client_id == client_id
        params = json.loads(entry.params)
        assert params["notice_id"] == notice.id
        assert params["due_date_before"] == "2026-01-20"
        assert params["due_date"] == "None"  # not received: it does not fall due
    assert _effective(database, invoice_id) == (None, None)
    for day in (dt.date(2026, 1, 18), dt.date(2026, 2, 1), dt.date(2026, 3, 1)):
        assert _dun(database, offers, day).notices == [], day
    with database.unit() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and receipts.not_received(session, invoice)


def _bounced(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    port: int,
) -> tuple[str, str]:
    """cloudbizz invoice of 1 January, e-mail accepted at 09:00 then bounced at 10:00."""
    invoice_id, client_id = _invoice(database, offers)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 1, 9))
    _dsn(database, smtp, port, client_id, utc(2026, 1, 1, 10))
    return invoice_id, client_id


def test_regression_bounced_invoice_is_not_reminded_until_received_by_letter(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,  # noqa: F811
    client: TestClient,
    world: World,
) -> None:
    """001 §4.1 (payable within 15 days of receipt), §4.4 (8 days to dispute from
    receipt), SPEC §17: the bounced invoice is not reminded on 18 January; staff record a
    registered letter received Sun 25 January 10:00 → due Mon 9 February (25 January +
    15 days, later than the printed 17 January), disputable until the end of 2 February
    (25 January + 8 days); the first reminder comes on 10 February, not before."""
    invoice_id, client_id = _bounced(database, offers, smtp, smtp_settings, bounce_listener)
    assert _dun(database, offers, dt.date(2026, 1, 18)).notices == []
    staff = world.user(Role.PROVIDER_ADMIN, None)
    set_now(utc(2026, 1, 26, 9))
    shown = client.get(f"/api/v1/invoices/{invoice_id}", headers=staff.headers).json()
    assert shown["receipt_state"] == "not-received" and "5.1.1" in shown["bounce"]
    assert shown["effective_due_date"] is None and shown["due_date"] == "2026-01-17"
    body = {
        "received_at": "2026-01-25T10:00:00Z",
        "means": "registered-letter",
        "evidence": "LRAR 1A 234 567 8901 2",
    }
    r = client.post(f"/api/v1/invoices/{invoice_id}/receipt", json=body, headers=staff.headers)
    assert r.status_code == 200, r.text
    assert r.json()["receipt_state"] == "received" and r.json()["bounce"] is None
    assert r.json()["effective_due_date"] == "2026-02-09"
    due, dispute = _effective(database, invoice_id)
    assert due == dt.date(2026, 2, 9)
    assert dispute is not None and dispute.date() in (dt.date(2026, 2, 2), dt.date(2026, 2, 3))
    with database.unit() as session:
        # The first entry is the e-mail's acceptance, voided by the bounce.
        emailed, entry = session.execute(
            select(HistoryEntry)
            .where(
                HistoryEntry.object_id == invoice_id,
                HistoryEntry.action == "invoicing.invoice.received",
            )
            .order_by(HistoryEntry.seq)
        ).scalars()
        params = json.loads(entry.params)
        assert "means" not in json.loads(emailed.params)
        assert params["means"] == "registered-letter" and params["due_date"] == "2026-02-09"
        assert entry.client_id == client_id
    assert _dun(database, offers, dt.date(2026, 2, 9)).notices == []
    assert [n.step for n in _dun(database, offers, dt.date(2026, 2, 10)).notices] == ["reminder-1"]
    again = client.post(f"/api/v1/invoices/{invoice_id}/receipt", json=body, headers=staff.headers)
    assert again.status_code == 409, again.text  # once


def test_receipt_by_other_means_refuses_bad_input_and_non_staff(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,  # noqa: F811
    client: TestClient,
    world: World,
) -> None:
    """Not in the future, not before issue, a known means, staff only; nothing written."""
    invoice_id, client_id = _bounced(database, offers, smtp, smtp_settings, bounce_listener)
    staff = world.user(Role.PROVIDER_ADMIN, None)
    owner = world.user(Role.CLIENT_OWNER, client_id)
    set_now(utc(2026, 1, 26, 9))
    url = f"/api/v1/invoices/{invoice_id}/receipt"
    good = {"received_at": "2026-01-25T10:00:00Z", "means": "hand-delivered", "evidence": "x"}
    for bad, field in (
        ({**good, "received_at": "2026-01-27T10:00:00Z"}, "received_at"),
        ({**good, "received_at": "2025-12-31T10:00:00Z"}, "received_at"),
        ({**good, "means": "pigeon"}, "means"),
    ):
        r = client.post(url, json=bad, headers=staff.headers)
        assert r.status_code == 422 and field in r.text, r.text
    assert client.post(url, json=good, headers=owner.headers).status_code == 403
    # 001 §4.4: the printed window ended 10 January, but it has not started (not received).
    r = client.post(
        f"/api/v1/invoices/{invoice_id}/disputes",
        json={"reason": "jamais reçue"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    with database.unit() as session:
        assert session.get(InvoiceReceipt, invoice_id) is None


def test_regression_dsn_before_the_receipt_job_records_no_receipt(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,  # noqa: F811
) -> None:
    """001 §4.1: the bounce arrives before the receipt job runs (a busy queue): the job
    then records nothing, and voiding twice is harmless."""
    invoice_id, client_id = _invoice(database, offers)
    set_now(utc(2026, 1, 1, 9))
    with jobs.handled("invoicing_invoice_received", lambda nid: None):  # job held back
        from nuages.notices.delivery import deliver_pass

        deliver_pass(database, smtp_settings)
    _dsn(database, smtp, bounce_listener, client_id, utc(2026, 1, 1, 10))
    notice = _notice(database, invoice_id)
    assert notice.state == "bounced"
    _record(database, offers, notice.id)  # the held job, delivered late
    _void(database, notice.id)
    with database.unit() as session:
        assert session.get(InvoiceReceipt, invoice_id) is None
        voided = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.object_id == invoice_id,
                HistoryEntry.action == "invoicing.invoice.receipt_voided",
            )
        ).all()
        assert voided == []  # there was never a receipt to void
    assert _effective(database, invoice_id) == (None, None)  # never received (SPEC §17)


def test_nuages_invoicing_receipt_record_cli(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``nuages invoicing receipt record F-… --received-at … --means … --evidence … --json``
    records the receipt of a bounced invoice (001 §4.1: due 15 days after it); a means it
    does not know exits 2, a second receipt exits 1."""
    invoice_id, _ = _bounced(database, offers, smtp, smtp_settings, bounce_listener)
    with database.unit() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        number = invoice.number
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    settings_module.get_settings.cache_clear()
    set_now(utc(2026, 1, 26, 9))
    try:
        runner = CliRunner()
        args = ["invoicing", "receipt", "record", number, "--received-at", "2026-01-25T10:00:00Z"]
        args += ["--evidence", "LRAR 1A 234 567 8901 2"]
        bad = runner.invoke(cli_app, [*args, "--means", "pigeon"])
        assert bad.exit_code == 2, bad.output
        r = runner.invoke(cli_app, [*args, "--means", "registered-letter", "--json"])
        assert r.exit_code == 0, r.output
        data = json.loads(r.stdout)
        assert data["receipt_state"] == "received"
        assert data["effective_due_date"] == "2026-02-09"
        again = runner.invoke(cli_app, [*args, "--means", "registered-letter"])
        assert again.exit_code == 1, again.output
    finally:
        settings_module.get_settings.cache_clear()
