"""The portal's own rules: sign-in lockout, one-time forms, password-reset links.

Like every service these take a session and never commit; the pages call them in the
unit of the act they protect (a one-time form token is claimed in the transaction that
creates the VM, so a crash loses both or neither).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.models import User
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.portal.models import FormUse, ResetToken, SignInFailure

# Lockout (issue #12): after this many failed sign-ins for one address within the
# window, the address is refused for the rest of the window, right password or not.
MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
RESET_VALID = dt.timedelta(hours=1)


# ---------------------------------------------------------------- lockout


def _normal(email: str) -> str:
    return email.strip().lower()[:320]


def locked_until(session: Session, email: str) -> dt.datetime | None:
    """When the address may try again, if it is locked now."""
    since = utc_now() - WINDOW
    times = (
        session.execute(
            select(SignInFailure.at)
            .where(SignInFailure.email == _normal(email), SignInFailure.at > since)
            .order_by(SignInFailure.at.desc())
            .limit(MAX_FAILURES)
        )
        .scalars()
        .all()
    )
    if len(times) < MAX_FAILURES:
        return None
    # Locked until the oldest of the last MAX_FAILURES failures leaves the window.
    return min(times) + WINDOW


def record_failure(session: Session, email: str, address: str) -> dt.datetime | None:
    """Count a failed sign-in; return the end of the lockout it starts, if it does."""
    session.add(SignInFailure(email=_normal(email), address=address[:64], at=utc_now()))
    session.flush()
    # Old failures are of no use: keep the table small.
    session.execute(delete(SignInFailure).where(SignInFailure.at < utc_now() - 2 * WINDOW))
    return locked_until(session, email)


def clear_failures(session: Session, email: str) -> None:
    """A successful sign-in forgets the address's failures."""
    session.execute(delete(SignInFailure).where(SignInFailure.email == _normal(email)))


class AddressLimiter:
    """Sign-in attempts per client address, whatever the e-mail: a burst, then a steady
    rate (token bucket). Kept in memory: it slows a guesser; the lockout above (in the
    database) is the rule every process shares."""

    def __init__(self, burst: int = 10, per_second: float = 0.2) -> None:
        self.burst = burst
        self.per_second = per_second
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> float:
        """0 when an attempt from ``address`` may go on, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            if tokens < 1:
                self._buckets[address] = (tokens, now)
                return (1 - tokens) / self.per_second if self.per_second else 3600.0
            self._buckets[address] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle addresses
                self._buckets = {
                    key: value for key, value in self._buckets.items() if now - value[1] < 3600
                }
            return 0.0


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


def failures_count(session: Session, email: str) -> int:
    """Failures of an address in the window (for tests and the back-office)."""
    since = utc_now() - WINDOW
    return int(
        session.execute(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.email == _normal(email), SignInFailure.at > since)
        ).scalar_one()
    )
