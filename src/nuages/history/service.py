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

from sqlalchemy import func, select
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
_SELECT_HEAD = select(HistoryHead).where(HistoryHead.id == 1).with_for_update()


def _lock_head(session: Session) -> HistoryHead:
    # FOR UPDATE serialises appends on PostgreSQL; SQLite transactions already hold the
    # write lock from BEGIN IMMEDIATE. The lock lasts until the transaction ends, so a
    # second entry in the same (innermost) transaction reuses the row it locked — an
    # invoice and its notice are two entries of one transaction (invoicing runs). A
    # savepoint begun or ended since is another transaction: locked and read again.
    current = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_HEAD_KEY)
    # ``in session``: an ``expunge_all`` (``verify`` does one) detaches the cached row.
    if cached is not None and current is not None and cached[0] is current:
        if cached[1] in session:
            row: HistoryHead = cached[1]
            return row
    # No autoflush: the head does not depend on what the act has pending, which the
    # entry's own flush writes with it (one flush instead of two).
    with session.no_autoflush:
        found = session.execute(_SELECT_HEAD).scalar_one_or_none()
        if found is None:
            # The first entry of a database: FOR UPDATE locks no row that is not there,
            # so two first acts at once would both insert the head (one answered 500).
            # Inserted unless another did meanwhile (which this waits for), then locked.
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(
                insert(HistoryHead)
                .values(id=1, last_seq=0, last_hash=GENESIS_HASH)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            found = session.execute(_SELECT_HEAD).scalar_one()
    session.info[_HEAD_KEY] = (session.get_nested_transaction() or session.get_transaction(), found)
    return found


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
) -> HistoryEntry:
    """Append one entry to the chain in the caller's transaction.

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
    digest = entry_hash(head.last_hash, **fields)
    # The head is locked for the transaction, so the next number is free: numbered
    # here, the entry and the head go in one flush instead of one each. Flushed before
    # returning all the same: an ``expunge_all`` later in the transaction (``verify``
    # does one) would otherwise drop an entry still pending.
    seq = head.last_seq + 1
    entry = HistoryEntry(seq=seq, prev_hash=head.last_hash, hash=digest, **fields)
    session.add(entry)
    head.last_seq = seq
    head.last_hash = digest
    session.flush()
    return entry


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
    head = session.get(HistoryHead, 1)
    if head is not None and head.last_hash != prev:
        return checked, ChainBreak(last_seq, "", "entries after this one are missing")
    return checked, None


def count(session: Session) -> int:
    """How many entries the history holds."""
    return session.execute(select(func.count()).select_from(HistoryEntry)).scalar_one()
