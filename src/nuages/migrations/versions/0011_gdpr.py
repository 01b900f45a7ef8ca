"""gdpr and support: sub-processors, breaches, audits, staff access; tickets, support
agreements, change requests; the client's DPO contact (issue #16)

Revision ID: 0011_gdpr
Revises: 0002
Create Date: 2026-12-02 01:44:50.092982
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nuages.invoicing.models
import nuages.kernel.db

revision = "0011_gdpr"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gdpr_breaches",
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("circumstances", sa.Text(), nullable=False),
        sa.Column("nature", sa.String(length=500), nullable=False),
        sa.Column("data_concerned", sa.Text(), nullable=False),
        sa.Column("data_volume", sa.String(length=300), nullable=False),
        sa.Column("person_categories", sa.String(length=500), nullable=False),
        sa.Column("persons_count", sa.Integer(), nullable=False),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("occurred_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=36), nullable=False),
        sa.Column("opened_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_breaches")),
    )
    op.create_table(
        "gdpr_subprocessors",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("safeguard", sa.String(length=300), nullable=False),
        sa.Column("active_from", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replaced_by_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_subprocessors")),
    )
    op.create_table(
        "gdpr_breach_notifications",
        sa.Column("breach_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["breach_id"],
            ["gdpr_breaches.id"],
            name=op.f("fk_gdpr_breach_notifications_breach_id_gdpr_breaches"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_gdpr_breach_notifications_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_breach_notifications")),
    )
    with op.batch_alter_table("gdpr_breach_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gdpr_breach_notifications_breach_id"), ["breach_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_gdpr_breach_notifications_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "gdpr_staff_accesses",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("staff_user_id", sa.String(length=36), nullable=False),
        sa.Column("staff_email", sa.String(length=254), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("granted_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_gdpr_staff_accesses_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_staff_accesses")),
    )
    with op.batch_alter_table("gdpr_staff_accesses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gdpr_staff_accesses_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_gdpr_staff_accesses_staff_user_id"), ["staff_user_id"], unique=False
        )

    op.create_table(
        "gdpr_audits",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("auditor", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("requested_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("earliest_start", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_hours", nuages.invoicing.models.Micros(), nullable=True),
        sa.Column("billed_hours", nuages.invoicing.models.Micros(), nullable=True),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_gdpr_audits_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_gdpr_audits_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_audits")),
    )
    with op.batch_alter_table("gdpr_audits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gdpr_audits_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_gdpr_audits_contract_id"), ["contract_id"], unique=False
        )

    op.create_table(
        "support_agreements",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("hourly_rate", nuages.invoicing.models.Cents(), nullable=True),
        sa.Column("maintenance_offer", sa.Boolean(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("standard_changes_per_month", sa.Integer(), nullable=False),
        sa.Column("standard_change_price", nuages.invoicing.models.Cents(), nullable=True),
        sa.Column("significant_change_price", nuages.invoicing.models.Cents(), nullable=True),
        sa.Column(
            "footprint_audit_end", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_support_agreements_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_support_agreements")),
    )
    with op.batch_alter_table("support_agreements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_agreements_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "support_change_requests",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("within_quota", sa.Boolean(), nullable=False),
        sa.Column("price", nuages.invoicing.models.Cents(), nullable=True),
        sa.Column("price_accepted", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=36), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_support_change_requests_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_change_requests")),
    )
    with op.batch_alter_table("support_change_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_change_requests_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_change_requests_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_change_requests_month"), ["month"], unique=False
        )

    op.create_table(
        "support_tickets",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("vm_id", sa.String(length=36), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=36), nullable=False),
        sa.Column("opened_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        sa.Column(
            "intervention_due_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("update_due_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure_notice_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_support_tickets_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_support_tickets_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_tickets_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_tickets_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_support_tickets_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_tickets_vm_id"), ["vm_id"], unique=False)

    op.create_table(
        "support_ticket_messages",
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", nuages.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("intervention_minutes", sa.Integer(), nullable=True),
        sa.Column("out_of_hours", sa.Boolean(), nullable=False),
        sa.Column("provider_at_fault", sa.Boolean(), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_ticket_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket_messages")),
    )
    with op.batch_alter_table("support_ticket_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_ticket_messages_ticket_id"), ["ticket_id"], unique=False
        )

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dpo_name", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("dpo_email", sa.String(length=254), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("dpo_phone", sa.String(length=40), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("dpo_phone")
        batch_op.drop_column("dpo_email")
        batch_op.drop_column("dpo_name")

    with op.batch_alter_table("support_ticket_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_ticket_messages_ticket_id"))

    op.drop_table("support_ticket_messages")
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_tickets_vm_id"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_state"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_contract_id"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_client_id"))

    op.drop_table("support_tickets")
    with op.batch_alter_table("support_change_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_change_requests_month"))
        batch_op.drop_index(batch_op.f("ix_support_change_requests_contract_id"))
        batch_op.drop_index(batch_op.f("ix_support_change_requests_client_id"))

    op.drop_table("support_change_requests")
    with op.batch_alter_table("support_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_agreements_client_id"))

    op.drop_table("support_agreements")
    with op.batch_alter_table("gdpr_audits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gdpr_audits_contract_id"))
        batch_op.drop_index(batch_op.f("ix_gdpr_audits_client_id"))

    op.drop_table("gdpr_audits")
    with op.batch_alter_table("gdpr_staff_accesses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gdpr_staff_accesses_staff_user_id"))
        batch_op.drop_index(batch_op.f("ix_gdpr_staff_accesses_client_id"))

    op.drop_table("gdpr_staff_accesses")
    with op.batch_alter_table("gdpr_breach_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gdpr_breach_notifications_client_id"))
        batch_op.drop_index(batch_op.f("ix_gdpr_breach_notifications_breach_id"))

    op.drop_table("gdpr_breach_notifications")
    op.drop_table("gdpr_subprocessors")
    op.drop_table("gdpr_breaches")
