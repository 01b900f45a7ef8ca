"""The delivery worker: one pass hands every due notice of the outbox to the mailer.

Exactly once (issue #11): before each attempt the notice is claimed (``queued`` →
``sending``, a compare-and-swap committed before any byte leaves) and its Message-ID
checked (an accepted attempt on record, or the file drop's file, means sent). Just
before the message itself is handed over, the phase ``data`` is committed. A worker
killed before that phase left nothing with the server: the next pass sends it. One
killed after it may have been accepted: the notice fails visibly ("outcome unknown")
for staff to check the server's log and retry; it is never resent by guess.

Faults: a server down, slow (timeout) or answering 4xx defers the notice with backoff
(``notice_backoff_seconds`` × 2^(attempt-1)); 5xx or every recipient refused fails it
for good; after ``notice_max_attempts`` deferrals it fails. Nothing else is touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select, update

from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import jobs
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices import attachments
from nuages.notices.dsn import verp_address
from nuages.notices.kinds import KINDS
from nuages.notices.mailer import FileDropMailer, Mailer, Outcome, Result, SmtpMailer
from nuages.notices.models import Notice, NoticeAttempt
from nuages.notices.service import State

log = logging.getLogger("nuages.notices")
HIGH_IMPORTANCE_HEADERS = (
    ("Importance", "high"),
    ("Priority", "urgent"),
    ("X-Priority", "1 (Highest)"),
    ("X-MSMail-Priority", "High"),
    ("X-Message-Flag", "Suivi immédiat / Immediate follow-up"),
)
WORKER = Actor.system("notices")
# A claim older than this is a dead worker's (a live one finishes within the timeout).
LEASE_FLOOR = dt.timedelta(minutes=5)


@dataclasses.dataclass
class PassReport:
    sent: list[str] = dataclasses.field(default_factory=list)
    deferred: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    recovered: list[str] = dataclasses.field(default_factory=list)


def build_message(database: Database, notice: Notice, sender: str) -> EmailMessage:
    """The e-mail of a notice, the same bytes on every attempt but the Date header."""
    message = EmailMessage()
    message["Message-ID"] = notice.message_id
    message["From"] = sender
    message["To"] = ", ".join(json.loads(notice.recipients))
    message["Subject"] = notice.subject
    message["Date"] = format_datetime(notice.created_at)
    message["X-Nuages-Notice"] = f"{notice.kind} {notice.id} ({notice.clause})"
    spec = KINDS.get(notice.kind)  # a kind removed since the notice was written: plain
    if spec is not None and spec.importance == "high":
        # 001 §16.7 (ii): "haute importance" and "suivi immédiat", in the headers every
        # common client reads (RFC 2156 Importance/Priority, X-Priority, Outlook's flag).
        for name, value in HIGH_IMPORTANCE_HEADERS:
            message[name] = value
    message.set_content(notice.body)
    for ref in json.loads(notice.attachments):
        data, maintype, subtype = attachments.load(database, ref)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=ref["filename"])
    return message


def _lease(settings: Settings) -> dt.timedelta:
    return max(LEASE_FLOOR, dt.timedelta(seconds=settings.smtp_timeout * 4))


def recover(database: Database, settings: Settings, now: dt.datetime) -> list[str]:
    """Notices a dead worker left ``sending``: back to the outbox when nothing was handed
    over yet, failed ("outcome unknown") when the message itself was on its way."""
    out = []
    with database.unit() as session:
        stale = session.execute(
            select(Notice)
            .where(Notice.state == State.SENDING, Notice.claimed_at < now - _lease(settings))
            .with_for_update()
        ).scalars()
        for notice in list(stale):
            uncertain = notice.phase == "data"
            reply = (
                f"worker stopped while the message was handed over: the server may have "
                f"accepted it; check its log for Message-ID {notice.message_id} before a retry"
                if uncertain
                else "worker stopped before the message was handed over: nothing sent"
            )
            session.add(
                NoticeAttempt(
                    notice_id=notice.id,
                    at=now,
                    mailer="-",
                    outcome="interrupted",
                    reply=reply[:500],
                )
            )
            notice.state = State.FAILED if uncertain else State.QUEUED
            notice.phase = None
            notice.last_error = reply[:500]
            history.record(
                session,
                WORKER,
                object_type="notice",
                object_id=notice.id,
                action="notice.interrupted",
                params={"kind": notice.kind, "message_id": notice.message_id},
                client_id=notice.client_id,
                outcome=("failed: " if uncertain else "requeued: ") + reply[:200],
                scope=notice.scope,
            )
            out.append(notice.id)
    return out


def _claim(database: Database, notice_id: str, now: dt.datetime) -> bool:
    with database.unit() as session:
        done = session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.state == State.QUEUED)
            .values(state=State.SENDING, phase="connect", claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _phase_data(database: Database, notice_id: str) -> None:
    with database.unit() as session:
        session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.state == State.SENDING)
            .values(phase="data")
            .execution_options(synchronize_session=False)
        )


def _already_accepted(database: Database, notice: Notice, mailer: Mailer) -> bool:
    with database.unit() as session:
        on_record = session.execute(
            select(NoticeAttempt.id).where(
                NoticeAttempt.notice_id == notice.id, NoticeAttempt.outcome == "accepted"
            )
        ).first()
    return on_record is not None or mailer.already_sent(notice.message_id)


def _settle(
    database: Database,
    settings: Settings,
    notice_id: str,
    mailer: Mailer,
    result: Result,
    now: dt.datetime,
) -> str:
    with database.unit() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        notice.attempts += 1
        notice.phase = None
        session.add(
            NoticeAttempt(
                notice_id=notice.id,
                at=now,
                mailer=mailer.name,
                outcome=result.outcome.value,
                code=result.code,
                reply=result.reply[:500],
            )
        )
        if result.outcome is Outcome.ACCEPTED:
            notice.state, notice.sent_at, notice.last_error = State.SENT, now, ""
            action, outcome = "notice.send", "ok"
            follow_up = KINDS[notice.kind].on_sent if notice.kind in KINDS else None
            if follow_up is not None:
                jobs.enqueue(session, follow_up, notice.id)
        elif result.outcome is Outcome.DEFERRED and notice.attempts < settings.notice_max_attempts:
            delay = settings.notice_backoff_seconds * 2 ** (notice.attempts - 1)
            notice.state = State.QUEUED
            notice.next_attempt_at = now + dt.timedelta(seconds=delay)
            notice.last_error = f"deferred: {result.code or '-'} {result.reply}"[:500]
            action, outcome = "notice.defer", notice.last_error
        else:
            notice.state = State.FAILED
            why = "refused" if result.outcome is Outcome.REFUSED else "gave up after retries"
            notice.last_error = f"{why}: {result.code or '-'} {result.reply}"[:500]
            action, outcome = "notice.fail", f"failed: {notice.last_error}"
        history.record(
            session,
            WORKER,
            object_type="notice",
            object_id=notice.id,
            action=action,
            params={
                "kind": notice.kind,
                "message_id": notice.message_id,
                "attempt": notice.attempts,
                "mailer": mailer.name,
                "code": result.code,
            },
            client_id=notice.client_id,
            outcome=outcome[:500],
            scope=notice.scope,
        )
        return notice.state


def deliver_one(
    database: Database, settings: Settings, mailer: Mailer, notice_id: str, now: dt.datetime
) -> str | None:
    """Deliver one due notice; its new state, or None when another worker has it."""
    if not _claim(database, notice_id, now):
        return None
    with database.unit() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        session.expunge(notice)
    if _already_accepted(database, notice, mailer):
        result = Result(Outcome.ACCEPTED, None, f"already sent: {notice.message_id} found")
    else:
        try:
            message = build_message(database, notice, settings.mail_from)
        except Exception as exc:  # an attachment that cannot be built: visible, retried
            log.exception("notice %s: building the message failed", notice_id)
            result = Result(Outcome.DEFERRED, None, f"message not built: {exc}"[:500])
        else:
            recipients = json.loads(notice.recipients)
            # VERP: the bounce of this notice comes back to its own address (dsn.py), so
            # it is found even when the DSN's body is mangled.
            bounce_to = (
                verp_address(notice.id, settings.effective_bounce_domain)
                if settings.bounce_verp
                else None
            )
            result = mailer.send(
                message, recipients, lambda: _phase_data(database, notice_id), bounce_to
            )
    return _settle(database, settings, notice_id, mailer, result, now)


def deliver_pass(
    database: Database,
    settings: Settings,
    mailer: Mailer | None = None,
    *,
    limit: int = 500,
    after_each: Callable[[str, str], None] | None = None,
) -> PassReport:
    """One pass over the outbox: recover dead claims, then send every due notice."""
    from nuages.notices.mailer import mailer_for

    mailer = mailer or mailer_for(settings)
    now = utc_now()
    report = PassReport(recovered=recover(database, settings, now))
    with database.unit() as session:
        due = list(
            session.execute(
                select(Notice.id)
                .where(Notice.state == State.QUEUED, Notice.next_attempt_at <= now)
                .order_by(Notice.next_attempt_at, Notice.created_at, Notice.id)
                .limit(limit)
            ).scalars()
        )
    for notice_id in due:
        state = deliver_one(database, settings, mailer, notice_id, utc_now())
        if state == State.SENT:
            report.sent.append(notice_id)
        elif state == State.QUEUED:
            report.deferred.append(notice_id)
        elif state == State.FAILED:
            report.failed.append(notice_id)
        if after_each is not None and state is not None:
            after_each(notice_id, state)
    return report


def describe(mailer: SmtpMailer | FileDropMailer) -> str:
    return mailer.describe()
