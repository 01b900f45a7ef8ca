"""Bounces after acceptance (issue #11, "a bounced or refused message is visible to
staff"): a real relay (aiosmtpd) accepts the notice with its VERP envelope sender, then
a DSN built like Postfix's is delivered over SMTP to nuages' bounce listener on
loopback, or dropped in a Maildir; the notice shows it per recipient."""

from __future__ import annotations

import mailbox
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.models import Client
from nuages.accounts.roles import Role
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices import service
from nuages.notices.bounce_intake import ListenError, listener, parse_listen, read_maildir
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import BounceMail, Notice, NoticeBounce
from tests.factories import World

from .dsn_mail import postfix_dsn
from .smtp import Received, SmtpServer, free_port
from .test_delivery import T0, billing_email, notice_row, payment_notice

SYSTEM = Actor.system("test")


@pytest.fixture
def bounce_listener(database: Database, smtp_settings: Settings) -> Iterator[int]:
    port = free_port()
    server = listener(database, smtp_settings, f"127.0.0.1:{port}")
    server.start()
    try:
        yield port
    finally:
        server.stop()


def _sent(
    database: Database, world: World, settings: Settings, smtp: SmtpServer
) -> tuple[str, str, Received]:
    set_now(T0)
    client_id = world.client("Lyon SARL")
    notice_id = payment_notice(database, client_id)
    report = deliver_pass(database, settings)
    assert report.sent == [notice_id]
    [got] = smtp.received
    return client_id, notice_id, got


def _bounce(port: int, to: str, data: bytes) -> tuple[int, bytes]:
    """What Postfix's smtp client does with a bounce: MAIL FROM:<> (a bounce has no
    sender, RFC 5321 §4.5.5), RCPT TO the VERP address, DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("mx.isstar.example")
        s.mail("<>")
        code, reply = s.rcpt(to)
        if code != 250:
            return code, reply
        return s.data(data)


def test_issue_11_relay_accepts_then_dsn_5_1_1_over_smtp_marks_the_notice_bounced(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
    client: TestClient,
) -> None:
    """The relay accepted the notice (250, sent) with envelope sender
    bounces+<notice id>@isstar.example; the recipient's MX then refused it (5.1.1) and
    the relay's DSN reaches the listener: the notice is bounced with the reason, in the
    history, in GET /notices?state=bounced and its detail (per recipient)."""
    client_id, notice_id, got = _sent(database, world, smtp_settings, smtp)
    verp = f"bounces+{notice_id}@isstar.example"
    assert got.mail_from == verp  # VERP: the envelope sender names the notice
    assert got.message["From"] == "factures@isstar.example"  # the header does not change
    rcpt = billing_email(database, client_id)
    code, reply = _bounce(bounce_listener, verp, postfix_dsn(got.message, to=verp, recipient=rcpt))
    assert code == 250, reply
    notice = notice_row(database, notice_id)
    assert notice.state == "bounced"
    assert "5.1.1" in notice.last_error and "User unknown" in notice.last_error
    assert rcpt in notice.last_error
    assert notice.alert == ""  # a payment receipt opens no deadline: no alert
    with database.unit() as session:
        [entry] = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.object_id == notice_id, HistoryEntry.action == "notice.bounce"
            )
        ).scalars()
        assert entry.client_id == client_id and "5.1.1" in entry.outcome
    staff = world.admin().headers
    listed = client.get("/api/v1/notices?state=bounced", headers=staff).json()
    assert [n["id"] for n in listed["items"]] == [notice_id]
    detail = client.get(f"/api/v1/notices/{notice_id}", headers=staff).json()
    [bounce] = detail["bounces"]
    assert bounce["recipient"] == rcpt and bounce["action"] == "failed"
    assert bounce["status"] == "5.1.1" and bounce["permanent"] is True
    assert (
        "Recipient address rejected: User unknown in virtual mailbox table"
        in (bounce["diagnostic"])
    )
    assert bounce["reporting_mta"] == "mx.isstar.example"
    # Bounced after acceptance: never sent again by itself.
    again = client.post(f"/api/v1/notices/{notice_id}/retry", headers=staff)
    assert again.status_code == 409 and "bounced" in again.json()["detail"]


def test_issue_11_delayed_dsn_is_recorded_and_the_notice_stays_sent(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
) -> None:
    """Postfix's "Delayed Mail (still being retried)" (Action: delayed, 4.4.1): recorded
    on the notice, which stays sent; the later failure still bounces it."""
    client_id, notice_id, got = _sent(database, world, smtp_settings, smtp)
    verp, rcpt = f"bounces+{notice_id}@isstar.example", billing_email(database, client_id)
    delayed = postfix_dsn(
        got.message,
        to=verp,
        recipient=rcpt,
        action="delayed",
        status="4.4.1",
        diagnostic="X-Postfix; connect to mx.lyon.example[192.0.2.25]:25: Connection timed out",
        dsn_id="<delay.1@mx.isstar.example>",
    )
    assert _bounce(bounce_listener, verp, delayed)[0] == 250
    notice = notice_row(database, notice_id)
    assert notice.state == "sent" and notice.last_error == ""
    with database.unit() as session:
        [row] = session.execute(select(NoticeBounce)).scalars()
        assert (row.action, row.status, row.permanent) == ("delayed", "4.4.1", False)
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == notice_id)
        ).scalars()
        assert "notice.delay" in list(actions)
    failed = postfix_dsn(got.message, to=verp, recipient=rcpt, dsn_id="<fail.1@mx.isstar.example>")
    assert _bounce(bounce_listener, verp, failed)[0] == 250
    assert notice_row(database, notice_id).state == "bounced"


def test_issue_11_the_same_dsn_twice_is_recorded_once(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
    tmp_path: Path,
) -> None:
    """The MX delivers the same DSN twice (a lost 250), and a copy lands in the
    Maildir too: one bounce row, one history entry, one kept message."""
    client_id, notice_id, got = _sent(database, world, smtp_settings, smtp)
    verp, rcpt = f"bounces+{notice_id}@isstar.example", billing_email(database, client_id)
    data = postfix_dsn(got.message, to=verp, recipient=rcpt)
    assert _bounce(bounce_listener, verp, data)[0] == 250
    assert _bounce(bounce_listener, verp, data)[0] == 250
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(b"Return-Path: <>\r\nDelivered-To: " + verp.encode() + b"\r\n" + data)
    report = read_maildir(database, smtp_settings, tmp_path / "Maildir")
    assert (report.read, report.duplicate) == (1, 1)
    with database.unit() as session:
        assert session.scalar(select(func.count()).select_from(NoticeBounce)) == 1
        assert session.scalar(select(func.count()).select_from(BounceMail)) == 1
        bounces = session.scalar(
            select(func.count())
            .select_from(HistoryEntry)
            .where(HistoryEntry.object_id == notice_id, HistoryEntry.action == "notice.bounce")
        )
        assert bounces == 1


def test_issue_11_maildir_intake_finds_the_notice_by_verp_even_when_the_dsn_is_mangled(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings, tmp_path: Path
) -> None:
    """The provider's MTA delivers bounces into a Maildir: a well-formed DSN found by
    its returned Message-ID only, and a "bounce" re-written as plain text by a gateway
    (no report part, no headers back) found by the VERP address it was sent to. Each
    message is removed once recorded."""
    set_now(T0)
    client_id = world.client("Lyon SARL")
    first, second = payment_notice(database, client_id, 1), payment_notice(database, client_id, 2)
    deliver_pass(database, smtp_settings)
    by_id = {str(r.message["Message-ID"]): r for r in smtp.received}
    rcpt = billing_email(database, client_id)
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    first_msg = by_id[notice_row(database, first).message_id].message
    box.add(postfix_dsn(first_msg, to="bounces@isstar.example", recipient=rcpt))
    mangled = (
        "From: postmaster@gateway.example\r\nTo: bounces+" + second + "@isstar.example\r\n"
        "Subject: Returned mail\r\nMessage-ID: <mangled.1@gateway.example>\r\n\r\n"
        "Delivery to the following recipient failed permanently:\r\n\r\n"
        f"     {rcpt}\r\n\r\nTechnical details: 550 5.1.1 The email account does not exist.\r\n"
    ).encode()
    box.add(mangled)
    report = read_maildir(database, smtp_settings, tmp_path / "bounces")
    assert (report.read, report.matched, report.errors) == (2, 2, 0)
    assert list(box.keys()) == []
    assert notice_row(database, first).state == "bounced"
    second_row = notice_row(database, second)
    assert second_row.state == "bounced" and "5.1.1" in second_row.last_error
    with database.unit() as session:
        guessed = session.execute(
            select(NoticeBounce).where(NoticeBounce.notice_id == second)
        ).scalar_one()
        assert guessed.guessed and guessed.recipient == rcpt


def test_issue_11_garbage_and_unknown_bounces_are_kept_for_staff_not_crashing(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
    client: TestClient,
) -> None:
    """Binary garbage, an empty message and a DSN about a message nuages never sent:
    each answered 250, kept (unparsable / unknown) and listed for staff in
    GET /notice-bounces; a client user reads none of that mailbox; an address other
    than the bounce one is refused (550: no relay)."""
    to = "bounces@isstar.example"
    noise = bytes(b for b in range(256) if b not in (10, 13))  # lines as SMTP carries them
    assert (
        _bounce(
            bounce_listener, to, b"\r\n".join([noise[i : i + 70] for i in range(0, 254, 70)] * 30)
        )[0]
        == 250
    )
    assert _bounce(bounce_listener, to, b"\r\n")[0] == 250
    from email.message import EmailMessage

    foreign = EmailMessage()
    foreign["Message-ID"] = "<never-ours@elsewhere.example>"
    foreign["Subject"] = "hello"
    unknown = postfix_dsn(foreign, to=to, recipient="x@lyon.example", dsn_id="<u.1@mx>")
    assert _bounce(bounce_listener, to, unknown)[0] == 250
    code, _ = _bounce(bounce_listener, "someone@isstar.example", b"Subject: relay me\r\n\r\nx")
    assert code == 550
    staff = world.admin().headers
    kept = client.get("/api/v1/notice-bounces", headers=staff).json()
    assert sorted(m["outcome"] for m in kept["items"]) == ["unknown", "unparsable", "unparsable"]
    assert kept["total"] == 3
    only = client.get("/api/v1/notice-bounces?outcome=unknown", headers=staff).json()
    assert [m["subject"] for m in only["items"]] == ["Undelivered Mail Returned to Sender"]
    owner = world.user(Role.CLIENT_OWNER, world.client())
    assert client.get("/api/v1/notice-bounces", headers=owner.headers).json()["total"] == 0


def test_issue_11_bounced_legal_notice_alerts_staff_with_how_to_send_it_otherwise(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
    client: TestClient,
) -> None:
    """A formal notice (003 §14.5) that bounces may not have reached the client: the
    notice carries an alert naming the clause, the bounced address and the postal
    address for a registered letter; `nuages notices list --state bounced` shows it."""
    set_now(T0)
    client_id = world.client("Lyon SARL")
    with database.unit() as session:
        notice_id = service.queue(
            session,
            SYSTEM,
            "formal_notice",
            client_id=client_id,
            object_type="invoice",
            object_id="inv-1",
            context={
                "number": "F-2026-0001",
                "text": "Mise en demeure de payer.",
                "outstanding": "120.00",
                "currency": "EUR",
            },
            key="test:formal:1",
        ).id
    deliver_pass(database, smtp_settings)
    [got] = smtp.received
    verp, rcpt = f"bounces+{notice_id}@isstar.example", billing_email(database, client_id)
    assert (
        _bounce(bounce_listener, verp, postfix_dsn(got.message, to=verp, recipient=rcpt))[0] == 250
    )
    alert = notice_row(database, notice_id).alert
    assert "formal_notice (003 §14.5)" in alert and rcpt in alert
    assert "registered letter to Lyon SARL" in alert
    listed = client.get("/api/v1/notices?state=bounced", headers=world.admin().headers).json()
    assert listed["items"][0]["alert"] == alert


def test_issue_11_bounce_listener_binds_only_loopback_or_private_addresses() -> None:
    """It is no public MX: the provider's MX forwards the bounce domain to it."""
    assert parse_listen("127.0.0.1:2525") == ("127.0.0.1", 2525)
    assert parse_listen("10.1.2.3:25") == ("10.1.2.3", 25)
    assert parse_listen("[::1]:2525") == ("::1", 2525)
    for bad in ("203.0.113.9:25", "0.0.0.0:25", "mx.example:25", "127.0.0.1:0"):
        with pytest.raises(ListenError):
            parse_listen(bad)


def test_issue_11_cli_lists_bounced_notices_and_records_a_piped_dsn(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`nuages notices bounces intake FILE` (an MTA pipe transport) records the DSN;
    `nuages notices list --state bounced` and `show` show it; `bounces list` the kept
    message; a public listen address is exit 2."""
    import json

    from typer.testing import CliRunner

    from nuages.cli import app as cli_app
    from nuages.kernel.settings import get_settings

    client_id, notice_id, got = _sent(database, world, smtp_settings, smtp)
    verp, rcpt = f"bounces+{notice_id}@isstar.example", billing_email(database, client_id)
    eml = tmp_path / "bounce.eml"
    eml.write_bytes(
        b"Delivered-To: "
        + verp.encode()
        + b"\r\n"
        + postfix_dsn(got.message, to=verp, recipient=rcpt)
    )
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    monkeypatch.setenv("NUAGES_MAIL_FROM", "factures@isstar.example")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli_app, ["notices", "bounces", "intake", str(eml), "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["outcome"] == "matched"
        r = runner.invoke(cli_app, ["notices", "list", "--state", "bounced", "--json"])
        assert r.exit_code == 0, r.output
        [row] = json.loads(r.output)
        assert row["id"] == notice_id and "5.1.1" in row["last_error"]
        r = runner.invoke(cli_app, ["notices", "show", notice_id])
        assert r.exit_code == 0 and "bounce " in r.output and "5.1.1" in r.output
        r = runner.invoke(cli_app, ["notices", "bounces", "list", "--json"])
        assert [m["notice_id"] for m in json.loads(r.output)] == [notice_id]
        r = runner.invoke(cli_app, ["notices", "bounces", "serve", "--listen", "8.8.8.8:25"])
        assert r.exit_code == 2 and "public" in r.output
        # Resend: refused (1) while the bounced address stands, a copy once it is fixed.
        r = runner.invoke(cli_app, ["notices", "resend", notice_id, "--json"])
        assert r.exit_code == 1 and rcpt in r.output
        with database.unit() as session:
            found = session.get(Client, client_id)
            assert found is not None
            found.billing_email = "compta@lyon.fr"
        r = runner.invoke(cli_app, ["notices", "resend", notice_id, "--json"])
        assert r.exit_code == 0, r.output
        copy = json.loads(r.output)
        assert copy["recipients"] == ["compta@lyon.fr"] and copy["id"] != notice_id
    finally:
        get_settings.cache_clear()


def test_issue_11_without_verp_the_envelope_sender_is_mail_from_and_message_id_matches(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
) -> None:
    """NUAGES_BOUNCE_VERP=0 (a submission server refusing other senders): MAIL FROM is
    the configured sender; the DSN, sent to bounces@, is matched by the returned
    Message-ID."""
    settings = smtp_settings.model_copy(update={"bounce_verp": False})
    client_id, notice_id, got = _sent(database, world, settings, smtp)
    assert got.mail_from == "factures@isstar.example"
    to, rcpt = "bounces@isstar.example", billing_email(database, client_id)
    assert _bounce(bounce_listener, to, postfix_dsn(got.message, to=to, recipient=rcpt))[0] == 250
    assert notice_row(database, notice_id).state == "bounced"


def test_bounced_notice_is_resent_as_a_copy_once_the_address_is_corrected(
    database: Database,
    world: World,
    smtp: SmtpServer,
    smtp_settings: Settings,
    bounce_listener: int,
    client: TestClient,
) -> None:
    """A notice that bounced for good is never sent again under its Message-ID; staff
    resend it once the client's billing address is corrected: a copy (its own id,
    Message-ID and VERP address, same subject and body) reaches the new address, the
    bounced one points to it and its alert is closed. Refused while the address that
    bounced is still the recipient, and a second time."""
    client_id, notice_id, got = _sent(database, world, smtp_settings, smtp)
    verp, rcpt = f"bounces+{notice_id}@isstar.example", billing_email(database, client_id)
    assert (
        _bounce(bounce_listener, verp, postfix_dsn(got.message, to=verp, recipient=rcpt))[0] == 250
    )
    staff = world.admin().headers
    owner = world.user(Role.CLIENT_OWNER, client_id)
    refused = client.post(f"/api/v1/notices/{notice_id}/resend", headers=staff)
    assert refused.status_code == 409
    assert rcpt in refused.json()["detail"] and "correct" in refused.json()["detail"]
    forbidden = client.post(f"/api/v1/notices/{notice_id}/resend", headers=owner.headers)
    assert forbidden.status_code == 403
    with database.unit() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 1

    fixed = client.patch(
        f"/api/v1/clients/{client_id}", headers=staff, json={"billing_email": "compta@lyon.fr"}
    )
    assert fixed.status_code == 200, fixed.text
    resent = client.post(f"/api/v1/notices/{notice_id}/resend", headers=staff)
    assert resent.status_code == 201, resent.text
    copy = resent.json()
    assert copy["id"] != notice_id and copy["state"] == "queued"
    assert copy["recipients"] == ["compta@lyon.fr"]
    assert copy["message_id"] != got.message["Message-ID"]
    first = notice_row(database, notice_id)
    assert copy["subject"] == first.subject and copy["body"] == first.body
    assert first.state == "bounced"
    detail = client.get(f"/api/v1/notices/{notice_id}", headers=staff).json()
    assert detail["resent_as"] == copy["id"]

    assert deliver_pass(database, smtp_settings).sent == [copy["id"]]
    second = smtp.received[-1]
    assert second.rcpt_tos == ["compta@lyon.fr"]
    assert second.mail_from == f"bounces+{copy['id']}@isstar.example"
    assert second.message["Message-ID"] == copy["message_id"]

    again = client.post(f"/api/v1/notices/{notice_id}/resend", headers=staff)
    assert again.status_code == 409 and copy["id"] in again.json()["detail"]
    not_bounced = client.post(f"/api/v1/notices/{copy['id']}/resend", headers=staff)
    assert not_bounced.status_code == 409 and "sent" in not_bounced.json()["detail"]
    with database.unit() as session:
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == notice_id)
        ).scalars()
        assert "notice.resend" in list(actions)
