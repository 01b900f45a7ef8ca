"""The one clock of nuages.

Every piece of code asks ``utc_now()`` for the time, so tests can move time with
``frozen_at`` instead of sleeping or patching import paths.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

UTC = dt.UTC

_lock = threading.Lock()
_frozen: dt.datetime | None = None


def utc_now() -> dt.datetime:
    """Return the current time as an aware UTC datetime (or the frozen one in tests)."""
    with _lock:
        if _frozen is not None:
            return _frozen
    return dt.datetime.now(UTC)


def set_now(moment: dt.datetime | None) -> None:
    """Freeze the clock at ``moment`` (aware), or unfreeze it with ``None``."""
    global _frozen
    if moment is not None:
        moment = ensure_aware(moment)
    with _lock:
        _frozen = moment


def advance(delta: dt.timedelta) -> dt.datetime:
    """Move a frozen clock forward by ``delta`` and return the new time."""
    global _frozen
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance() needs a frozen clock; call set_now() first")
        _frozen = _frozen + delta
        return _frozen


@contextlib.contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    """Freeze the clock at ``moment`` for the duration of the block."""
    previous = _frozen
    set_now(moment)
    try:
        yield
    finally:
        set_now(previous)


def ensure_aware(moment: dt.datetime) -> dt.datetime:
    """Return ``moment`` in UTC; refuse naive datetimes, whose zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)
