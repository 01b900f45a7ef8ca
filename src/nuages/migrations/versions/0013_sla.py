"""sla: staff reclassify recorded outages

Revision ID: 0013_sla
Revises: 0011_sla
Create Date: 2026-12-02 05:30:00

The cause staff give an outage recorded by reconciliation (a VM found down, or every VM
of an unreachable host), read by the SLA instead of the recorded one (issue 22).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0013_sla"
down_revision = "0011_sla"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_outage_causes",
        sa.Column("outage_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=True),
        sa.Column("set_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_outage_causes_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_sla_outage_causes_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"],
            ["vm_outages.id"],
            name=op.f("fk_sla_outage_causes_outage_id_vm_outages"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_sla_outage_causes_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("outage_id", name=op.f("pk_sla_outage_causes")),
    )
    with op.batch_alter_table("sla_outage_causes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_outage_causes_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_outage_causes_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sla_outage_causes_vm_id"), ["vm_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_outage_causes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_outage_causes_vm_id"))
        batch_op.drop_index(batch_op.f("ix_sla_outage_causes_contract_id"))
        batch_op.drop_index(batch_op.f("ix_sla_outage_causes_client_id"))
    op.drop_table("sla_outage_causes")
