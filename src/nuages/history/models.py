"""The history entry model."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.db import Base


class HistoryEntry(Base):
    """One action: who did what to which object, with which parameters and outcome.

    Rows are never updated or deleted (database triggers refuse it); each carries the
    hash of the one before, so an edit made behind the database's back breaks the chain
    at that row (002 §3 "Historique des actions"; 004 §6.3: records are proof).
    """

    __tablename__ = "history_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # canonical JSON, secrets redacted
    outcome: Mapped[str] = mapped_column(String(500))  # error details redacted
    # The token scope a reader needs ("read", "billing"), decided at record time and
    # covered by the hash; NULL only on entries written before it existed (see
    # history/scopes.py).
    scope: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class HistoryHead(Base):
    """A single row holding the newest hash; locking it serialises appends on PostgreSQL."""

    __tablename__ = "history_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


GENESIS_HASH = "0" * 64

# Triggers that make the table append-only in the database itself, not only in code.
APPEND_ONLY_SQL = {
    "sqlite": [
        """CREATE TRIGGER history_entries_no_update BEFORE UPDATE ON history_entries
        BEGIN SELECT RAISE(ABORT, 'history entries are append-only'); END""",
        """CREATE TRIGGER history_entries_no_delete BEFORE DELETE ON history_entries
        BEGIN SELECT RAISE(ABORT, 'history entries are append-only'); END""",
    ],
    "postgresql": [
        """CREATE OR REPLACE FUNCTION nuages_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END;
        $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER history_entries_append_only BEFORE UPDATE OR DELETE
        ON history_entries FOR EACH ROW EXECUTE FUNCTION nuages_append_only()""",
    ],
}
DROP_APPEND_ONLY_SQL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS history_entries_no_update",
        "DROP TRIGGER IF EXISTS history_entries_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS history_entries_append_only ON history_entries",
    ],
}
