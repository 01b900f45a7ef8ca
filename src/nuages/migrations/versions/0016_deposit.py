"""invoicing: deposits asked on hardware orders (001 §4.6 (i)), one row per ordered
line, and the final invoice that deducted each (BT-113), issue #15

Revision ID: 0016_deposit
Revises: 0015_net
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0016_deposit"
down_revision = "0015_net"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoicing_deposits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("contract_line_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("deducted_by_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_line_id"],
            ["invoicing_contract_lines.id"],
            name="fk_invoicing_deposits_contract_line_id_invoicing_contract_lines",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoicing_invoices.id"],
            name="fk_invoicing_deposits_invoice_id_invoicing_invoices",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["deducted_by_id"],
            ["invoicing_invoices.id"],
            name="fk_invoicing_deposits_deducted_by_id_invoicing_invoices",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invoicing_deposits"),
        sa.UniqueConstraint("contract_line_id", name="uq_invoicing_deposits_contract_line_id"),
    )
    op.create_index("ix_invoicing_deposits_contract_id", "invoicing_deposits", ["contract_id"])
    op.create_index("ix_invoicing_deposits_invoice_id", "invoicing_deposits", ["invoice_id"])


def downgrade() -> None:
    op.drop_index("ix_invoicing_deposits_invoice_id", "invoicing_deposits")
    op.drop_index("ix_invoicing_deposits_contract_id", "invoicing_deposits")
    op.drop_table("invoicing_deposits")
