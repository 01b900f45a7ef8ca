"""compute: VM snapshots (002 §3), backups (002 §3.5) and disk exports (000 §18)

Revision ID: 0008_snap
Revises: 0006_comp
Create Date: 2026-12-01 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0008_snap"
down_revision = "0006_comp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vm_snapshots",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("virtual_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("was_running", sa.Boolean(), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_reason", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_snapshots_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_snapshots_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_snapshots")),
    )
    for column in ("vm_id", "client_id", "state", "expires_at"):
        op.create_index(op.f(f"ix_vm_snapshots_{column}"), "vm_snapshots", [column], unique=False)
    op.create_table(
        "backup_targets",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_backup_targets_name")),
    )
    op.create_index(op.f("ix_backup_targets_site"), "backup_targets", ["site"], unique=False)
    op.create_table(
        "vm_backup_plans",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("option_id", sa.String(length=63), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_backup_plans_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_backup_plans_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_backup_plans")),
        sa.UniqueConstraint("vm_id", name=op.f("uq_vm_backup_plans_vm_id")),
    )
    op.create_index(
        op.f("ix_vm_backup_plans_client_id"), "vm_backup_plans", ["client_id"], unique=False
    )
    op.create_table(
        "vm_backups",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("virtual_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_reason", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_backups_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["backup_targets.id"],
            name=op.f("fk_vm_backups_target_id_backup_targets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_backups_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_backups")),
    )
    for column in ("vm_id", "client_id", "target_id", "state", "expires_at"):
        op.create_index(op.f(f"ix_vm_backups_{column}"), "vm_backups", [column], unique=False)

    op.create_table(
        "vm_exports",
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("disk_format", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_vm_exports_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_vm_exports_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_exports")),
    )
    for column in ("vm_id", "client_id", "state", "expires_at"):
        op.create_index(op.f(f"ix_vm_exports_{column}"), "vm_exports", [column], unique=False)


def downgrade() -> None:
    for column in ("vm_id", "client_id", "state", "expires_at"):
        op.drop_index(op.f(f"ix_vm_exports_{column}"), table_name="vm_exports")
    op.drop_table("vm_exports")
    for column in ("vm_id", "client_id", "target_id", "state", "expires_at"):
        op.drop_index(op.f(f"ix_vm_backups_{column}"), table_name="vm_backups")
    op.drop_table("vm_backups")
    op.drop_index(op.f("ix_vm_backup_plans_client_id"), table_name="vm_backup_plans")
    op.drop_table("vm_backup_plans")
    op.drop_index(op.f("ix_backup_targets_site"), table_name="backup_targets")
    op.drop_table("backup_targets")
    for column in ("vm_id", "client_id", "state", "expires_at"):
        op.drop_index(op.f(f"ix_vm_snapshots_{column}"), table_name="vm_snapshots")
    op.drop_table("vm_snapshots")
