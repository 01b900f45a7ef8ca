"""contracts: holds (one row per reason a contract is suspended)

Revision ID: 0007_holds
Revises: 0002
Create Date: 2026-12-01 23:30:00

A contract is suspended while at least one hold is open (contracts/holds.py). Contracts
already suspended get one open hold each, its ground read from the free-text reason the
three former writers left (billing, dunning, staff), so nothing suspended is resumed by
the upgrade. The contract's ``resumes_to`` is where the last lift returns it.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0007_holds"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contracts", sa.Column("resumes_to", sa.String(length=16), nullable=True))
    op.create_table(
        "contract_holds",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("ground", sa.String(length=63), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_by", sa.String(length=100), nullable=False),
        sa.Column("placed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expected_end_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.Column("wrongful", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_holds_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_holds")),
    )
    op.create_index(
        op.f("ix_contract_holds_contract_id"), "contract_holds", ["contract_id"], unique=False
    )
    op.create_index(
        op.f("ix_contract_holds_client_id"), "contract_holds", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_contract_holds_lifted_at"), "contract_holds", ["lifted_at"], unique=False
    )
    op.create_index(
        "uq_contract_holds_open_ground",
        "contract_holds",
        ["contract_id", "ground"],
        unique=True,
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    _backfill()


def _backfill() -> None:
    """One open hold per contract suspended before holds existed."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, client_id, state_reason, updated_at FROM contracts "
            "WHERE state = 'suspended'"
        )
    ).all()
    holds = sa.table(
        "contract_holds",
        *(
            sa.column(name)
            for name in (
                "id",
                "contract_id",
                "client_id",
                "ground",
                "clause",
                "reason",
                "placed_by",
                "placed_at",
                "wrongful",
                "created_at",
                "updated_at",
            )
        ),
    )
    for contract_id, client_id, reason, at in rows:
        reason = reason or ""
        if reason.startswith("negative-balance"):
            ground, clause, who = "negative-balance", "000 §11.2", "system:billing"
        elif reason.startswith("dunning:"):
            ground, clause, who = "unpaid-invoice", "", "system:dunning"
        else:
            ground, clause, who = "staff-decision", "", "staff"
        bind.execute(
            holds.insert().values(
                id=str(uuid.uuid4()),
                contract_id=contract_id,
                client_id=client_id,
                ground=ground,
                clause=clause,
                reason=reason[:500],
                placed_by=who,
                placed_at=at,
                wrongful=False,
                created_at=at,
                updated_at=at,
            )
        )
    bind.execute(sa.text("UPDATE contracts SET resumes_to = 'active' WHERE state = 'suspended'"))


def downgrade() -> None:
    op.drop_index("uq_contract_holds_open_ground", table_name="contract_holds")
    op.drop_index(op.f("ix_contract_holds_lifted_at"), table_name="contract_holds")
    op.drop_index(op.f("ix_contract_holds_client_id"), table_name="contract_holds")
    op.drop_index(op.f("ix_contract_holds_contract_id"), table_name="contract_holds")
    op.drop_table("contract_holds")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("resumes_to")
