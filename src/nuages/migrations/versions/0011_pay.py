"""payments: the pre-notification period a mandate agrees (SEPA rulebook: 14 calendar
days unless agreed otherwise) on both mandate records, and the bank statements imported
(each once: a statement imported twice books nothing twice).

Revision ID: 0011_pay
Revises: 0006_bill, 0009_read_rates
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0011_pay"
down_revision = ("0006_bill", "0009_read_rates")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing mandates keep their rows; NULL = no shorter period agreed (14 days).
    with op.batch_alter_table("sepa_mandates") as batch:
        batch.add_column(sa.Column("prenotice_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("invoicing_profiles") as batch:
        batch.add_column(sa.Column("prenotice_days", sa.Integer(), nullable=True))
    op.create_table(
        "payments_statements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=140), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_statements")),
        sa.UniqueConstraint("sha256", name=op.f("uq_payments_statements_sha256")),
    )
    op.create_index(
        op.f("ix_payments_statements_message_id"), "payments_statements", ["message_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_statements_message_id"), table_name="payments_statements")
    op.drop_table("payments_statements")
    with op.batch_alter_table("invoicing_profiles") as batch:
        batch.drop_column("prenotice_days")
    with op.batch_alter_table("sepa_mandates") as batch:
        batch.drop_column("prenotice_days")
