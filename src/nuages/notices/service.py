"""Writing notices with the act they announce, and reading, retrying or resending them.

``queue`` runs inside the caller's transaction (an invoice issued, a dunning step, a
suspension…): the notice row commits or rolls back with the act. It never raises for a
notice that cannot be sent: a missing template variable, no valid recipient, is written
as a failed notice naming the reason, and the act goes on (issue #11).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client, User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import jobs
from nuages.kernel.clock import utc_now
from nuages.kernel.db import after_commit, new_id
from nuages.kernel.errors import Conflict, Forbidden, NotFound
from nuages.kernel.settings import get_settings
from nuages.notices.kinds import kind_of
from nuages.notices.models import Notice, NoticeAttempt, NoticeBounce
from nuages.notices.render import render

log = logging.getLogger("nuages.notices")


class State:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # A server accepted it, then a delivery status notification said a recipient's
    # mailbox refused it for good (notices/bounces.py).
    BOUNCED = "bounced"


ALL_STATES = (State.QUEUED, State.SENDING, State.SENT, State.FAILED, State.BOUNCED)
# A plain address: no display name, no spaces, no CR/LF (header injection), a dot in
# the domain. SMTP servers refuse the rest; refusing it here says why sooner.
ADDRESS = re.compile(
    r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


def recipients_for(
    session: Session, rule: str, client_id: str | None, user_id: str | None = None
) -> list[str]:
    """The addresses a rule names for a client (kinds.py): billing contact, every active
    owner, the designated Responsable (else every owner), the DPO (else every owner), or
    one user (``user_id``: the only rule that needs no client, so provider staff get
    their password-reset link this way)."""
    if rule == "user":
        email = session.execute(
            select(User.email).where(User.id == user_id, User.active.is_(True))
        ).scalar_one_or_none()
        return [email] if email else []
    if client_id is None:
        return []  # the other rules name a client's contacts
    if rule in ("billing", "dpo"):
        # ``get``: the act has usually loaded its client already (no statement then).
        client = session.get(Client, client_id)
        email = None if client is None else getattr(client, f"{rule}_email")
        if rule == "billing" or email:
            return [email] if email else []
    owners = session.execute(
        select(User.email, User.is_terms_decider)
        .where(
            User.client_id == client_id,
            User.role == Role.CLIENT_OWNER.value,
            User.active.is_(True),
        )
        .order_by(User.email)
    ).all()
    if rule == "responsable":
        designated = [email for email, decider in owners if decider]
        if designated:
            return designated
    return [email for email, _ in owners]


def _domain(sender: str) -> str:
    return sender.rpartition("@")[2] or "nuages.invalid"


def queue(
    session: Session,
    who: Actor,
    kind: str,
    *,
    client_id: str | None,
    object_type: str,
    object_id: str,
    context: dict[str, Any],
    key: str,
    contract_id: str | None = None,
    legal_ref: str = "",
    attachments: Sequence[dict[str, str]] = (),
    fresh_key: bool = False,
) -> Notice:
    """Write the notice of ``kind`` about an act, in the act's transaction; the same
    ``key`` twice returns the first notice. Delivery happens after commit.

    ``fresh_key``: the key names an object this transaction created (a document just
    issued), so no notice can have it yet and the look-up is skipped; the unique
    ``dedupe_key`` would still refuse a second one."""
    if not fresh_key:
        existing = session.execute(
            select(Notice).where(Notice.dedupe_key == key)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    spec = kind_of(kind)
    notice_id = new_id()
    recipients = recipients_for(session, spec.recipients, client_id, object_id)
    values = {"clause": spec.clause, "legal_ref": legal_ref, **context}
    state, error, subject, body = State.QUEUED, "", "", ""
    try:
        rendered = render(kind, values)
        subject, body = rendered.subject, rendered.body
    except TemplateError as exc:  # a missing variable: visible, nothing rolled back
        state, error = State.FAILED, f"template {kind}: {exc}"
        subject = f"({kind}: not rendered)"
    bad = [address for address in recipients if not ADDRESS.match(address)]
    if state == State.QUEUED and (bad or not recipients):
        state = State.FAILED
        error = (
            f"invalid recipient address {bad[0]!r}"
            if bad
            else f"no recipient: the client has no {spec.recipients} contact"
        )
    notice = Notice(
        id=notice_id,
        kind=kind,
        clause=spec.clause,
        client_id=client_id,
        contract_id=contract_id,
        object_type=object_type,
        object_id=object_id,
        dedupe_key=key,
        scope=spec.scope,
        language="fr",
        recipients=json.dumps(recipients),
        subject=subject,
        body=body,
        attachments=json.dumps(list(attachments)),
        legal_ref=legal_ref,
        message_id=f"<{notice_id}@{_domain(get_settings().mail_from)}>",
        state=state,
        attempts=0,
        next_attempt_at=utc_now(),
        last_error=error[:500],
    )
    # Written by the act's next flush or its commit (the unique ``dedupe_key`` refuses
    # a second one there, in the same transaction).
    session.add(notice)
    history.record(
        session,
        who,
        object_type="notice",
        object_id=notice.id,
        action="notice.queue" if state == State.QUEUED else "notice.fail",
        params={"kind": kind, "about": f"{object_type}:{object_id}", "recipients": recipients},
        client_id=client_id,
        outcome="ok" if state == State.QUEUED else f"failed: {error}"[:500],
        scope=spec.scope,
    )
    if state == State.QUEUED:
        after_commit(session, _wake_worker)
    return notice


_last_wake = [0.0]
WAKE_EVERY = 1.0  # seconds: an invoicing run of 10,000 contracts asks for a few passes


def _wake_worker() -> None:
    """Ask for a delivery pass: "immediately" means within one pass (issue #11). At most
    one a second per process (one pass sends every notice due): within the second after
    a pass was asked for, one more is scheduled a second later, so none waits longer."""
    now = time.monotonic()
    since = now - _last_wake[0]
    if since < 0:  # a pass is already scheduled for later
        return
    try:
        if since < WAKE_EVERY:
            _last_wake[0] = now + WAKE_EVERY
            jobs.deliver("notices_deliver_soon")
        else:
            _last_wake[0] = now
            jobs.deliver("notices_deliver")
    except Exception:  # the periodic pass delivers it anyway
        log.warning("could not ask for a delivery pass now; the next one sends it")


# ---------------------------------------------------------------- reading


def _readable(actor: Principal) -> Select[Notice]:
    actor.require(Scope.READ)
    scopes = ["read"] + (["billing"] if actor.has(Scope.BILLING) else [])
    stmt = select(Notice).where(Notice.scope.in_(scopes))
    if not actor.is_staff:
        stmt = stmt.where(Notice.client_id == actor.client_id)
    return stmt


def list_notices(
    actor: Principal, *, state: str | None = None, client_id: str | None = None
) -> Select[Notice]:
    """The notices the actor may read (clients: their own; members: not the money
    ones, 000 §5), newest first."""
    stmt = _readable(actor)
    if state is not None:
        stmt = stmt.where(Notice.state == state)
    if client_id is not None:
        stmt = stmt.where(Notice.client_id == client_id)
    return stmt.order_by(Notice.created_at.desc(), Notice.id)


def get_notice(session: Session, actor: Principal, notice_id: str) -> Notice:
    """One notice (404 for another client's or one the token may not read)."""
    found = session.execute(_readable(actor).where(Notice.id == notice_id)).scalar_one_or_none()
    if found is None:
        raise NotFound("no such notice")
    return found


def attempts_of(session: Session, notice_id: str) -> list[NoticeAttempt]:
    return list(
        session.execute(
            select(NoticeAttempt)
            .where(NoticeAttempt.notice_id == notice_id)
            .order_by(NoticeAttempt.at, NoticeAttempt.id)
        ).scalars()
    )


def retry(session: Session, actor: Principal, notice_id: str) -> Notice:
    """Staff put a failed notice back in the outbox (after fixing the address or the
    server). Refused when a server already accepted it: never sent twice."""
    notice = get_notice(session, actor, notice_id)  # another client's: 404, never 403
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff retry a notice")
    if notice.state == State.BOUNCED:
        raise Conflict(
            "a server accepted this notice and it bounced afterwards: it is not sent again "
            f"by itself; {notice.alert or notice.last_error}"
        )
    if notice.state != State.FAILED:
        raise Conflict(f"only a failed notice is retried; this one is {notice.state}")
    accepted = any(a.outcome == "accepted" for a in attempts_of(session, notice.id))
    if accepted:
        raise Conflict("a server already accepted this notice: it is not sent again")
    if notice.subject.endswith(": not rendered)"):
        raise Conflict(f"the notice cannot be rendered: {notice.last_error}")
    recipients = recipients_for(
        session, kind_of(notice.kind).recipients, notice.client_id, notice.object_id
    )
    if recipients and all(ADDRESS.match(r) for r in recipients):
        notice.recipients = json.dumps(recipients)  # the address may have been fixed since
    notice.state = State.QUEUED
    notice.phase = None
    notice.next_attempt_at = utc_now()
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="notice",
        object_id=notice.id,
        action="notice.retry",
        params={"kind": notice.kind, "previous_error": notice.last_error},
        client_id=notice.client_id,
        scope=notice.scope,
    )
    after_commit(session, _wake_worker)
    return notice


RESEND_KEY = "resend:{notice_id}"


def resent_as(session: Session, notice_id: str) -> Notice | None:
    """The copy staff sent after ``notice_id`` bounced, if any (one per notice)."""
    key = RESEND_KEY.format(notice_id=notice_id)
    return session.execute(select(Notice).where(Notice.dedupe_key == key)).scalar_one_or_none()


def resent_among(session: Session, notice_ids: Sequence[str]) -> set[str]:
    """Which of ``notice_ids`` were already resent (one query, for a page of them)."""
    if not notice_ids:
        return set()
    keys = {RESEND_KEY.format(notice_id=i): i for i in notice_ids}
    found = session.execute(select(Notice.dedupe_key).where(Notice.dedupe_key.in_(keys)))
    return {keys[k] for k in found.scalars()}


def resend(session: Session, actor: Principal, notice_id: str) -> Notice:
    """Staff send a bounced notice again, once the client's address is corrected.

    A bounced notice is never re-queued itself: a server accepted it under its
    Message-ID, and a notice is never sent twice under one. The copy is a new notice
    (same kind, clause, subject, body and attachments; its own Message-ID and bounce
    address) to the recipients as they stand now. Refused while a recipient that
    bounced for good is still among them (it would bounce again), and when the notice
    was already resent (the copy is the one to resend if it bounces too). The bounced
    notice keeps its state and its record; its alert is closed by the copy."""
    original = get_notice(session, actor, notice_id)  # another client's: 404, never 403
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff resend a notice")
    if original.state != State.BOUNCED:
        hint = " (a failed notice is retried: POST …/retry)" if original.state == "failed" else ""
        raise Conflict(f"only a bounced notice is resent; this one is {original.state}{hint}")
    already = resent_as(session, original.id)
    if already is not None:
        raise Conflict(f"this notice was already resent as notice {already.id} ({already.state})")
    bounced = {
        r.lower()
        for r in session.execute(
            select(NoticeBounce.recipient).where(
                NoticeBounce.notice_id == original.id, NoticeBounce.permanent
            )
        ).scalars()
    }
    spec = kind_of(original.kind)
    recipients = recipients_for(session, spec.recipients, original.client_id, original.object_id)
    if not recipients:
        raise Conflict(f"the client has no {spec.recipients} contact to send the notice to")
    bad = [r for r in recipients if not ADDRESS.match(r)]
    if bad:
        raise Conflict(f"invalid recipient address {bad[0]!r}: correct the contact first")
    still = sorted(r for r in recipients if r.lower() in bounced)
    if still:
        raise Conflict(
            f"{still[0]} bounced for good: correct the client's {spec.recipients} contact "
            "before resending"
        )
    copy_id = new_id()
    copy = Notice(
        id=copy_id,
        kind=original.kind,
        clause=original.clause,
        client_id=original.client_id,
        contract_id=original.contract_id,
        object_type=original.object_type,
        object_id=original.object_id,
        dedupe_key=RESEND_KEY.format(notice_id=original.id),
        scope=original.scope,
        language=original.language,
        recipients=json.dumps(recipients),
        subject=original.subject,
        body=original.body,
        attachments=original.attachments,
        legal_ref=original.legal_ref,
        message_id=f"<{copy_id}@{_domain(get_settings().mail_from)}>",
        state=State.QUEUED,
        attempts=0,
        next_attempt_at=utc_now(),
        last_error="",
    )
    session.add(copy)
    closed_alert = original.alert
    original.alert = ""
    session.flush()
    for object_id, action, params in (
        (original.id, "notice.resend", {"copy": copy.id, "alert": closed_alert}),
        (copy.id, "notice.queue", {"kind": copy.kind, "resend_of": original.id}),
    ):
        history.record(
            session,
            actor.actor,
            object_type="notice",
            object_id=object_id,
            action=action,
            params={**params, "recipients": recipients},
            client_id=original.client_id,
            scope=original.scope,
        )
    after_commit(session, _wake_worker)
    return copy
