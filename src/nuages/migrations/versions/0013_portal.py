"""notices: a notice may have no client (a provider staff member's password reset, issue #12)

Revision ID: 0013_portal
Revises: 0010_notices
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_portal"
down_revision = "0010_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot alter a column in place: batch mode copies the table (it has no
    # triggers; its indexes and constraints are recreated from the reflected table).
    with op.batch_alter_table("notices") as batch:
        batch.alter_column("client_id", existing_type=sa.String(length=36), nullable=True)


def downgrade() -> None:
    # Staff notices have no client to keep: drop them before the column is required again.
    op.execute("DELETE FROM notice_attempts WHERE notice_id IN "
               "(SELECT id FROM notices WHERE client_id IS NULL)")  # fmt: skip
    op.execute("DELETE FROM notices WHERE client_id IS NULL")
    with op.batch_alter_table("notices") as batch:
        batch.alter_column("client_id", existing_type=sa.String(length=36), nullable=False)
