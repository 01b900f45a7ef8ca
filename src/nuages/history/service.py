"""Recording and verifying the action history.

Every state-changing service calls ``record`` inside its own transaction, so the entry
commits with the change or not at all. Failures are recorded by the API edge in a
transaction of their own (the failed change rolled back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nuages.history.models import GENESIS_HASH, HistoryEntry, HistoryHead
from nuages.history.redaction import REDACTED, SECRET_KEYS, redact, redact_text
from nuages.history.scopes import scope_for
from nuages.kernel.clock import utc_now
from nuages.kernel.db import new_id

__all__ = ["REDACTED", "SECRET_KEYS", "Actor", "record", "redact", "verify"]


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (id and e-mail) or the platform itself (``id=None``)."""

    id: str | None
    label: str

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(None, what)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    prev_hash: str,
    *,
    id: str,
    at: dt.datetime,
    actor_id: str | None,
    actor_label: str,
    client_id: str | None,
    object_type: str,
    object_id: str,
    action: str,
    params: str,
    outcome: str,
    scope: str | None = None,
) -> str:
    """The SHA-256 of an entry's content chained to the previous entry's hash.

    ``scope`` joins the hashed content when set; entries from before it existed have
    none, so their hashes stay what they were.
    """
    content: dict[str, Any] = {
        "id": id,
        "at": at.astimezone(dt.UTC).isoformat(),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "client_id": client_id,
        "object_type": object_type,
        "object_id": object_id,
        "action": action,
        "params": params,
        "outcome": outcome,
    }
    if scope is not None:
        content["scope"] = scope
    body = _canonical(content)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_HEAD_KEY = "history_head"
_HEAD: Table = HistoryHead.__table__  # type: ignore[assignment]
_ENTRIES: Table = HistoryEntry.__table__  # type: ignore[assignment]
_SELECT_HEAD = select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
# The SET columns come from each execution's parameters (last_seq, last_hash).
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_ENTRY = _ENTRIES.insert()


@dataclass
class _Head:
    """The chain's head as this transaction left it, and the transaction it was read in."""

    transaction: Any
    seq: int
    hash: str


def _lock_head(session: Session) -> _Head:
    # FOR UPDATE serialises appends on PostgreSQL; SQLite transactions already hold the
    # write lock from BEGIN IMMEDIATE. The lock lasts until the transaction ends, so a
    # second entry in the same (innermost) transaction reuses what the first left — an
    # invoice and its notice are two entries of one transaction (invoicing runs). A
    # savepoint begun or ended since is another transaction: locked and read again
    # (what a rolled-back savepoint appended is gone from the database, not from here).
    connection = session.connection()
    current = session.get_nested_transaction() or session.get_transaction()
    cached: _Head | None = session.info.get(_HEAD_KEY)
    if cached is not None and cached.transaction is current:
        return cached
    found = connection.execute(_SELECT_HEAD).one_or_none()
    if found is None:
        # The first entry of a database: FOR UPDATE locks no row that is not there, so
        # two first acts at once would both insert the head (one answered 500).
        # Inserted unless another did meanwhile (which this waits for), then locked.
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(_HEAD)
            .values(id=1, last_seq=0, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        found = connection.execute(_SELECT_HEAD).one()
    head = _Head(current, found.last_seq, found.last_hash)
    session.info[_HEAD_KEY] = head
    return head


def record(
    session: Session,
    actor: Actor,
    *,
    object_type: str,
    object_id: str,
    action: str,
    params: Mapping[str, Any] | None = None,
    client_id: str | None = None,
    outcome: str = "ok",
    scope: str | None = None,
    flush: bool = True,
) -> HistoryEntry:
    """Append one entry to the chain in the caller's transaction; return it (a copy
    outside the session: the row is written, never changed).

    The act's pending objects are flushed with it, so what the act wrote has its
    defaults and is in the database when its entry is; ``flush=False`` leaves them to
    the act's next flush or its commit (an invoicing run flushes an invoice and its
    notice once, after both entries).

    ``scope`` is what a reader's token needs; by default it follows from the object type
    and action (history/scopes.py: money needs "billing"). Parameters lose secrets by
    key and by shape, the outcome by shape (an IBAN typed into a refused request).
    """
    head = _lock_head(session)
    fields: dict[str, Any] = {
        "id": new_id(),
        "at": utc_now(),
        "actor_id": actor.id,
        "actor_label": actor.label,
        "client_id": client_id,
        "object_type": object_type,
        "object_id": object_id,
        "action": action,
        "params": _canonical(redact(dict(params or {}))),
        "outcome": redact_text(outcome)[:500],
        "scope": scope or scope_for(object_type, action),
    }
    digest = entry_hash(head.hash, **fields)
    # The head is locked for the transaction, so the next number is free. Written by
    # Core statements on the transaction's connection: an entry is never changed, so it
    # needs no unit-of-work object (whose flush cost as much as the rest of an
    # invoicing run's transaction).
    row = {**fields, "seq": head.seq + 1, "prev_hash": head.hash, "hash": digest}
    connection = session.connection()
    connection.execute(_INSERT_ENTRY, row)
    connection.execute(_MOVE_HEAD, {"last_seq": row["seq"], "last_hash": digest})
    head.seq, head.hash = row["seq"], digest
    if flush:
        session.flush()
    return HistoryEntry(**row)


@dataclass(frozen=True)
class ChainBreak:
    """The first entry whose stored hash does not match its content or predecessor."""

    seq: int
    id: str
    reason: str


def verify(session: Session, batch: int = 2000) -> tuple[int, ChainBreak | None]:
    """Recompute the whole chain; return (entries checked, first break or None)."""
    prev = GENESIS_HASH
    checked = 0
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(HistoryEntry)
                .where(HistoryEntry.seq > last_seq)
                .order_by(HistoryEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row.prev_hash != prev:
                return checked, ChainBreak(row.seq, row.id, "does not follow the entry before it")
            expected = entry_hash(
                prev,
                id=row.id,
                at=row.at,
                actor_id=row.actor_id,
                actor_label=row.actor_label,
                client_id=row.client_id,
                object_type=row.object_type,
                object_id=row.object_id,
                action=row.action,
                params=row.params,
                outcome=row.outcome,
                scope=row.scope,
            )
            if expected != row.hash:
                return checked, ChainBreak(row.seq, row.id, "content does not match its hash")
            prev = row.hash
            checked += 1
            last_seq = row.seq
        session.expunge_all()
    head = session.execute(select(_HEAD.c.last_hash).where(_HEAD.c.id == 1)).scalar()
    if head is not None and head != prev:
        return checked, ChainBreak(last_seq, "", "entries after this one are missing")
    return checked, None


def count(session: Session) -> int:
    """How many entries the history holds."""
    return session.execute(select(func.count()).select_from(HistoryEntry)).scalar_one()
