"""The portal's own rules: one-time forms and password-reset links (the sign-in
lockout is the accounts slice's, shared with the API: ``accounts.lockout``).

Like every service these take a session and never commit; the pages call them in the
unit of the act they protect (a one-time form token is claimed in the transaction that
creates the VM, so a crash loses both or neither).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.models import User
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.portal.models import FormUse, ResetToken

RESET_VALID = dt.timedelta(hours=1)


# ---------------------------------------------------------------- one-time forms


def new_once() -> str:
    """A fresh one-time token for a form."""
    return secrets.token_urlsafe(24)


class AlreadySent(Exception):
    """This form was already submitted; ``result_url`` shows what the first did."""

    def __init__(self, result_url: str) -> None:
        super().__init__(result_url)
        self.result_url = result_url


def claim(session: Session, user_id: str, once: str, result_url: str = "") -> FormUse:
    """Take a form's one-time token for this act; AlreadySent when it was taken (by an
    earlier or a concurrent submission of the same form: the unique index decides)."""
    if not once or len(once) > 64:
        raise AlreadySent("")
    found = session.execute(select(FormUse).where(FormUse.once == once)).scalar_one_or_none()
    if found is not None:
        raise AlreadySent(found.result_url if found.user_id == user_id else "")
    use = FormUse(once=once, user_id=user_id, result_url=result_url[:300], at=utc_now())
    try:
        with session.begin_nested():
            session.add(use)
            session.flush()
    except IntegrityError:
        raise AlreadySent("") from None
    return use


def set_result(use: FormUse, result_url: str) -> None:
    """Where a second submission of the form is sent (the VM created by the first)."""
    use.result_url = result_url[:300]


# ---------------------------------------------------------------- password reset


def digest_of(token: str) -> str:
    """SHA-256 hex digest of a reset token (what is stored, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset(session: Session, user: User) -> str:
    """A reset token for ``user`` (valid one hour, once); earlier unused ones are
    dropped so one link is valid at a time."""
    session.execute(
        delete(ResetToken).where(ResetToken.user_id == user.id, ResetToken.used_at.is_(None))
    )
    token = secrets.token_urlsafe(32)
    now = utc_now()
    session.add(ResetToken(user_id=user.id, digest=digest_of(token), expires_at=now + RESET_VALID))
    session.flush()
    history.record(
        session,
        history.Actor(user.id, user.email),
        object_type="user",
        object_id=user.id,
        action="user.password_reset_asked",
        params={"expires_at": (now + RESET_VALID).isoformat()},
        client_id=user.client_id,
    )
    return token


def take_reset(session: Session, token: str) -> str | None:
    """The user id of a valid reset token, which is used up; None when unknown,
    expired or used (a compare-and-swap: two tabs cannot both use it)."""
    row = session.execute(
        select(ResetToken).where(ResetToken.digest == digest_of(token))
    ).scalar_one_or_none()
    now = utc_now()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    done = session.execute(
        update(ResetToken)
        .where(ResetToken.id == row.id, ResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return row.user_id


def reset_valid(session: Session, token: str) -> bool:
    """Whether a reset link may still be used (the form is shown only then)."""
    row = session.execute(
        select(ResetToken.expires_at, ResetToken.used_at).where(
            ResetToken.digest == digest_of(token)
        )
    ).first()
    return row is not None and row.used_at is None and row.expires_at > utc_now()
