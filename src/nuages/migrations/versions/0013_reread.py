"""contracts and compute (issue 20): the firewall tier chosen at order (002 §3.6) on the
contract, and the abuse reports and violation notices kept per client (003 §7.9).

Revision ID: 0013_reread
Revises: 0011_life, 0012_data
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0013_reread"
down_revision = ("0011_life", "0012_data")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("firewall_tier", sa.String(length=16), nullable=True))
    op.create_table(
        "abuse_reports",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("new_address", sa.String(length=45), nullable=True),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_abuse_reports_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abuse_reports")),
    )
    for column in ("client_id", "vm_id"):
        op.create_index(op.f(f"ix_abuse_reports_{column}"), "abuse_reports", [column])


def downgrade() -> None:
    for column in ("vm_id", "client_id"):
        op.drop_index(op.f(f"ix_abuse_reports_{column}"), table_name="abuse_reports")
    op.drop_table("abuse_reports")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("firewall_tier")
