"""Reading the action history: clients their own objects', staff all of it, and only
the entries whose scope the caller's token holds (``scopes.py``: billing entries need
"billing", so members and guests never see amounts, invoices or mandates).

The reader is anything with ``is_staff``, ``client_id``, ``has`` and ``require`` (an
``accounts.Principal``): history sits below accounts and imports no slice.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.history.models import HistoryEntry
from nuages.history.scopes import effective_scope, readable_scopes
from nuages.kernel.access import visible
from nuages.kernel.errors import NotFound
from nuages.kernel.pagination import paginate

READ = "read"  # accounts.roles.Scope.READ (a StrEnum: equal to its value)


class Reader(Protocol):
    """Who reads the history."""

    @property
    def is_staff(self) -> bool: ...

    @property
    def client_id(self) -> str | None: ...

    def has(self, scope: Any) -> bool: ...

    def require(self, scope: Any) -> None: ...


def _readable(reader: Reader) -> list[str]:
    return readable_scopes(reader.has)


def list_entries(
    session: Session,
    reader: Reader,
    page: int,
    per_page: int,
    object_id: str | None = None,
    object_type: str | None = None,
) -> tuple[list[HistoryEntry], int]:
    """Entries the reader may see, newest first, optionally for one object."""
    reader.require(READ)
    stmt = visible(
        reader,
        select(HistoryEntry)
        .where(effective_scope().in_(_readable(reader)))
        .order_by(HistoryEntry.seq.desc()),
        HistoryEntry.client_id,
    )
    if object_id is not None:
        stmt = stmt.where(HistoryEntry.object_id == object_id)
    if object_type is not None:
        stmt = stmt.where(HistoryEntry.object_type == object_type)
    return paginate(session, stmt, page, per_page)


def get_entry(session: Session, reader: Reader, entry_id: str) -> HistoryEntry:
    """One entry the reader may see, else 404."""
    reader.require(READ)
    entry = session.execute(
        select(HistoryEntry).where(
            HistoryEntry.id == entry_id, effective_scope().in_(_readable(reader))
        )
    ).scalar_one_or_none()
    if entry is None or not (
        reader.is_staff or (entry.client_id is not None and entry.client_id == reader.client_id)
    ):
        raise NotFound("no such history entry")
    return entry
