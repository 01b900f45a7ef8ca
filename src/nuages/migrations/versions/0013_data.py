"""compute: incremental backups (issue 13): a backup's kind, the backup it builds on, its checksum

Revision ID: 0013_data
Revises: 0012_data
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_data"
down_revision = "0012_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vm_backups") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="full")
        )
        batch.add_column(sa.Column("parent_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("checksum", sa.String(length=80), nullable=True))
        batch.create_index(batch.f("ix_vm_backups_parent_id"), ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("vm_backups") as batch:
        batch.drop_index(batch.f("ix_vm_backups_parent_id"))
        batch.drop_column("checksum")
        batch.drop_column("parent_id")
        batch.drop_column("kind")
