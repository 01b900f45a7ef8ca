"""reversibility: one exit record per ended contract and its deliveries (issue 21.6)

Revision ID: 0011_exit
Revises: 0002
Create Date: 2026-12-02 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0011_exit"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_exits",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("offer_id", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("window_ends_at", UTCDateTime(), nullable=True),
        sa.Column("payment_default", sa.Boolean(), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=True),
        sa.Column("choice_at", UTCDateTime(), nullable=True),
        sa.Column("letter_at", UTCDateTime(), nullable=True),
        sa.Column("refund_amount", sa.BigInteger(), nullable=True),
        sa.Column("refund_key", sa.String(length=120), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("erasure_reason", sa.String(length=200), nullable=True),
        sa.Column("erasure_by", sa.String(length=100), nullable=True),
        sa.Column("erasure_started_at", UTCDateTime(), nullable=True),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.Column("erasure_record_id", sa.String(length=36), nullable=True),
        sa.Column("erasure_record_hash", sa.String(length=64), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id"),
    )
    op.create_index("ix_contract_exits_client_id", "contract_exits", ["client_id"])
    op.create_index("ix_contract_exits_state", "contract_exits", ["state"])
    op.create_table(
        "contract_exit_deliveries",
        sa.Column("exit_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("transfer", sa.Integer(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("fee_key", sa.String(length=120), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["exit_id"], ["contract_exits.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("export_id"),
    )
    for column in ("exit_id", "contract_id", "client_id"):
        op.create_index(
            f"ix_contract_exit_deliveries_{column}", "contract_exit_deliveries", [column]
        )


def downgrade() -> None:
    op.drop_table("contract_exit_deliveries")
    op.drop_table("contract_exits")
