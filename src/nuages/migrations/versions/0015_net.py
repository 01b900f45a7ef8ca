"""net: a network cut's expected end (004 §7: the client told ahead, where possible, of
the suspension "ainsi que de la durée de cette suspension"), issue 14

Revision ID: 0015_net
Revises: 0014_dsn
Create Date: 2026-12-02 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0015_net"
down_revision = "0014_dsn"
branch_labels = None
depends_on = "0011_net"  # the vm_network table


def upgrade() -> None:
    with op.batch_alter_table("vm_network", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expected_end_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("vm_network", schema=None) as batch_op:
        batch_op.drop_column("expected_end_at")
