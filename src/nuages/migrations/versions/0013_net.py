"""net: a network cut on a contractual ground shares the contract's holds (issue 14;
000 §11.1, 004 §7, §9): a hold's scope (``contract``: the contract suspended, every VM
paused; ``network``: the named VMs' network cut, nothing else), and which VMs a network
hold covered (for a wrongful one's credit, 000 §11.1)

Revision ID: 0013_net
Revises: 0012_data
Create Date: 2026-12-02 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_net"
down_revision = "0012_data"
branch_labels = None
depends_on = "0007_holds"


def upgrade() -> None:
    with op.batch_alter_table("contract_holds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="contract")
        )
    # One open hold per contract, ground AND scope: a network cut on a ground does not
    # stand in for a suspension of the whole contract on the same ground.
    op.drop_index("uq_contract_holds_open_ground", table_name="contract_holds")
    op.create_index(
        "uq_contract_holds_open_ground",
        "contract_holds",
        ["contract_id", "ground", "scope"],
        unique=True,
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.create_table(
        "vm_network_holds",
        sa.Column("hold_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["contract_holds.id"],
            name=op.f("fk_vm_network_holds_hold_id_contract_holds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hold_id", "vm_id", name=op.f("pk_vm_network_holds")),
    )


def downgrade() -> None:
    op.drop_table("vm_network_holds")
    op.execute("DELETE FROM contract_holds WHERE scope <> 'contract'")
    op.drop_index("uq_contract_holds_open_ground", table_name="contract_holds")
    op.create_index(
        "uq_contract_holds_open_ground",
        "contract_holds",
        ["contract_id", "ground"],
        unique=True,
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    with op.batch_alter_table("contract_holds", schema=None) as batch_op:
        batch_op.drop_column("scope")
