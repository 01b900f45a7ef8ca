"""When a token was last used, written at most once a minute per token (17.1).

Writing ``last_used_at`` on every request made every read take the write lock; the
value is only a hint for people auditing their tokens, so a minute's resolution is
enough. Each process remembers what it wrote (no lock taken for a token seen less than
a minute ago) and the update itself is a compare-and-swap, so several processes
together still write at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from nuages.accounts.models import ApiToken

RESOLUTION = dt.timedelta(minutes=1)
_MAX_REMEMBERED = 100_000


class TokenUses:
    """A process's memory of the ``last_used_at`` values it wrote, by token id."""

    def __init__(self) -> None:
        self._written: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def due(self, token_id: str, now: dt.datetime) -> bool:
        """True (and remembered) when this process has not written the token's use in
        the last minute; the caller then writes it with ``record_use``."""
        with self._lock:
            last = self._written.get(token_id)
            if last is not None and last <= now < last + RESOLUTION:
                return False
            if len(self._written) >= _MAX_REMEMBERED:
                self._written.clear()
            self._written[token_id] = now
            return True


def record_use(session: Session, token_id: str, now: dt.datetime) -> bool:
    """Set the token's ``last_used_at`` to ``now`` unless it was set less than a minute
    ago (by any process); True when written. Not a state change: no history entry."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - RESOLUTION),
        )
        .values(last_used_at=now, updated_at=ApiToken.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
