"""billing: direct debits settle before they credit; extension VMs, resources, CPU samples

Revision ID: 0006_bill
Revises: 0004
Create Date: 2026-12-01 22:30:00

- ``direct_debits.settled_at``; states renamed to the settlement machine: ``requested``
  becomes ``pending``; ``submitted`` collections were credited when their batch was
  written (the old rule), so they become ``settled`` (their top-up entry stays).
- ``vms.extension_id``: the extension that created a VM (needs compute's ``vms``, 0003).
- ``extensions``: image and SSH keys of extra VMs; VM and base resources of a resources
  extension; when it was released.
- ``extension_cpu_samples``: CPU-time readings of the automatic-extension policy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0006_bill"
down_revision = "0004"
branch_labels = None
depends_on = "0003"


def upgrade() -> None:
    with op.batch_alter_table("direct_debits", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settled_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE direct_debits SET state = 'pending' WHERE state = 'requested'")
    op.execute(
        "UPDATE direct_debits SET state = 'settled', settled_at = updated_at"
        " WHERE state = 'submitted'"
    )
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extension_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_vms_extension_id"), ["extension_id"], unique=False)
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("ssh_key_ids", sa.Text(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("vm_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("base_vcpus", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("base_ram_mib", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("restart", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("released_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_extensions_vm_id"), ["vm_id"], unique=False)
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.alter_column("ssh_key_ids", server_default=None)
        batch_op.alter_column("restart", server_default=None)
    op.create_table(
        "extension_cpu_samples",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cpu_ns", sa.BigInteger(), nullable=False),
        sa.Column("host_ns", sa.BigInteger(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_cpu_samples")),
    )
    with op.batch_alter_table("extension_cpu_samples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_extension_cpu_samples_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index("ix_extension_cpu_samples_vm_at", ["vm_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("extension_cpu_samples")
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extensions_vm_id"))
        for column in (
            "released_at",
            "restart",
            "base_ram_mib",
            "base_vcpus",
            "vm_id",
            "ssh_key_ids",
            "image_id",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vms_extension_id"))
        batch_op.drop_column("extension_id")
    op.execute("UPDATE direct_debits SET state = 'submitted' WHERE state = 'settled'")
    op.execute("UPDATE direct_debits SET state = 'requested' WHERE state = 'pending'")
    with op.batch_alter_table("direct_debits", schema=None) as batch_op:
        batch_op.drop_column("settled_at")
