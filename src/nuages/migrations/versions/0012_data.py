"""compute: the days each VM had a backup option, for billing it (002 §3.5)

Revision ID: 0012_data
Revises: 0011_net
Create Date: 2026-12-02 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0012_data"
down_revision = "0011_net"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vm_backup_options",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("option_id", sa.String(length=63), nullable=False),
        sa.Column("since", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_backup_options_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_backup_options_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_backup_options")),
    )
    for column in ("vm_id", "client_id", "contract_id"):
        op.create_index(
            op.f(f"ix_vm_backup_options_{column}"), "vm_backup_options", [column], unique=False
        )
    # Plans set before this revision are billed from the day they were set.
    op.execute(
        "INSERT INTO vm_backup_options (id, vm_id, client_id, contract_id, option_id, since) "
        "SELECT p.id, p.vm_id, p.client_id, v.contract_id, p.option_id, p.created_at "
        "FROM vm_backup_plans p JOIN vms v ON v.id = p.vm_id"
    )


def downgrade() -> None:
    for column in ("contract_id", "client_id", "vm_id"):
        op.drop_index(op.f(f"ix_vm_backup_options_{column}"), table_name="vm_backup_options")
    op.drop_table("vm_backup_options")
