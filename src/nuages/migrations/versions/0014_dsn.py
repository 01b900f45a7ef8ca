"""invoicing: issued invoices made due at once by an early termination through the
client's doing (003 §13.2.1), issue #20

Revision ID: 0014_dsn
Revises: 0011_inv_receipts
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0014_dsn"
down_revision = "0011_inv_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoicing_accelerations",
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("clause", sa.String(length=32), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoicing_invoices.id"],
            name="fk_invoicing_accelerations_invoice_id_invoicing_invoices",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name="pk_invoicing_accelerations"),
    )
    op.create_index(
        "ix_invoicing_accelerations_contract_id", "invoicing_accelerations", ["contract_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_invoicing_accelerations_contract_id", "invoicing_accelerations")
    op.drop_table("invoicing_accelerations")
