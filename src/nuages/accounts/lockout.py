"""Failed sign-ins: the lockout rule shared by the portal's sign-in form and
``POST /api/v1/auth/token`` (issue #12: "a lockout after repeated failures").

Two guards, the same on both routes:

- per e-mail address (in the database, so every process shares it): after
  ``MAX_FAILURES`` failures within ``WINDOW`` the address is refused until the oldest
  of them leaves the window, right password or not; a successful sign-in forgets them;
- per client address (in memory, per process): failed attempts are a token bucket (a
  burst, then a steady rate), which slows a guesser trying many e-mails.

A refusal is ``SignInLocked`` (429) carrying ``retry_after`` seconds: the API answers
with a ``Retry-After`` header, the portal with the time in words. The failure is
written in the caller's unit, which must commit even though the sign-in failed
(``attempt`` returns the outcome instead of raising for that reason).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from nuages.accounts import schemas
from nuages.accounts import service as accounts
from nuages.accounts.models import ApiToken
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin
from nuages.kernel.errors import NuagesError, Unauthenticated

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)


class SignInFailure(IdMixin, Base):
    """One failed sign-in for an e-mail address (known or not: the lockout never tells
    which addresses exist). The table keeps the portal's name: it was made there."""

    __tablename__ = "portal_sign_in_failures"

    email: Mapped[str] = mapped_column(String(320), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utc_now, index=True)


class SignInLocked(NuagesError):
    """Too many failed sign-ins: for this e-mail address (locked until ``until``) or
    from this client address; ``retry_after`` is in seconds."""

    status = 429
    slug = "sign-in-locked"
    title = "Too many failed sign-ins"

    def __init__(self, detail: str, retry_after: int, until: dt.datetime | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after
        self.until = until


def normal(email: str) -> str:
    return email.strip().lower()[:320]


def locked_until(session: Session, email: str) -> dt.datetime | None:
    """When the address may try again, if it is locked now."""
    since = utc_now() - WINDOW
    times = (
        session.execute(
            select(SignInFailure.at)
            .where(SignInFailure.email == normal(email), SignInFailure.at > since)
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
    session.add(SignInFailure(email=normal(email), address=address[:64], at=utc_now()))
    session.flush()
    # Old failures are of no use: keep the table small.
    session.execute(delete(SignInFailure).where(SignInFailure.at < utc_now() - 2 * WINDOW))
    return locked_until(session, email)


def clear_failures(session: Session, email: str) -> None:
    """A successful sign-in forgets the address's failures."""
    session.execute(delete(SignInFailure).where(SignInFailure.email == normal(email)))


def failures_count(session: Session, email: str) -> int:
    """Failures of an address in the window (for tests and the back-office)."""
    since = utc_now() - WINDOW
    return int(
        session.execute(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.email == normal(email), SignInFailure.at > since)
        ).scalar_one()
    )


class AddressLimiter:
    """Attempts per client address, whatever the e-mail: a burst, then a steady rate
    (token bucket). Kept in memory: it slows a guesser; the lockout above (in the
    database) is the rule every process shares."""

    def __init__(self, burst: int = 10, per_second: float = 0.2) -> None:
        self.burst = burst
        self.per_second = per_second
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_second)

    def wait(self, address: str) -> float:
        """0 when ``address`` may try now, else the seconds to wait (nothing spent)."""
        with self._lock:
            tokens = self._level(address, time.monotonic())
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / self.per_second if self.per_second else 3600.0

    def spend(self, address: str) -> None:
        """Count one attempt from ``address``."""
        now = time.monotonic()
        with self._lock:
            self._buckets[address] = (max(0.0, self._level(address, now) - 1), now)
            if len(self._buckets) > 10_000:  # forget idle addresses
                self._buckets = {
                    key: value for key, value in self._buckets.items() if now - value[1] < 3600
                }

    def allow(self, address: str) -> float:
        """Spend one attempt when allowed: 0, else the seconds to wait (nothing spent)."""
        wait = self.wait(address)
        if not wait:
            self.spend(address)
        return wait


def limiter_of(state: Any, name: str = "sign_in_limiter") -> AddressLimiter:
    """The process's limiter kept on the application's state (one per purpose)."""
    limiter: AddressLimiter | None = getattr(state, name, None)
    if limiter is None:
        limiter = AddressLimiter()
        setattr(state, name, limiter)
    return limiter


@dataclass
class Attempt:
    """A sign-in's outcome: the token, or the failure (``locked_until`` when this
    failure started a lockout)."""

    token: ApiToken | None = None
    clear: str = ""
    failed: NuagesError | None = None
    locked_until: dt.datetime | None = None


def _seconds_until(moment: dt.datetime) -> int:
    return max(1, math.ceil((moment - utc_now()).total_seconds()))


def locked_error(until: dt.datetime) -> SignInLocked:
    return SignInLocked(
        f"too many failed sign-ins for this address: locked until {until.isoformat()}",
        retry_after=_seconds_until(until),
        until=until,
    )


def attempt(
    session: Session, data: schemas.Login, address: str, limiter: AddressLimiter
) -> Attempt:
    """Sign in under both guards. Raises ``SignInLocked`` when refused before checking
    the password (nothing written); a wrong password is returned as ``failed`` with the
    failure recorded in ``session``, which the caller commits."""
    wait = limiter.wait(address)
    if wait:
        raise SignInLocked(
            f"too many failed sign-ins from your address; retry in {math.ceil(wait)} s",
            retry_after=math.ceil(wait),
        )
    until = locked_until(session, data.email)
    if until is not None:
        raise locked_error(until)
    try:
        with session.begin_nested():
            token, clear = accounts.login(session, data)
    except Unauthenticated as exc:
        limiter.spend(address)
        return Attempt(failed=exc, locked_until=record_failure(session, data.email, address))
    clear_failures(session, data.email)
    return Attempt(token=token, clear=clear)
