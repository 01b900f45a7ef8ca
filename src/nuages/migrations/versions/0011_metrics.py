"""compute: VM supervision series (002 §3) and console tickets (issue 14.3, 14.4)

Revision ID: 0011_metrics
Revises: 0008_snap
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0011_metrics"
down_revision = "0008_snap"
branch_labels = None
depends_on = None

_COUNTERS = ("cpu_ns", "rd_bytes", "wr_bytes", "rd_ops", "wr_ops", "rx_bytes", "tx_bytes")
_RATES = ("rd_bps", "wr_bps", "rd_iops", "wr_iops", "rx_bps", "tx_bps")


def _key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "vm_metrics_minute",
        *_key(),
        sa.Column("host_id", sa.String(length=36), nullable=False),
        sa.Column("power_state", sa.String(length=16), nullable=False),
        sa.Column("host_ns", sa.BigInteger(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=True),
        *(sa.Column(c, sa.BigInteger(), nullable=True) for c in _COUNTERS),
        sa.Column("mem_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mem_used_bytes", sa.BigInteger(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("cpu_pct", sa.Float(), nullable=True),
        *(sa.Column(c, sa.Float(), nullable=True) for c in _RATES),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_metrics_minute_vm_id_vms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vm_id", "at", name=op.f("pk_vm_metrics_minute")),
    )
    op.create_index("ix_vm_metrics_minute_at", "vm_metrics_minute", ["at"], unique=False)
    op.create_table(
        "vm_metrics_hour",
        *_key(),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("cpu_pct", sa.Float(), nullable=True),
        sa.Column("cpu_pct_max", sa.Float(), nullable=True),
        sa.Column("mem_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mem_used_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mem_used_max", sa.BigInteger(), nullable=True),
        *(sa.Column(c, sa.Float(), nullable=True) for c in _RATES),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_metrics_hour_vm_id_vms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vm_id", "at", name=op.f("pk_vm_metrics_hour")),
    )
    op.create_index("ix_vm_metrics_hour_at", "vm_metrics_hour", ["at"], unique=False)
    op.create_table(
        "console_tickets",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("user_label", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_console_tickets_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_console_tickets_vm_id_vms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_tickets_token_hash")),
    )
    op.create_index(op.f("ix_console_tickets_vm_id"), "console_tickets", ["vm_id"], unique=False)
    op.create_index(
        op.f("ix_console_tickets_expires_at"), "console_tickets", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("console_tickets")
    op.drop_table("vm_metrics_hour")
    op.drop_table("vm_metrics_minute")
