"""compute: host states (active / draining / disabled) and the sites a host serves

Revision ID: 0006_comp
Revises: 0003
Create Date: 2026-12-01 22:30:00

``hosts.site`` and ``hosts.country`` move to ``host_sites`` (one row per site a host
serves: one machine, several sites); ``hosts.enabled`` becomes ``hosts.state``
(false → disabled). Columns are dropped with ``ALTER TABLE … DROP COLUMN``, which
SQLite ≥ 3.35 runs in place: rebuilding ``hosts`` (Alembic's batch copy) would trip the
foreign keys of ``vms`` and ``vm_port_leases`` that point at it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db

revision = "0006_comp"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_sites",
        sa.Column("host_id", sa.String(length=36), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_host_sites_host_id_hosts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_sites")),
        sa.UniqueConstraint("host_id", "site", name=op.f("uq_host_sites_host_id_site")),
    )
    op.create_index(op.f("ix_host_sites_host_id"), "host_sites", ["host_id"], unique=False)
    op.create_index(op.f("ix_host_sites_site"), "host_sites", ["site"], unique=False)
    # Each host's one site so far; the host's id is free as the row's id (its own table).
    op.execute(
        "INSERT INTO host_sites (id, host_id, site, country, created_at) "
        "SELECT id, id, site, country, created_at FROM hosts"
    )
    op.add_column(
        "hosts",
        sa.Column("state", sa.String(length=16), server_default="active", nullable=False),
    )
    op.execute("UPDATE hosts SET state = CASE WHEN enabled THEN 'active' ELSE 'disabled' END")
    op.drop_index("ix_hosts_site", table_name="hosts")
    for column in ("site", "country", "enabled"):
        op.execute(f"ALTER TABLE hosts DROP COLUMN {column}")


def downgrade() -> None:
    op.add_column(
        "hosts", sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    for column, length in (("site", 63), ("country", 2)):
        op.add_column(
            "hosts",
            sa.Column(column, sa.String(length=length), server_default="", nullable=False),
        )
    op.execute("UPDATE hosts SET enabled = (state <> 'disabled')")
    # A host serving several sites keeps the first of them (by name).
    op.execute(
        "UPDATE hosts SET site = (SELECT MIN(s.site) FROM host_sites s WHERE s.host_id = hosts.id)"
    )
    op.execute(
        "UPDATE hosts SET country = (SELECT s.country FROM host_sites s "
        "WHERE s.host_id = hosts.id AND s.site = hosts.site)"
    )
    op.create_index("ix_hosts_site", "hosts", ["site"], unique=False)
    op.execute("ALTER TABLE hosts DROP COLUMN state")
    op.drop_index(op.f("ix_host_sites_site"), table_name="host_sites")
    op.drop_index(op.f("ix_host_sites_host_id"), table_name="host_sites")
    op.drop_table("host_sites")
