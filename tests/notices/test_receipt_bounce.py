"""An invoice e-mail that bounces after the relay accepted it was not received (issue #11
x #20; 001 §4.1, §4.4; SPEC §17): the receipt its acceptance recorded is voided, in the
history, and the invoice falls back to its printed deadlines (issue date plus the
assumed one-day delay, ``invoicing/receipts.py``). Real aiosmtpd relay, real DSN over
SMTP to the bounce listener.

cloudbizz (001) invoice issued Thu 1 January 2026: prints due Sat 17 January.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.invoicing import receipts
from nuages.invoicing.models import Invoice, InvoiceReceipt
from nuages.kernel import jobs
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.models import Notice
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
    11:00. The receipt is voided, in the history with what it said; the effective due
    date falls back to the printed 17 January and dunning counts from it."""
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
        assert params["due_date"] == "2026-01-17"
    due, dispute = _effective(database, invoice_id)
    assert due == dt.date(2026, 1, 17)
    with database.unit() as session:
        printed = session.get(Invoice, invoice_id)
        assert printed is not None and dispute == printed.dispute_until
    # Dunning counts from the deadline without a receipt: 18 January is past 17 January.
    assert [n.step for n in _dun(database, offers, dt.date(2026, 1, 18)).notices] == ["reminder-1"]


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
    assert _effective(database, invoice_id)[0] == dt.date(2026, 1, 17)
