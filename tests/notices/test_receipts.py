"""Invoice receipt proved by the e-mail's acceptance (001 §4.1, §4.4; issue #20 item 3).

A cloudbizz (001) invoice issued Thu 1 January 2026 prints: received Fri 2 January (issue
date plus one day, SPEC §17), due Sat 17 January (15 days, the day of receipt not
counted). The real SMTP server on loopback accepts its e-mail when the test says.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import disputes, receipts
from nuages.invoicing.models import Invoice, InvoiceReceipt
from nuages.kernel import jobs
from nuages.kernel.clock import frozen_at, set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import Notice
from tests.invoicing.factories import STAFF, Billing, run_at, utc
from tests.invoicing.test_dunning import _dun

from .smtp import SmtpServer


def _invoice(database: Database, offers: OfferRegistry) -> tuple[str, str]:
    billing = Billing(database, offers)
    client = billing.client("Client Reçu", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2025, 12, 31, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    [issued] = run_at(database, offers, utc(2026, 1, 1, 8)).issued
    return issued["invoice_id"], client


def _deliver(
    database: Database, offers: OfferRegistry, settings: Settings, at: dt.datetime
) -> None:
    """One delivery pass at ``at``, the receipt job run here on the test database."""
    set_now(at)
    with jobs.handled(
        "invoicing_invoice_received",
        lambda notice_id: _record(database, offers, notice_id),
    ):
        deliver_pass(database, settings)


def _record(database: Database, offers: OfferRegistry, notice_id: str) -> None:
    with database.unit() as session:
        receipts.record(session, offers, notice_id)


def _effective(database: Database, invoice_id: str) -> tuple[dt.date | None, dt.datetime | None]:
    with database.unit() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        return receipts.due_date(session, invoice), receipts.dispute_until(session, invoice)


def test_001_s4_1_receipt_same_day_keeps_the_printed_due_date(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """001 §4.1: accepted on 1 January, an hour after issue: receipt is recorded at that
    moment, but the due date stays the printed 17 January (SPEC §17: never earlier)."""
    invoice_id, _ = _invoice(database, offers)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 1, 9))
    assert len(smtp.received) == 1
    with database.unit() as session:
        receipt = session.get(InvoiceReceipt, invoice_id)
        assert receipt is not None and receipt.received_at == utc(2026, 1, 1, 9)
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.due_date == dt.date(2026, 1, 17)
    assert _effective(database, invoice_id)[0] == dt.date(2026, 1, 17)


def test_001_s4_1_s4_4_relay_down_three_days_moves_due_date_and_dispute_window(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """001 §4.1, §4.4: the mail relay refuses for three days; the e-mail is accepted Mon
    5 January 10:00 UTC. Receipt is then: due Tue 20 January (15 days from receipt),
    dispute window 8 days from receipt. Dunning on 18 January reminds nothing, on 21
    January it reminds; a dispute on 12 January is still in time."""
    invoice_id, _ = _invoice(database, offers)
    with database.unit() as session:
        printed = session.get(Invoice, invoice_id)
        assert printed is not None
        printed_dispute = printed.dispute_until
    smtp.stop()  # the relay is down: the notice stays queued
    _deliver(database, offers, smtp_settings, utc(2026, 1, 1, 9))
    smtp.start()
    with database.unit() as session:
        [notice] = session.execute(select(Notice).where(Notice.object_id == invoice_id)).scalars()
        assert notice.state == "queued"
        notice.next_attempt_at = utc(2026, 1, 5, 10)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 5, 10))
    assert len(smtp.received) == 1
    due, dispute = _effective(database, invoice_id)
    assert due == dt.date(2026, 1, 20)
    assert dispute is not None and printed_dispute is not None and dispute > printed_dispute
    assert dispute - printed_dispute >= dt.timedelta(days=3)

    assert _dun(database, offers, dt.date(2026, 1, 18)).notices == []
    assert [n.step for n in _dun(database, offers, dt.date(2026, 1, 21)).notices] == ["reminder-1"]


def test_receipt_recorded_once_and_not_from_a_file_drop(
    database: Database, offers: OfferRegistry, tmp_path: object
) -> None:
    """A message written to a file drop reached no mail server: no receipt. The job run
    twice for an accepted notice records one receipt."""
    invoice_id, _ = _invoice(database, offers)
    settings = Settings(data_dir=tmp_path, database_url=database.url)  # type: ignore[arg-type]
    _deliver(database, offers, settings, utc(2026, 1, 1, 9))
    with database.unit() as session:
        [notice] = session.execute(select(Notice).where(Notice.object_id == invoice_id)).scalars()
        assert notice.state == "sent"
        notice_id = notice.id
        assert session.get(InvoiceReceipt, invoice_id) is None
    _record(database, offers, notice_id)
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(InvoiceReceipt)).scalar() == 0


def test_receipt_job_twice_records_once(
    database: Database, offers: OfferRegistry, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    invoice_id, _ = _invoice(database, offers)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 3, 9))
    with database.unit() as session:
        [notice_id] = session.execute(
            select(Notice.id).where(Notice.object_id == invoice_id)
        ).scalars()
    _record(database, offers, notice_id)
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(InvoiceReceipt)).scalar() == 1


@pytest.mark.parametrize("day", [dt.date(2026, 1, 11)])
def test_001_s4_4_dispute_in_time_after_late_receipt(
    database: Database,
    offers: OfferRegistry,
    smtp: SmtpServer,
    smtp_settings: Settings,
    day: dt.date,
) -> None:
    """001 §4.4: accepted Sat 3 January 09:00 UTC, the dispute window runs 8 days from
    that receipt, so a dispute on 11 January is in time although the printed window
    (from the assumed receipt of 2 January) has closed."""
    invoice_id, _ = _invoice(database, offers)
    _deliver(database, offers, smtp_settings, utc(2026, 1, 3, 9))
    with database.unit() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.dispute_until is not None
        assert invoice.dispute_until <= utc(day.year, day.month, day.day, 12)
    with frozen_at(utc(day.year, day.month, day.day, 12)), database.unit() as session:
        try:
            disputes.open_dispute(session, STAFF, invoice_id, "quantité contestée")
        except NuagesError as exc:  # pragma: no cover - the failure this test guards
            pytest.fail(f"refused: {exc}")
