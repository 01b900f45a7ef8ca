"""invoicing: invoice receipts from the e-mail's acceptance (001 §4.1, §4.4) and
committed seat lines (001 §4.1–4.3), issue #20

Revision ID: 0011_inv_receipts
Revises: 0009_read_rates
Create Date: 2026-12-02 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0011_inv_receipts"
down_revision = "0009_read_rates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoicing_receipts",
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("dispute_until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoicing_invoices.id"],
            name="fk_invoicing_receipts_invoice_id_invoicing_invoices",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name="pk_invoicing_receipts"),
    )
    op.add_column(
        "invoicing_contract_lines",
        sa.Column("commits_seats_of", sa.String(length=36), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("invoicing_contract_lines") as batch:
        batch.drop_column("commits_seats_of")
    op.drop_table("invoicing_receipts")
