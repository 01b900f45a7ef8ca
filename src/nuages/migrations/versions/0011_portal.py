"""portal: one-time form tokens, failed sign-ins, password-reset tokens (issue #12)

Revision ID: 0011_portal
Revises: 0002
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0011_portal"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_form_uses",
        sa.Column("once", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("result_url", sa.String(length=300), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_portal_form_uses_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portal_form_uses"),
        sa.UniqueConstraint("once", name="uq_portal_form_uses_once"),
    )
    op.create_index("ix_portal_form_uses_user_id", "portal_form_uses", ["user_id"])
    op.create_table(
        "portal_sign_in_failures",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portal_sign_in_failures"),
    )
    op.create_index("ix_portal_sign_in_failures_email", "portal_sign_in_failures", ["email"])
    op.create_index("ix_portal_sign_in_failures_at", "portal_sign_in_failures", ["at"])
    op.create_table(
        "portal_reset_tokens",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_portal_reset_tokens_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portal_reset_tokens"),
        sa.UniqueConstraint("digest", name="uq_portal_reset_tokens_digest"),
    )
    op.create_index("ix_portal_reset_tokens_user_id", "portal_reset_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("portal_reset_tokens")
    op.drop_table("portal_sign_in_failures")
    op.drop_table("portal_form_uses")
