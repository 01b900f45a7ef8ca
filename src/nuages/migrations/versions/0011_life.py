"""contracts: the contract's life

Revision ID: 0011_life
Revises: 0007_holds
Create Date: 2026-12-02 01:48:59

The contract's life (issue #21): terminations on their way (one pending per contract),
formal notices and force-majeure events, terms changes announced per contract, and the
price revisions applied (their factors kept as exact decimal text).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0011_life"
down_revision = "0007_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_formal_notices",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("ground", sa.String(length=32), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("given_by", sa.String(length=100), nullable=False),
        sa.Column("given_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("terminable_from", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("automatic_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("closed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=500), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_formal_notices_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_formal_notices")),
    )
    with op.batch_alter_table("contract_formal_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_formal_notices_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_formal_notices_contract_id"), ["contract_id"], unique=False
        )

    op.create_table(
        "contract_price_revisions",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("effective_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("factor", sa.String(length=40), nullable=False),
        sa.Column("cumulative", sa.String(length=40), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("exit_until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_price_revisions_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_price_revisions")),
    )
    with op.batch_alter_table("contract_price_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_price_revisions_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_price_revisions_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            "uq_contract_price_revisions_at", ["contract_id", "effective_at"], unique=True
        )

    op.create_table(
        "contract_terminations",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("clause", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("given_by", sa.String(length=100), nullable=False),
        sa.Column("dated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effective_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("penalty_free", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_terminations_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_terminations")),
    )
    with op.batch_alter_table("contract_terminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_terminations_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_terminations_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_terminations_effective_at"), ["effective_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contract_terminations_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_contract_terminations_pending",
            ["contract_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )

    op.create_table(
        "contract_terms_changes",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("from_hash", sa.String(length=64), nullable=False),
        sa.Column("to_hash", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("imposed_by_law", sa.Boolean(), nullable=False),
        sa.Column("announced_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("in_force_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refusable_until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("refused_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("letter_date", sa.Date(), nullable=True),
        sa.Column("refused_by", sa.String(length=100), nullable=True),
        sa.Column("migrated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_terms_changes_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_terms_changes")),
    )
    with op.batch_alter_table("contract_terms_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_terms_changes_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_terms_changes_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contract_terms_changes_state"), ["state"], unique=False
        )
        batch_op.create_index(
            "uq_contract_terms_changes_version", ["contract_id", "to_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("contract_terms_changes", schema=None) as batch_op:
        batch_op.drop_index("uq_contract_terms_changes_version")
        batch_op.drop_index(batch_op.f("ix_contract_terms_changes_state"))
        batch_op.drop_index(batch_op.f("ix_contract_terms_changes_contract_id"))
        batch_op.drop_index(batch_op.f("ix_contract_terms_changes_client_id"))

    op.drop_table("contract_terms_changes")
    with op.batch_alter_table("contract_terminations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_contract_terminations_pending",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_contract_terminations_state"))
        batch_op.drop_index(batch_op.f("ix_contract_terminations_effective_at"))
        batch_op.drop_index(batch_op.f("ix_contract_terminations_contract_id"))
        batch_op.drop_index(batch_op.f("ix_contract_terminations_client_id"))

    op.drop_table("contract_terminations")
    with op.batch_alter_table("contract_price_revisions", schema=None) as batch_op:
        batch_op.drop_index("uq_contract_price_revisions_at")
        batch_op.drop_index(batch_op.f("ix_contract_price_revisions_contract_id"))
        batch_op.drop_index(batch_op.f("ix_contract_price_revisions_client_id"))

    op.drop_table("contract_price_revisions")
    with op.batch_alter_table("contract_formal_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_formal_notices_contract_id"))
        batch_op.drop_index(batch_op.f("ix_contract_formal_notices_client_id"))

    op.drop_table("contract_formal_notices")
