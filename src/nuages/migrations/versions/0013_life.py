"""reversibility: moves of the data outside the EU (001 §5.3) and partial recoveries
during the contract (001 §7), issue 21

Revision ID: 0013_life
Revises: 0011_exit
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0013_life"
down_revision = "0011_exit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_relocations",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=True),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("transfer_basis", sa.String(length=200), nullable=False),
        sa.Column("safeguard", sa.String(length=200), nullable=False),
        sa.Column("consented_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=False),
        sa.Column("moves_at", UTCDateTime(), nullable=False),
        sa.Column("exit_until", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_relocations_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_relocations")),
    )
    op.create_index(
        op.f("ix_contract_relocations_client_id"), "contract_relocations", ["client_id"]
    )
    op.create_index(
        op.f("ix_contract_relocations_contract_id"), "contract_relocations", ["contract_id"]
    )
    op.create_index(
        op.f("ix_contract_relocations_exit_until"), "contract_relocations", ["exit_until"]
    )
    op.create_table(
        "contract_partial_recoveries",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("transfer", sa.Integer(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("fee_key", sa.String(length=120), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_partial_recoveries_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_partial_recoveries")),
        sa.UniqueConstraint("export_id", name=op.f("uq_contract_partial_recoveries_export_id")),
    )
    for column in ("contract_id", "client_id"):
        op.create_index(
            op.f(f"ix_contract_partial_recoveries_{column}"),
            "contract_partial_recoveries",
            [column],
        )


def downgrade() -> None:
    op.drop_table("contract_partial_recoveries")
    op.drop_table("contract_relocations")
