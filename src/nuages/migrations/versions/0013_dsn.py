"""notices: bounces read after the relay accepted a notice (DSNs, issue #11)

Revision ID: 0013_dsn
Revises: 0010_notices
Create Date: 2026-12-02 05:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nuages.kernel.db import UTCDateTime

revision = "0013_dsn"
down_revision = "0010_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(
            sa.Column("alert", sa.String(length=1000), nullable=False, server_default="")
        )
    op.create_table(
        "notice_bounce_mail",
        sa.Column("dsn_key", sa.String(length=300), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("envelope_to", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notice_bounce_mail"),
        sa.UniqueConstraint("dsn_key", name="uq_notice_bounce_mail_dsn_key"),
    )
    for column in ("received_at", "outcome", "notice_id"):
        op.create_index(f"ix_notice_bounce_mail_{column}", "notice_bounce_mail", [column])
    op.create_table(
        "notice_bounces",
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("mail_id", sa.String(length=36), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("diagnostic", sa.String(length=500), nullable=False),
        sa.Column("remote_mta", sa.String(length=200), nullable=False),
        sa.Column("reporting_mta", sa.String(length=200), nullable=False),
        sa.Column("guessed", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name="fk_notice_bounces_notice_id_notices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["notice_bounce_mail.id"],
            name="fk_notice_bounces_mail_id_notice_bounce_mail",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notice_bounces"),
        sa.UniqueConstraint("dedupe_key", name="uq_notice_bounces_dedupe_key"),
    )
    op.create_index("ix_notice_bounces_notice_id", "notice_bounces", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_bounces_notice_id", table_name="notice_bounces")
    op.drop_table("notice_bounces")
    for column in ("received_at", "outcome", "notice_id"):
        op.drop_index(f"ix_notice_bounce_mail_{column}", table_name="notice_bounce_mail")
    op.drop_table("notice_bounce_mail")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("alert")
