"""compute: an operation's progress (bytes copied of bytes in all), issue #19

Revision ID: 0011_ops
Revises: 0008_snap
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_ops"
down_revision = "0008_snap"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vm_operations", sa.Column("progress_done", sa.BigInteger(), nullable=True))
    op.add_column("vm_operations", sa.Column("progress_total", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vm_operations") as batch:
        batch.drop_column("progress_total")
        batch.drop_column("progress_done")
