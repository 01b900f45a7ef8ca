"""Bounce intake: a bounce that arrives after the relay accepted a notice (a delivery
status notification, RFC 3464) is recorded on that notice, per recipient (issue #11:
"a bounced or refused message is visible to staff").

- a permanent failure (``Action: failed``, or a 5.x.x status without an action) turns
  the notice ``bounced`` with the recipient, status and diagnostic in ``last_error``
  and a ``notice.bounce`` history entry; a **legal** notice (an invoice, a formal
  notice, a terms change…: ``Kind.legal`` in notices/kinds.py) also gets an ``alert``
  saying how to send it another way, logged as a warning for the operator's monitoring;
- a delay (``Action: delayed``, 4.x.x) is recorded (``notice.delay``), the notice stays
  sent: the relay is still trying;
- the same DSN twice (its Message-ID, else its bytes) is recorded once;
- a message that names no notice of ours, or is no DSN at all, is kept
  (``notice_bounce_mail``, outcome ``unknown`` / ``unparsable``) for staff to read.

``intake`` never raises for what the message contains; only a database failure
escapes (the SMTP listener then answers 451, so the MX retries; the Maildir reader
leaves the file for the next run). Intake paths: ``notices/bounce_intake.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import jobs
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.notices import dsn
from nuages.notices.kinds import KINDS
from nuages.notices.models import BounceMail, Notice, NoticeBounce
from nuages.notices.service import State

log = logging.getLogger("nuages.notices.bounces")
INTAKE = Actor.system("notices-bounces")
RAW_LIMIT = 1 << 20  # what is kept of a message (a DSN is a few KiB; a loop is not)


def is_legal(kind: str) -> bool:
    """Whether a notice of ``kind`` is a legal act (``Kind.legal`` in notices/kinds.py):
    a bounce of one alerts staff to send it another way. A kind this code no longer
    knows is treated as legal: an alert too many costs a look, one too few a deadline."""
    found = KINDS.get(kind)
    return found is None or found.legal


@dataclasses.dataclass(frozen=True)
class Intake:
    outcome: str  # matched | unknown | unparsable | duplicate
    mail_id: str | None
    notice_id: str | None
    failed: tuple[str, ...] = ()
    delayed: tuple[str, ...] = ()
    detail: str = ""


def _find_notice(session: Session, report: dsn.Report) -> Notice | None:
    for token in (*report.tokens, report.notice_header):
        if token:
            found = session.get(Notice, token)
            if found is not None:
                return found
    if report.original_message_id:
        return session.execute(
            select(Notice).where(Notice.message_id == report.original_message_id)
        ).scalar_one_or_none()
    return None


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def alert_text(session: Session, notice: Notice, bounce: NoticeBounce) -> str:
    """What staff need to get a bounced legal notice to the client another way."""
    client = session.get(Client, notice.client_id)
    where = ""
    if client is not None:
        postal = ", ".join(
            p
            for p in (client.address_line1, client.address_line2, client.postcode, client.city)
            if p
        )
        where = f"{client.legal_name}" + (f", {postal}" if postal else "") + f" ({client.country})"
    return (
        f"legal notice {notice.kind} ({notice.clause}) bounced for {bounce.recipient or '?'}: "
        f"{bounce.status or '-'} {bounce.diagnostic}. The client may not have received it: "
        f"send it another way (registered letter to {where or 'the client'}, or another "
        f"contact of the client), correct the address, and record how it was sent."
    )[:1000]


def _record(
    session: Session, notice: Notice, mail: BounceMail, report: dsn.Report
) -> tuple[list[str], list[str]]:
    failed, delayed = [], []
    known = [r.lower() for r in json.loads(notice.recipients)]
    for item in report.recipients:
        recipient = item.recipient or (", ".join(known) if item.guessed else "")
        key = _key(notice.id, recipient, item.action or item.status, report.dsn_id)
        exists = session.execute(
            select(NoticeBounce.id).where(NoticeBounce.dedupe_key == key)
        ).first()
        if exists is not None:
            continue
        bounce = NoticeBounce(
            notice_id=notice.id,
            mail_id=mail.id,
            dedupe_key=key,
            at=mail.received_at,
            recipient=recipient[:254],
            action=item.action or ("failed" if item.permanent else "delayed"),
            status=item.status,
            permanent=item.permanent,
            diagnostic=item.diagnostic[:500],
            remote_mta=item.remote_mta[:200],
            reporting_mta=report.reporting_mta[:200],
            guessed=item.guessed,
        )
        session.add(bounce)
        session.flush()
        if bounce.action in ("delivered", "relayed", "expanded"):
            continue  # a success report (NOTIFY=SUCCESS): nothing to do
        reason = f"{bounce.recipient}: {bounce.status or '-'} {bounce.diagnostic}".strip()
        if bounce.permanent:
            failed.append(bounce.recipient)
            if notice.state in (State.SENT, State.FAILED, State.BOUNCED):
                notice.state = State.BOUNCED
            notice.last_error = f"bounced: {reason}"[:500]
            follow_up = KINDS[notice.kind].on_bounced if notice.kind in KINDS else None
            if follow_up is not None:
                jobs.enqueue(session, follow_up, notice.id)
            if is_legal(notice.kind):
                notice.alert = alert_text(session, notice, bounce)
                log.warning("notice %s: %s", notice.id, notice.alert)
        else:
            delayed.append(bounce.recipient)
        history.record(
            session,
            INTAKE,
            object_type="notice",
            object_id=notice.id,
            action="notice.bounce" if bounce.permanent else "notice.delay",
            params={
                "kind": notice.kind,
                "message_id": notice.message_id,
                "recipient": bounce.recipient,
                "status": bounce.status,
                "reporting_mta": bounce.reporting_mta,
                "legal_alert": bool(bounce.permanent and is_legal(notice.kind)),
                "guessed": bounce.guessed,
            },
            client_id=notice.client_id,
            outcome=(f"failed: bounced {reason}" if bounce.permanent else f"delayed {reason}")[
                :500
            ],
            scope=notice.scope,
        )
    session.flush()
    return failed, delayed


def intake(
    database: Database,
    raw: bytes,
    *,
    domain: str,
    source: str,
    envelope_rcpts: tuple[str, ...] = (),
) -> Intake:
    """Record one received bounce message (see the module docstring)."""
    report = dsn.parse(raw, envelope_rcpts=envelope_rcpts, domain=domain)
    try:
        with database.unit() as session:
            return _intake(session, raw, report, source, envelope_rcpts)
    except IntegrityError:
        # The same DSN arrived twice at once (listener and Maildir): the other one won.
        return Intake("duplicate", None, None, detail=f"already received: {report.dsn_id}")


def _intake(
    session: Session,
    raw: bytes,
    report: dsn.Report,
    source: str,
    envelope_rcpts: tuple[str, ...],
) -> Intake:
    seen = session.execute(
        select(BounceMail.id, BounceMail.notice_id).where(BounceMail.dsn_key == report.dsn_id)
    ).first()
    if seen is not None:
        return Intake("duplicate", seen[0], seen[1], detail=f"already received: {report.dsn_id}")
    notice = _find_notice(session, report)
    if notice is not None:
        outcome = "matched"
        detail = report.problem or f"{len(report.recipients)} recipient report(s)"
    elif report.problem:
        outcome, detail = "unparsable", report.problem
    else:
        outcome = "unknown"
        detail = "a delivery status notification naming no notice of this installation"
    mail = BounceMail(
        dsn_key=report.dsn_id,
        received_at=utc_now(),
        source=source,
        envelope_to=", ".join(envelope_rcpts)[:500],
        sender=report.sender,
        subject=report.subject,
        outcome=outcome,
        notice_id=notice.id if notice is not None else None,
        detail=detail[:500],
        size=len(raw),
        raw=raw[:RAW_LIMIT],
    )
    session.add(mail)
    session.flush()
    if notice is None:
        history.record(
            session,
            INTAKE,
            object_type="bounce_mail",
            object_id=mail.id,
            action=f"notice.bounce_mail.{outcome}",
            params={"source": source, "subject": report.subject, "from": report.sender},
            outcome=detail[:500],
        )
        return Intake(outcome, mail.id, None, detail=detail)
    failed, delayed = _record(session, notice, mail, report)
    return Intake(outcome, mail.id, notice.id, tuple(failed), tuple(delayed), detail)


# ---------------------------------------------------------------- reading (staff)


def bounces_of(session: Session, notice_id: str) -> list[NoticeBounce]:
    """The recipient reports of one notice, oldest first (the notice is already
    checked readable by the caller)."""
    return list(
        session.execute(
            select(NoticeBounce)
            .where(NoticeBounce.notice_id == notice_id)
            .order_by(NoticeBounce.at, NoticeBounce.id)
        ).scalars()
    )


def list_mail(actor: Principal, outcome: str | None = None) -> Select[BounceMail]:
    """Staff: the messages received at the bounce address, newest first (``unknown`` and
    ``unparsable`` ones are kept for them to read). A client's users see none of them
    (raw mail of the provider's mailbox; their notices show their own bounces)."""
    actor.require(Scope.READ)
    stmt = select(BounceMail)
    if not actor.is_staff:
        stmt = stmt.where(false())
    if outcome is not None:
        stmt = stmt.where(BounceMail.outcome == outcome)
    return stmt.order_by(BounceMail.received_at.desc(), BounceMail.id)
