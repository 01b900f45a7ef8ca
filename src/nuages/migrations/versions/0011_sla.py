"""sla: outages, maintenance, reports, credits

Revision ID: 0011_sla
Revises: 0009_read
Create Date: 2026-12-02 01:44:29.507682

Staff-declared incidents and the VMs they took down, planned maintenance and the VMs
and notices it concerns, monthly SLA reports (append-only) and their credits (issue 22).
A branch from the failure notices' revision (the sla slice's tables point at ``vms``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.kernel.db
from nuages.sla.models import APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL

revision = "0011_sla"
down_revision = "0009_read"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_incidents",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_ref", sa.String(length=63), nullable=True),
        sa.Column("start", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("declared_by", sa.String(length=36), nullable=True),
        sa.Column("declared_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_incidents")),
    )
    op.create_table(
        "sla_maintenance",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_ref", sa.String(length=63), nullable=True),
        sa.Column("start", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("outside_window", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("announced_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_maintenance")),
    )
    with op.batch_alter_table("sla_maintenance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_maintenance_start"), ["start"], unique=False)

    op.create_table(
        "sla_reports",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("offer_id", sa.String(length=63), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.String(length=36), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("denominator", sa.String(length=24), nullable=False),
        sa.Column("objective_pct", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("availability_pct", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column("objective_met", sa.Boolean(), nullable=False),
        sa.Column("counted_minutes", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("credit_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("credit_mode", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("issued_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_reports_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_sla_reports_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_reports")),
        sa.UniqueConstraint(
            "contract_id",
            "year",
            "month",
            "version",
            name=op.f("uq_sla_reports_contract_id_year_month_version"),
        ),
    )
    with op.batch_alter_table("sla_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_reports_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sla_reports_contract_id"), ["contract_id"], unique=False
        )

    op.create_table(
        "sla_credits",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claim_until", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=36), nullable=True),
        sa.Column("applied_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("applied_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_credits_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_sla_credits_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["sla_reports.id"],
            name=op.f("fk_sla_credits_report_id_sla_reports"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_credits")),
        sa.UniqueConstraint("report_id", name=op.f("uq_sla_credits_report_id")),
    )
    with op.batch_alter_table("sla_credits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_credits_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sla_credits_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sla_credits_state"), ["state"], unique=False)

    op.create_table(
        "sla_incident_vms",
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_incident_vms_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_sla_incident_vms_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["sla_incidents.id"],
            name=op.f("fk_sla_incident_vms_incident_id_sla_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vms.id"], name=op.f("fk_sla_incident_vms_vm_id_vms"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_incident_vms")),
        sa.UniqueConstraint(
            "incident_id", "vm_id", name=op.f("uq_sla_incident_vms_incident_id_vm_id")
        ),
    )
    with op.batch_alter_table("sla_incident_vms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_incident_vms_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_incident_vms_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_incident_vms_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sla_incident_vms_vm_id"), ["vm_id"], unique=False)

    op.create_table(
        "sla_maintenance_vms",
        sa.Column("maintenance_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_sla_maintenance_vms_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_sla_maintenance_vms_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["maintenance_id"],
            ["sla_maintenance.id"],
            name=op.f("fk_sla_maintenance_vms_maintenance_id_sla_maintenance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"],
            ["vms.id"],
            name=op.f("fk_sla_maintenance_vms_vm_id_vms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_maintenance_vms")),
        sa.UniqueConstraint(
            "maintenance_id", "vm_id", name=op.f("uq_sla_maintenance_vms_maintenance_id_vm_id")
        ),
    )
    with op.batch_alter_table("sla_maintenance_vms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_maintenance_vms_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_maintenance_vms_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_maintenance_vms_maintenance_id"), ["maintenance_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sla_maintenance_vms_vm_id"), ["vm_id"], unique=False)

    for statement in APPEND_ONLY_SQL[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_APPEND_ONLY_SQL[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("sla_maintenance_vms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_maintenance_vms_vm_id"))
        batch_op.drop_index(batch_op.f("ix_sla_maintenance_vms_maintenance_id"))
        batch_op.drop_index(batch_op.f("ix_sla_maintenance_vms_contract_id"))
        batch_op.drop_index(batch_op.f("ix_sla_maintenance_vms_client_id"))

    op.drop_table("sla_maintenance_vms")
    with op.batch_alter_table("sla_incident_vms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_incident_vms_vm_id"))
        batch_op.drop_index(batch_op.f("ix_sla_incident_vms_incident_id"))
        batch_op.drop_index(batch_op.f("ix_sla_incident_vms_contract_id"))
        batch_op.drop_index(batch_op.f("ix_sla_incident_vms_client_id"))

    op.drop_table("sla_incident_vms")
    with op.batch_alter_table("sla_credits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_credits_state"))
        batch_op.drop_index(batch_op.f("ix_sla_credits_contract_id"))
        batch_op.drop_index(batch_op.f("ix_sla_credits_client_id"))

    op.drop_table("sla_credits")
    with op.batch_alter_table("sla_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_reports_contract_id"))
        batch_op.drop_index(batch_op.f("ix_sla_reports_client_id"))

    op.drop_table("sla_reports")
    with op.batch_alter_table("sla_maintenance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_maintenance_start"))

    op.drop_table("sla_maintenance")
    op.drop_table("sla_incidents")
