"""compute: VM firewall rules, network standing and cuts, quarantined addresses (issue 14)

Revision ID: 0011_net
Revises: 0011_ops
Create Date: 2026-12-02 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0011_net"
down_revision = "0011_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vm_firewall_rules",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("port_from", sa.Integer(), nullable=True),
        sa.Column("port_to", sa.Integer(), nullable=True),
        sa.Column("cidr", sa.String(length=49), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=36), nullable=True),
        sa.Column("approved_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_firewall_rules_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_firewall_rules_vm_id_vms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_firewall_rules")),
    )
    for column in ("vm_id", "client_id"):
        op.create_index(
            op.f(f"ix_vm_firewall_rules_{column}"), "vm_firewall_rules", [column], unique=False
        )
    op.create_table(
        "vm_network",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("mail_server", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("firewall_server", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("registered", sa.String(length=100), server_default="", nullable=False),
        sa.Column("cut_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cut_ground", sa.String(length=32), nullable=True),
        sa.Column("cut_reason", sa.String(length=500), nullable=True),
        sa.Column("cut_by", sa.String(length=36), nullable=True),
        sa.Column("until_reinstall", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_network_vm_id_vms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vm_id", name=op.f("pk_vm_network")),
    )
    op.create_table(
        "ip_quarantine",
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=True),
        sa.Column("until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["ip_pools.id"],
            name=op.f("fk_ip_quarantine_pool_id_ip_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_quarantine")),
        sa.UniqueConstraint("address", name=op.f("uq_ip_quarantine_address")),
    )
    op.create_index(op.f("ix_ip_quarantine_until"), "ip_quarantine", ["until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ip_quarantine_until"), table_name="ip_quarantine")
    op.drop_table("ip_quarantine")
    op.drop_table("vm_network")
    for column in ("client_id", "vm_id"):
        op.drop_index(op.f(f"ix_vm_firewall_rules_{column}"), table_name="vm_firewall_rules")
    op.drop_table("vm_firewall_rules")
