"""Delivering the outbox over a real SMTP server on loopback (aiosmtpd): what the server
received, and the faults of issue #11 (down, slow, 4xx/5xx, refused or invalid
recipient, missing template variable), each notice sent exactly once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from nuages.accounts.models import Client, User
from nuages.accounts.roles import Role
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices import service
from nuages.notices.delivery import deliver_pass
from nuages.notices.mailer import FileDropMailer, mailer_for
from nuages.notices.models import Notice, NoticeAttempt
from tests.factories import World

from .smtp import SmtpServer

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system("test")


def payment_notice(database: Database, client_id: str, n: int = 1, **context: Any) -> str:
    values = {"amount": "120.00", "currency": "EUR", "received_on": "2026-03-02"}
    values |= {"reference": f"VIR-{n}"} | context
    with database.unit() as session:
        notice = service.queue(
            session,
            SYSTEM,
            "payment_received",
            client_id=client_id,
            object_type="payment",
            object_id=f"pay-{n}",
            context=values,
            key=f"test:payment:{client_id}:{n}",
        )
        return notice.id


def notice_row(database: Database, notice_id: str) -> Notice:
    with database.unit() as session:
        found = session.get(Notice, notice_id)
        assert found is not None
        session.expunge(found)
        return found


def attempts(database: Database, notice_id: str) -> list[NoticeAttempt]:
    with database.unit() as session:
        rows = service.attempts_of(session, notice_id)
        for row in rows:
            session.expunge(row)
        return rows


def billing_email(database: Database, client_id: str) -> str:
    with database.unit() as session:
        return session.execute(
            select(Client.billing_email).where(Client.id == client_id)
        ).scalar_one()


def test_issue_11_server_receives_recipients_subject_and_fr_en_body(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """The billing contact receives the notice (004 §8.2): French subject, French body
    then the English version, the clause, one Message-ID; the send is in the history."""
    set_now(T0)
    client_id = world.client("Lyon SARL")
    notice_id = payment_notice(database, client_id)
    report = deliver_pass(database, smtp_settings)
    assert report.sent == [notice_id]
    [got] = smtp.received
    assert got.rcpt_tos == [billing_email(database, client_id)]
    # VERP (bounces after acceptance, test_bounces.py): the envelope sender names the
    # notice; the From header stays the configured sender.
    assert got.mail_from == f"bounces+{notice_id}@isstar.example"
    message = got.message
    assert message["From"] == "factures@isstar.example"
    assert message["Subject"] == "Paiement de 120.00 EUR reçu"
    body = message.get_content()
    assert "Nous avons reçu votre paiement de 120.00 EUR le 2026-03-02" in body
    assert "-- English version --" in body and "We received your payment" in body
    assert "004 §8.2" in body
    row = notice_row(database, notice_id)
    assert row.state == "sent" and row.sent_at == T0 and message["Message-ID"] == row.message_id
    [attempt] = attempts(database, notice_id)
    assert (attempt.outcome, attempt.code) == ("accepted", 250)
    with database.unit() as session:
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == notice_id)
        ).scalars()
        assert list(actions) == ["notice.queue", "notice.send"]
    # A second pass sends nothing again.
    assert deliver_pass(database, smtp_settings).sent == []
    assert len(smtp.received) == 1


def test_issue_11_server_down_defers_with_backoff_then_delivers_once(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """Server down: the notice stays queued with the reason and a backoff (60 s, then
    120 s); once the server is back, the next due pass delivers it, once."""
    set_now(T0)
    client_id = world.client()
    notice_id = payment_notice(database, client_id)
    smtp.stop()
    report = deliver_pass(database, smtp_settings)
    assert report.deferred == [notice_id]
    row = notice_row(database, notice_id)
    assert row.state == "queued" and row.attempts == 1
    assert row.next_attempt_at == T0 + dt.timedelta(seconds=60)
    assert "ConnectionRefused" in row.last_error
    set_now(T0 + dt.timedelta(seconds=30))  # not due yet
    assert deliver_pass(database, smtp_settings).deferred == []
    set_now(T0 + dt.timedelta(seconds=60))
    deliver_pass(database, smtp_settings)
    assert notice_row(database, notice_id).next_attempt_at == T0 + dt.timedelta(seconds=180)
    smtp.start()
    set_now(T0 + dt.timedelta(seconds=180))
    assert deliver_pass(database, smtp_settings).sent == [notice_id]
    assert smtp.message_ids() == [row.message_id]
    assert [a.outcome for a in attempts(database, notice_id)] == [
        "deferred",
        "deferred",
        "accepted",
    ]


def test_issue_11_server_stopped_during_a_pass_then_restarted_each_once(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """Four notices; the server stops after accepting the first (during the pass): the
    other three are deferred. Restarted, the next pass sends those three: the server
    holds four messages, four distinct Message-IDs, one per notice."""
    set_now(T0)
    client_id = world.client()
    ids = [payment_notice(database, client_id, n) for n in range(4)]

    def stop_after_first(notice_id: str, state: str) -> None:
        if state == "sent":
            smtp.stop()

    report = deliver_pass(database, smtp_settings, after_each=stop_after_first)
    assert len(report.sent) == 1 and len(report.deferred) == 3
    smtp.start()
    set_now(T0 + dt.timedelta(minutes=5))
    again = deliver_pass(database, smtp_settings)
    assert sorted(again.sent) == sorted(set(ids) - set(report.sent))
    received = smtp.message_ids()
    assert len(received) == 4 and len(set(received)) == 4
    assert set(received) == {notice_row(database, i).message_id for i in ids}


def test_issue_11_4xx_defers_5xx_fails_visibly(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """451 keeps it queued (retried later); 554 fails it for good with the server's
    answer, visible to staff; nothing was received twice."""
    set_now(T0)
    client_id = world.client()
    notice_id = payment_notice(database, client_id)
    smtp.handler.data_reply = "451 4.3.0 try again later"
    assert deliver_pass(database, smtp_settings).deferred == [notice_id]
    assert notice_row(database, notice_id).last_error.startswith("deferred: 451")
    smtp.handler.data_reply = "554 5.7.1 message rejected"
    set_now(T0 + dt.timedelta(minutes=2))
    assert deliver_pass(database, smtp_settings).failed == [notice_id]
    row = notice_row(database, notice_id)
    assert row.state == "failed" and "554" in row.last_error and "rejected" in row.last_error
    assert smtp.received == []


def test_issue_11_refused_recipient_fails_with_bounce_reason(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """The server refuses the only recipient (550): failed, the reply names the address."""
    set_now(T0)
    client_id = world.client()
    notice_id = payment_notice(database, client_id)
    address = billing_email(database, client_id)
    smtp.handler.refuse_rcpt[address] = "550 5.1.1 no such mailbox"
    assert deliver_pass(database, smtp_settings).failed == [notice_id]
    row = notice_row(database, notice_id)
    assert address in row.last_error and "550" in row.last_error


def test_issue_11_slow_server_times_out_and_is_retried_once(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """A server slower than NUAGES_SMTP_TIMEOUT (2 s here): deferred, the reason says
    timed out; the reply that arrived late was never counted as sent."""
    set_now(T0)
    client_id = world.client()
    notice_id = payment_notice(database, client_id)
    smtp.handler.data_reply = "451 too slow"  # what it says once it answers, too late
    smtp.handler.data_delay = 3.0
    assert deliver_pass(database, smtp_settings).deferred == [notice_id]
    assert "timed out" in notice_row(database, notice_id).last_error.lower()
    smtp.handler.data_delay, smtp.handler.data_reply = 0.0, None
    set_now(T0 + dt.timedelta(minutes=2))
    assert deliver_pass(database, smtp_settings).sent == [notice_id]
    assert len(smtp.received) == 1


def test_issue_11_invalid_address_and_missing_variable_fail_without_rollback(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """An invalid billing address, or a template variable missing: the notice is
    written failed with the reason, the act's transaction commits (the other row
    written with it is there), and nothing reaches the server."""
    set_now(T0)
    client_id = world.client()
    with database.unit() as session:
        session.get(Client, client_id).billing_email = "not an address"  # type: ignore[union-attr]
    bad_address = payment_notice(database, client_id, 1)
    assert (
        "invalid recipient address 'not an address'" in notice_row(database, bad_address).last_error
    )
    other = world.client()
    with database.unit() as session:
        notice = service.queue(
            session,
            SYSTEM,
            "payment_received",
            client_id=other,
            object_type="payment",
            object_id="pay-x",
            context={"amount": "1.00", "currency": "EUR"},  # received_on, reference missing
            key="test:missing",
        )
        session.add(
            Client(
                kind="business",
                legal_name="Written with the act",
                country="FR",
                billing_email="x@example.com",
            )
        )
    row = notice_row(database, notice.id)
    assert row.state == "failed" and "'received_on' is undefined" in row.last_error
    with database.unit() as session:
        assert session.execute(
            select(Client).where(Client.legal_name == "Written with the act")
        ).scalar_one()
    assert deliver_pass(database, smtp_settings).sent == []
    assert smtp.received == []


def test_issue_11_file_drop_writes_one_eml_per_notice(
    database: Database, world: World, settings: Settings
) -> None:
    """Without NUAGES_SMTP_URL the file drop writes <data_dir>/outbox/<Message-ID>.eml;
    a file present is a notice sent (checked before each attempt)."""
    set_now(T0)
    mailer = mailer_for(settings)
    assert isinstance(mailer, FileDropMailer) and mailer.folder == settings.data_dir / "outbox"
    client_id = world.client()
    first = payment_notice(database, client_id, 1)
    assert deliver_pass(database, settings).sent == [first]
    files = list((settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"Paiement de 120.00 EUR" in files[0].read_bytes()
    # The file already there (a crash after writing it): the next attempt sends nothing.
    second = payment_notice(database, client_id, 2)
    path = mailer._path(notice_row(database, second).message_id)
    path.write_bytes(b"written before a crash")
    assert deliver_pass(database, settings).sent == [second]
    assert path.read_bytes() == b"written before a crash"
    [attempt] = attempts(database, second)
    assert attempt.reply.startswith("already sent")


def test_issue_11_owner_reads_own_notices_member_not_billing_staff_retries(
    client: Any, database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """GET /notices: the owner sees their client's notices with the delivery state,
    another client sees none, a member never sees money notices (000 §5); staff see
    all, read the refusal, and retry a failed one (409 once a server accepted it)."""
    set_now(T0)
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    member = world.user(Role.CLIENT_MEMBER, client_id)
    stranger = world.user(Role.CLIENT_OWNER, world.client())
    admin = world.admin()
    notice_id = payment_notice(database, client_id)
    smtp.handler.data_reply = "554 5.7.1 spam"
    deliver_pass(database, smtp_settings)
    r = client.get("/api/v1/notices", headers=owner.headers)
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["id"] == notice_id and item["state"] == "failed" and "554" in item["last_error"]
    assert client.get("/api/v1/notices", headers=member.headers).json()["items"] == []
    assert client.get("/api/v1/notices", headers=stranger.headers).json()["items"] == []
    assert client.get(f"/api/v1/notices/{notice_id}", headers=stranger.headers).status_code == 404
    assert (
        client.post(f"/api/v1/notices/{notice_id}/retry", headers=owner.headers).status_code == 403
    )
    detail = client.get(f"/api/v1/notices/{notice_id}", headers=admin.headers).json()
    assert [a["code"] for a in detail["history"]] == [554]
    r = client.post(f"/api/v1/notices/{notice_id}/retry", headers=admin.headers)
    assert r.status_code == 200 and r.json()["state"] == "queued"
    smtp.handler.data_reply = None
    assert deliver_pass(database, smtp_settings).sent == [notice_id]
    r = client.post(f"/api/v1/notices/{notice_id}/retry", headers=admin.headers)
    assert r.status_code == 409
    listed = client.get("/api/v1/notices?state=sent", headers=admin.headers).json()
    assert [n["id"] for n in listed["items"]] == [notice_id]
    assert json.loads(json.dumps(listed))["total"] == 1


def test_regression_smtp_message_lines_end_in_crlf(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """smtplib fixes the line endings of a str only: the message bytes must be rendered
    with CRLF, or a server reads a PDF attachment as one over-long line (500)."""
    set_now(T0)
    payment_notice(database, world.client())
    deliver_pass(database, smtp_settings)
    [got] = smtp.received
    assert b"\n" in got.data and got.data.count(b"\n") == got.data.count(b"\r\n")


def test_issue_11_up_names_the_mailer_file_drop_unless_smtp_url(tmp_path: Any) -> None:
    """`nuages up` says at start where notices go: the file drop under the data
    directory unless NUAGES_SMTP_URL is set (STARTTLS / TLS shown); a URL that names
    no SMTP server stops the start with the reason."""
    import pytest

    from nuages.notices.mailer import MailerConfigError
    from nuages.server import mailer_notice

    drop = mailer_notice(Settings(data_dir=tmp_path))
    assert drop.startswith(f"file drop {tmp_path / 'outbox'}") and "NUAGES_SMTP_URL" in drop
    smtp = Settings(data_dir=tmp_path, smtp_url="smtp://u:p%40ss@mail.example:587?starttls=1")
    assert mailer_notice(smtp) == "SMTP mail.example:587 (STARTTLS)"
    mailer = mailer_for(smtp)
    assert (mailer.username, mailer.password) == ("u", "p@ss")  # type: ignore[union-attr]
    assert mailer_notice(Settings(smtp_url="smtps://mail.example")) == (
        "SMTP mail.example:465 (TLS)"
    )
    with pytest.raises(MailerConfigError):
        mailer_notice(Settings(smtp_url="http://mail.example"))


def test_004_s7_hold_notice_names_ground_and_expected_duration(
    client: Any, database: Database, world: World
) -> None:
    """004 §7: a suspension is announced with its ground and expected duration, its
    lifting once the cause is remedied (the hook the holds slice calls:
    announce.hold_changed), to every owner."""
    from nuages.notices import announce

    set_now(T0)
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    from tests.billing.factories import order

    contract_id = order(client, owner)
    with database.unit() as session:
        placed = announce.hold_changed(
            session,
            SYSTEM,
            lifted=False,
            hold_id="h1",
            contract_id=contract_id,
            client_id=client_id,
            ground="maintenance",
            clause="004 §7",
            reason="remplacement d'un disque",
            at=T0,
            expected_end_at=T0 + dt.timedelta(hours=4),
        )
        lifted = announce.hold_changed(
            session,
            SYSTEM,
            lifted=True,
            hold_id="h1",
            contract_id=contract_id,
            client_id=client_id,
            ground="maintenance",
            clause="004 §7",
            reason="",
            at=T0 + dt.timedelta(hours=3),
        )
        placed_body, lifted_body = placed.body, lifted.body
        recipients = json.loads(placed.recipients)
    assert "Motif : maintenance (004 §7) : remplacement d'un disque." in placed_body
    assert "Durée prévue : jusqu'au 2026-03-02T13:00+00:00." in placed_body
    assert "Expected duration: until 2026-03-02T13:00+00:00." in placed_body
    assert "est levée le 2026-03-02T12:00+00:00. Le service reprend." in lifted_body
    with database.unit() as session:
        email = session.execute(select(User.email).where(User.id == owner.user_id)).scalar_one()
    assert recipients == [email]


def test_issue_11_written_notice_asks_for_a_pass_after_commit_only(
    database: Database, world: World
) -> None:
    """ "Immediately" means within one pass: a notice committed asks for a pass (by job
    name); one rolled back with its act asks for nothing and leaves no row; a second
    within the same second asks for one a second later instead of a pass per notice."""
    from nuages.kernel import jobs

    calls: list[str] = []
    client_id = world.client()
    service._last_wake[0] = 0.0
    with (
        jobs.handled("notices_deliver", lambda: calls.append("now")),
        jobs.handled("notices_deliver_soon", lambda: calls.append("soon")),
    ):
        try:
            with database.unit() as session:
                service.queue(
                    session,
                    SYSTEM,
                    "payment_received",
                    client_id=client_id,
                    object_type="payment",
                    object_id="p-rolled-back",
                    key="rolled-back",
                    context={
                        "amount": "1",
                        "currency": "EUR",
                        "received_on": "x",
                        "reference": "r",
                    },
                )
                raise RuntimeError("the act fails")
        except RuntimeError:
            pass
        assert calls == []
        with database.unit() as session:
            assert (
                session.execute(select(Notice).where(Notice.dedupe_key == "rolled-back")).first()
                is None
            )
        payment_notice(database, client_id, 1)
        payment_notice(database, client_id, 2)
        payment_notice(database, client_id, 3)
    assert calls == ["now", "soon"]
