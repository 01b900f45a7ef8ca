"""accounts and history: token parents, history entry scopes

Revision ID: 0006_acc
Revises: 0002
Create Date: 2026-12-01 22:40:00

Plain ALTER TABLE … ADD COLUMN on both databases (no batch copy): the history table
keeps its append-only triggers and every existing row as it was, so the hash chain still
verifies. Existing entries get no scope (NULL); readers derive it (history/scopes.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_acc"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("parent_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_api_tokens_parent_id"), "api_tokens", ["parent_id"], unique=False)
    op.add_column("history_entries", sa.Column("scope", sa.String(length=16), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column by rebuilding the table, which the append-only
        # triggers would refuse; dropping needs no copy since SQLite 3.35.
        op.execute("ALTER TABLE history_entries DROP COLUMN scope")
    else:
        op.drop_column("history_entries", "scope")
    op.drop_index(op.f("ix_api_tokens_parent_id"), table_name="api_tokens")
    op.drop_column("api_tokens", "parent_id")
