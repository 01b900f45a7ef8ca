"""invoicing: legal interest rates per country series (000 §13.1, SPEC §17)

Revision ID: 0009_read_rates
Revises: 0005
Create Date: 2026-12-01 23:50:00

Each country's legal rate is its own series (France each half-year, Belgium each year):
``invoicing_legal_rates.series`` (existing rows are French) and one rate per series and
start date. The table has no foreign keys into it, so SQLite's batch copy is safe.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_read_rates"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoicing_legal_rates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("series", sa.String(length=2), server_default="FR", nullable=False)
        )
        batch_op.drop_constraint("uq_invoicing_legal_rates_valid_from", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoicing_legal_rates_series_valid_from"), ["series", "valid_from"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM invoicing_legal_rates WHERE series <> 'FR'")
    with op.batch_alter_table("invoicing_legal_rates", schema=None) as batch_op:
        batch_op.drop_constraint("uq_invoicing_legal_rates_series_valid_from", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoicing_legal_rates_valid_from"), ["valid_from"]
        )
        batch_op.drop_column("series")
