"""One unit of work for a command that writes as provider staff: the database opened
from the settings, one transaction, a business error turned into the convention's
error line and exit status 1 (nothing written), the database closed after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from nuages import cli_output as out
from nuages.kernel.errors import NuagesError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")


@contextmanager
def unit() -> Iterator[Session]:
    """A session in one unit of work; a ``NuagesError`` becomes ``error: …``, exit 1."""
    # Imported here: the command modules load on ``--help`` too (issue #19).
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    try:
        with database.unit() as session:
            yield session
    except NuagesError as exc:
        out.fail(exc.detail)
    finally:
        database.dispose()


def run(work: Callable[[Any], T]) -> T:
    """``work(session)`` in one :func:`unit`; its result."""
    with unit() as session:
        return work(session)
