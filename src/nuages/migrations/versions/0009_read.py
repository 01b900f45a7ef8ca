"""sla: failure notices (002 §6 "Notification de Défaillance")

Revision ID: 0009_read
Revises: 0003
Create Date: 2026-12-01 23:40:00

A branch of its own from compute's first revision (the table points at ``vms``). Also
``vms.managed`` (002 §3.8.2: a managed server gives the client no direct access).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0009_read"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "vms", sa.Column("managed", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        "failure_notices",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("noticed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("filed_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_failure_notices_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_failure_notices_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_failure_notices_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_notices")),
    )
    with op.batch_alter_table("failure_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_failure_notices_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_failure_notices_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_failure_notices_vm_id"), ["vm_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("failure_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_failure_notices_vm_id"))
        batch_op.drop_index(batch_op.f("ix_failure_notices_contract_id"))
        batch_op.drop_index(batch_op.f("ix_failure_notices_client_id"))
    op.drop_table("failure_notices")
    # SQLite ≥ 3.35 drops a column in place (a batch copy of vms would trip its children).
    op.execute("ALTER TABLE vms DROP COLUMN managed")
