"""sla: the reports' index on contract_id dropped (issue 22)

Revision ID: 0017_sla
Revises: 0013_sla
Create Date: 2026-12-04 20:00:00

``uq_sla_reports_contract_id_year_month_version`` begins with ``contract_id`` and
serves every lookup by contract (a contract's reports, its month's newest version), so
the separate index only cost each issued report one more index entry (on PostgreSQL
17 ms of the 256 ms that writing 10,000 reports takes, bench/sla.py's floor).
"""

from __future__ import annotations

from alembic import op

revision = "0017_sla"
down_revision = "0013_sla"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain DROP INDEX (no batch copy of the table): the append-only triggers stay.
    op.drop_index("ix_sla_reports_contract_id", table_name="sla_reports")


def downgrade() -> None:
    op.create_index("ix_sla_reports_contract_id", "sla_reports", ["contract_id"], unique=False)
