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


def not_in_future(field: str, when: dt.date | dt.datetime) -> None:
    """Refuse ``when`` (``ValidationFailed``) if it is after now (a day after today, UTC).

    Runs, dunning, metering and payments happen "as of now": a past date catches up
    work that was missed, a future one would close periods that have not ended or
    charge what has not happened (issues 9.3, 17.8). One rule for the API, the CLI
    and the jobs, so they agree. ``field`` names the input in the error.
    """
    from nuages.kernel.errors import ValidationFailed

    now = utc_now()
    if isinstance(when, dt.datetime):
        if ensure_aware(when) > now:
            raise ValidationFailed(
                f"{field}: {when.isoformat()} is in the future (now is "
                f"{now.isoformat(timespec='seconds')}); only a past time may be given"
            )
    elif when > now.date():
        raise ValidationFailed(
            f"{field}: {when.isoformat()} is in the future (today is {now.date().isoformat()}, "
            "UTC); only a past date may be given, to catch up"
        )


def ensure_aware(moment: dt.datetime) -> dt.datetime:
    """Return ``moment`` in UTC; refuse naive datetimes, whose zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)
