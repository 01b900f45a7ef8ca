"""payments: one mandate model and one pain.008 batch model (issue 15).

``payments_mandates`` replaces billing's ``sepa_mandates`` (rows copied with their ids,
so ``direct_debits.mandate_id`` keeps pointing at them) and the free mandate columns of
``invoicing_profiles`` (one mandate row per profile that had one; its holder is the
client's legal name, as the invoice files named the debtor; ``used`` is whether an
invoice debit already went out under its reference). ``payments_batches`` replaces
``sepa_batches`` (top-ups: id = message id) and ``invoicing_sepa_batches`` (invoices:
ids kept, so ``invoicing_sepa_items.batch_id`` keeps pointing at them). The downgrade
moves the rows back.

Revision ID: 0013_pay
Revises: 0011_pay
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from nuages.billing.models import LedgerAmount
from nuages.kernel.db import UTCDateTime

revision = "0013_pay"
down_revision = "0011_pay"
branch_labels = None
depends_on = None

_MANDATE_COLUMNS = (
    "id",
    "contract_id",
    "client_id",
    "reference",
    "iban",
    "bic",
    "holder_name",
    "signed_on",
    "state",
    "used",
    "prenotice_days",
    "revoked_at",
    "created_at",
    "updated_at",
)


def _tables() -> dict[str, sa.TableClause]:
    """The old and new tables as this revision knows them (typed, so amounts and times
    read the same on both databases)."""
    mandate_cols: list[sa.ColumnClause[Any]] = [
        sa.column("id", sa.String),
        sa.column("contract_id", sa.String),
        sa.column("client_id", sa.String),
        sa.column("reference", sa.String),
        sa.column("iban", sa.String),
        sa.column("bic", sa.String),
        sa.column("holder_name", sa.String),
        sa.column("signed_on", sa.Date),
        sa.column("state", sa.String),
        sa.column("used", sa.Boolean),
        sa.column("prenotice_days", sa.Integer),
        sa.column("revoked_at", UTCDateTime()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    ]
    return {
        "old_mandates": sa.table("sepa_mandates", *mandate_cols),
        "mandates": sa.table(
            "payments_mandates",
            *[sa.column(c.name, c.type) for c in mandate_cols],
            sa.column("original_reference", sa.String),
            sa.column("original_iban", sa.String),
            sa.column("original_bic", sa.String),
            sa.column("amended_at", UTCDateTime()),
        ),
        "profiles": sa.table(
            "invoicing_profiles",
            sa.column("contract_id", sa.String),
            sa.column("client_id", sa.String),
            sa.column("mandate_id", sa.String),
            sa.column("mandate_signed_on", sa.Date),
            sa.column("iban", sa.String),
            sa.column("bic", sa.String),
            sa.column("prenotice_days", sa.Integer),
            sa.column("created_at", UTCDateTime()),
            sa.column("updated_at", UTCDateTime()),
        ),
        "clients": sa.table("clients", sa.column("id", sa.String), sa.column("legal_name")),
        "items": sa.table(
            "invoicing_sepa_items", sa.column("mandate_id", sa.String), sa.column("state")
        ),
        "old_topup_batches": sa.table(
            "sepa_batches",
            sa.column("id", sa.String),
            sa.column("created_at", UTCDateTime()),
            sa.column("collection_date", sa.Date),
            sa.column("transactions", sa.Integer),
            sa.column("total", LedgerAmount()),
            sa.column("xml", sa.Text),
        ),
        "old_invoice_batches": sa.table(
            "invoicing_sepa_batches",
            sa.column("id", sa.String),
            sa.column("message_id", sa.String),
            sa.column("collection_date", sa.Date),
            sa.column("count", sa.Integer),
            sa.column("total", sa.BigInteger),  # whole cents (invoicing ``Cents``)
            sa.column("xml", sa.Text),
            sa.column("state", sa.String),
            sa.column("created_at", UTCDateTime()),
            sa.column("settled_at", UTCDateTime()),
        ),
        "batches": sa.table(
            "payments_batches",
            sa.column("id", sa.String),
            sa.column("message_id", sa.String),
            sa.column("kind", sa.String),
            sa.column("seller_id", sa.String),
            sa.column("collection_date", sa.Date),
            sa.column("count", sa.Integer),
            sa.column("total_cents", sa.BigInteger),
            sa.column("xml", sa.Text),
            sa.column("state", sa.String),
            sa.column("created_at", UTCDateTime()),
            sa.column("settled_at", UTCDateTime()),
        ),
    }


def _create_new() -> None:
    op.create_table(
        "payments_mandates",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=False),
        sa.Column("holder_name", sa.String(length=70), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("prenotice_days", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("original_reference", sa.String(length=35), nullable=True),
        sa.Column("original_iban", sa.String(length=34), nullable=True),
        sa.Column("original_bic", sa.String(length=11), nullable=True),
        sa.Column("amended_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_payments_mandates_contract_id_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_mandates")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_mandates_reference")),
    )
    op.create_index(op.f("ix_payments_mandates_client_id"), "payments_mandates", ["client_id"])
    op.create_index(op.f("ix_payments_mandates_contract_id"), "payments_mandates", ["contract_id"])
    op.create_table(
        "payments_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seller_id", sa.String(length=64), nullable=False),
        sa.Column("collection_date", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_batches")),
        sa.UniqueConstraint("message_id", name=op.f("uq_payments_batches_message_id")),
    )
    op.create_index(op.f("ix_payments_batches_kind"), "payments_batches", ["kind"])


def _copy_up() -> None:
    bind = op.get_bind()
    t = _tables()
    rows = [dict(r._mapping) for r in bind.execute(sa.select(t["old_mandates"]))]
    if rows:
        bind.execute(sa.insert(t["mandates"]), rows)
    taken = {r["reference"] for r in rows}
    profiles = bind.execute(
        sa.select(t["profiles"], t["clients"].c.legal_name)
        .join(t["clients"], t["clients"].c.id == t["profiles"].c.client_id)
        .where(
            t["profiles"].c.mandate_id.is_not(None),
            t["profiles"].c.iban.is_not(None),
            t["profiles"].c.bic.is_not(None),
            t["profiles"].c.mandate_signed_on.is_not(None),
        )
    ).all()
    used = {
        r[0]
        for r in bind.execute(
            sa.select(t["items"].c.mandate_id).where(t["items"].c.state != "failed").distinct()
        )
    }
    for p in profiles:
        reference = p.mandate_id
        if reference in taken:
            # Two records under one reference (a top-up and an invoice mandate): the
            # invoice one keeps its row with a suffix so neither is lost.
            reference = (reference[:30] + "-INV")[:35]
        taken.add(reference)
        bind.execute(
            sa.insert(t["mandates"]).values(
                id=str(uuid.uuid4()),
                contract_id=p.contract_id,
                client_id=p.client_id,
                reference=reference,
                iban=p.iban,
                bic=p.bic,
                holder_name=(p.legal_name or "")[:70],
                signed_on=p.mandate_signed_on,
                state="active",
                used=p.mandate_id in used,
                prenotice_days=p.prenotice_days,
                revoked_at=None,
                created_at=p.created_at,
                updated_at=p.updated_at,
            )
        )
    for b in bind.execute(sa.select(t["old_topup_batches"])).all():
        bind.execute(
            sa.insert(t["batches"]).values(
                id=b.id,
                message_id=b.id,
                kind="topup",
                seller_id="",
                collection_date=b.collection_date,
                count=b.transactions,
                total_cents=int((Decimal(b.total) * 100).to_integral_value()),
                xml=b.xml,
                state="created",
                created_at=b.created_at,
                settled_at=None,
            )
        )
    for b in bind.execute(sa.select(t["old_invoice_batches"])).all():
        bind.execute(
            sa.insert(t["batches"]).values(
                id=b.id,
                message_id=b.message_id,
                kind="invoice",
                seller_id="",
                collection_date=b.collection_date,
                count=b.count,
                total_cents=int(b.total),
                xml=b.xml,
                state=b.state,
                created_at=b.created_at,
                settled_at=b.settled_at,
            )
        )


def upgrade() -> None:
    _create_new()
    _copy_up()
    with op.batch_alter_table("direct_debits") as batch:
        batch.drop_constraint("fk_direct_debits_mandate_id_sepa_mandates", type_="foreignkey")
        batch.create_foreign_key(
            batch.f("fk_direct_debits_mandate_id_payments_mandates"),
            "payments_mandates",
            ["mandate_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("invoicing_sepa_items") as batch:
        batch.drop_constraint(
            "fk_invoicing_sepa_items_batch_id_invoicing_sepa_batches", type_="foreignkey"
        )
        batch.create_foreign_key(
            batch.f("fk_invoicing_sepa_items_batch_id_payments_batches"),
            "payments_batches",
            ["batch_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("sepa_mandates") as batch:
        batch.drop_index("ix_sepa_mandates_contract_id")
        batch.drop_index("ix_sepa_mandates_client_id")
    op.drop_table("sepa_mandates")
    op.drop_table("sepa_batches")
    op.drop_table("invoicing_sepa_batches")
    with op.batch_alter_table("invoicing_profiles") as batch:
        for name in ("mandate_id", "mandate_signed_on", "iban", "bic", "prenotice_days"):
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("invoicing_profiles") as batch:
        batch.add_column(sa.Column("mandate_id", sa.String(length=35), nullable=True))
        batch.add_column(sa.Column("mandate_signed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("iban", sa.String(length=34), nullable=True))
        batch.add_column(sa.Column("bic", sa.String(length=11), nullable=True))
        batch.add_column(sa.Column("prenotice_days", sa.Integer(), nullable=True))
    op.create_table(
        "invoicing_sepa_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=False),
        sa.Column("collection_date", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoicing_sepa_batches")),
        sa.UniqueConstraint("message_id", name=op.f("uq_invoicing_sepa_batches_message_id")),
    )
    op.create_table(
        "sepa_batches",
        sa.Column("id", sa.String(length=35), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("collection_date", sa.Date(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("total", LedgerAmount(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sepa_batches")),
    )
    op.create_table(
        "sepa_mandates",
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=False),
        sa.Column("holder_name", sa.String(length=70), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("prenotice_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["billing_accounts.contract_id"],
            name=op.f("fk_sepa_mandates_contract_id_billing_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sepa_mandates")),
        sa.UniqueConstraint("reference", name=op.f("uq_sepa_mandates_reference")),
    )
    op.create_index(op.f("ix_sepa_mandates_client_id"), "sepa_mandates", ["client_id"])
    op.create_index(op.f("ix_sepa_mandates_contract_id"), "sepa_mandates", ["contract_id"])
    _copy_down()
    with op.batch_alter_table("invoicing_sepa_items") as batch:
        batch.drop_constraint(
            "fk_invoicing_sepa_items_batch_id_payments_batches", type_="foreignkey"
        )
        batch.create_foreign_key(
            batch.f("fk_invoicing_sepa_items_batch_id_invoicing_sepa_batches"),
            "invoicing_sepa_batches",
            ["batch_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("direct_debits") as batch:
        batch.drop_constraint("fk_direct_debits_mandate_id_payments_mandates", type_="foreignkey")
        batch.create_foreign_key(
            batch.f("fk_direct_debits_mandate_id_sepa_mandates"),
            "sepa_mandates",
            ["mandate_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.drop_index(op.f("ix_payments_batches_kind"), table_name="payments_batches")
    op.drop_table("payments_batches")
    op.drop_index(op.f("ix_payments_mandates_contract_id"), table_name="payments_mandates")
    op.drop_index(op.f("ix_payments_mandates_client_id"), table_name="payments_mandates")
    op.drop_table("payments_mandates")


def _copy_down() -> None:
    bind = op.get_bind()
    t = _tables()
    accounts = sa.table("billing_accounts", sa.column("contract_id", sa.String))
    prepaid = sa.select(accounts.c.contract_id)
    mandates = t["mandates"]
    topup = bind.execute(
        sa.select(*[mandates.c[name] for name in _MANDATE_COLUMNS]).where(
            mandates.c.contract_id.in_(prepaid)
        )
    ).all()
    for m in topup:
        values = dict(m._mapping)
        # The old model knew active and revoked only.
        values["state"] = "active" if values["state"] in ("active", "ending") else "revoked"
        bind.execute(sa.insert(t["old_mandates"]).values(**values))
    invoiced = bind.execute(
        sa.select(mandates).where(
            mandates.c.contract_id.not_in(prepaid), mandates.c.state.in_(("active", "ending"))
        )
    ).all()
    for m in invoiced:
        bind.execute(
            sa.update(t["profiles"])
            .where(t["profiles"].c.contract_id == m.contract_id)
            .values(
                mandate_id=m.reference,
                mandate_signed_on=m.signed_on,
                iban=m.iban,
                bic=m.bic,
                prenotice_days=m.prenotice_days,
            )
        )
    batches = t["batches"]
    for b in bind.execute(sa.select(batches)).all():
        if b.kind == "topup":
            bind.execute(
                sa.insert(t["old_topup_batches"]).values(
                    id=b.id,
                    created_at=b.created_at,
                    collection_date=b.collection_date,
                    transactions=b.count,
                    total=Decimal(b.total_cents) / 100,
                    xml=b.xml,
                )
            )
        else:
            bind.execute(
                sa.insert(t["old_invoice_batches"]).values(
                    id=b.id,
                    message_id=b.message_id,
                    collection_date=b.collection_date,
                    count=b.count,
                    total=b.total_cents,
                    xml=b.xml,
                    state=b.state,
                    created_at=b.created_at,
                    settled_at=b.settled_at,
                )
            )
