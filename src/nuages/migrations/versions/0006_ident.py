"""accounts: clients' postal address (EN 16931 BT-50..54, invoices need it)

Revision ID: 0006_ident
Revises: 0002
Create Date: 2026-12-01 22:30:00

Existing clients get an empty address: their invoices are refused (the run names what
is missing) until staff or the client fill it in, or set a contract's invoicing profile.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_ident"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    ("address_line1", 200),
    ("address_line2", 200),
    ("postcode", 16),
    ("city", 100),
    ("region", 100),
)


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        for name, size in COLUMNS:
            batch.add_column(
                sa.Column(name, sa.String(length=size), server_default="", nullable=False)
            )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        for name, _size in COLUMNS:
            batch.drop_column(name)
