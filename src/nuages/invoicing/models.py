"""Invoicing models: documents, numbering, payments, dunning, disputes, indices, lines.

Amounts are stored as whole cents and prices, quantities and rates as whole millionths
(``BigInteger``): exact on SQLite and PostgreSQL alike, and summable by the database.
Issued documents are immutable: database triggers (``IMMUTABLE_SQL``, installed by
migration 0005) refuse any change of their amounts, parties, XML or lines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime

CENTS = Decimal(100)
MICROS = Decimal(1_000_000)


class Cents(TypeDecorator[Decimal]):
    """A ``Decimal`` amount stored as whole cents; refuses sub-cent values."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        scaled = Decimal(value) * CENTS
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has sub-cent digits: round it before storing")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / CENTS).quantize(Decimal("0.01"))


class Micros(TypeDecorator[Decimal]):
    """A ``Decimal`` price, quantity or rate stored as whole millionths."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        scaled = Decimal(value) * MICROS
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than six decimals")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / MICROS).normalize() + Decimal(0)


class InvoiceSequence(Base):
    """The last number used in one series and year; locked while a number is taken, so
    numbering stays gapless and sequential (French CGI art. 242 nonies A; DESIGN.md)."""

    __tablename__ = "invoicing_sequences"

    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(IdMixin, TimestampMixin, Base):
    """An issued invoice or credit note (EN 16931 type code 380 / 381).

    Born issued: the number is taken in the transaction that writes it. Amounts,
    parties, dates, XML and lines never change afterwards (triggers); only ``state``
    and ``paid_at`` move as payments, returns and credit notes arrive. Credit notes
    (``kind = "credit_note"``) carry positive amounts and reference the invoice they
    correct (``corrects_id``).
    """

    __tablename__ = "invoicing_invoices"
    __table_args__ = (
        # A contract is invoiced once per billing period, whatever reruns or crashes.
        UniqueConstraint("contract_id", "billing_period"),
        UniqueConstraint("series", "year", "seq_no"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(32), unique=True)
    series: Mapped[str] = mapped_column(String(8))
    year: Mapped[int] = mapped_column(Integer)
    seq_no: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    offer_id: Mapped[str] = mapped_column(String(63))
    offer_hash: Mapped[str] = mapped_column(String(64))
    corrects_id: Mapped[str | None] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # "YYYY-MM-DD" of the period start for periodic invoices; NULL for credit notes.
    billing_period: Mapped[str | None] = mapped_column(String(10), nullable=True)
    period_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    dispute_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    vat_regime: Mapped[str] = mapped_column(String(16))
    prices_include_vat: Mapped[bool] = mapped_column(Boolean)
    payment_means: Mapped[str] = mapped_column(String(16))
    total_net: Mapped[Decimal] = mapped_column(Cents())
    tax_basis: Mapped[Decimal] = mapped_column(Cents())
    tax_total: Mapped[Decimal] = mapped_column(Cents())
    grand_total: Mapped[Decimal] = mapped_column(Cents())
    prepaid_amount: Mapped[Decimal] = mapped_column(Cents())
    due_payable: Mapped[Decimal] = mapped_column(Cents())
    parties: Mapped[str] = mapped_column(Text)  # seller and buyer as issued (JSON)
    notes: Mapped[str] = mapped_column(Text)  # legal mentions printed and in the XML (JSON)
    xml: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InvoiceLine(IdMixin, Base):
    """One line of an issued document (EN 16931 BG-25); append-only (trigger)."""

    __tablename__ = "invoicing_invoice_lines"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    item_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Micros())
    unit_code: Mapped[str] = mapped_column(String(3))
    unit_price: Mapped[Decimal] = mapped_column(Micros())  # net (BT-146)
    gross_amount: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)  # VAT incl.
    net_amount: Mapped[Decimal] = mapped_column(Cents())
    vat_category: Mapped[str] = mapped_column(String(2))
    vat_rate: Mapped[Decimal] = mapped_column(Micros())
    period_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    meta: Mapped[str] = mapped_column(Text, default="{}")


class InvoiceRun(IdMixin, Base):
    """One invoicing run and its report (dry runs are not recorded: they write nothing)."""

    __tablename__ = "invoicing_runs"

    run_on: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    issued: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text, default="[]")


class InvoiceDocument(Base):
    """The rendered Factur-X PDF of a document, stored the first time it is rendered
    so the issued file is the one kept (append-only)."""

    __tablename__ = "invoicing_documents"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), primary_key=True
    )
    pdf: Mapped[bytes] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    rendered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ContractLine(IdMixin, TimestampMixin, Base):
    """A billable item ordered on a contract: a flavour, option, user count or fee from
    the offer's catalogue, with its quantity and the dates it runs (``[since, until)``).

    Stands in for per-VM rows until compute's ``Vm`` model exists; an upgrade is a new
    line replacing the old one (``replaces_id``), billed prorata (003 §14.3).
    """

    __tablename__ = "invoicing_contract_lines"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    item_id: Mapped[str] = mapped_column(String(63))
    quantity: Mapped[Decimal] = mapped_column(Micros())
    # Price agreed on a quote (on_quote items); None: the catalogue price applies.
    unit_price: Mapped[Decimal | None] = mapped_column(Micros(), nullable=True)
    since: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    replaces_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    # Seats removed before their 12 months, still billed to their end (001 §4.1–4.3):
    # the line they were removed from (``invoicing.seats``).
    commits_seats_of: Mapped[str | None] = mapped_column(String(36), nullable=True)


class InvoicingProfile(TimestampMixin, Base):
    """How one contract is invoiced: chosen period (003 §14.1) and billing address. The
    SEPA mandate its direct debits run under (003 §14.2, 004 §8.2) is the payments
    slice's ``Mandate`` of the contract."""

    __tablename__ = "invoicing_profiles"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    period: Mapped[str | None] = mapped_column(String(8), nullable=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    buyer_reference: Mapped[str] = mapped_column(String(100), default="")


class PendingCharge(IdMixin, Base):
    """A sum to put on the contract's next invoice (001 §4.4 reminder fees, late
    interest, one-off fees): written once under its idempotency key; ``invoice_id`` is
    set when an invoice bills it."""

    __tablename__ = "invoicing_charges"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Cents())
    # "S": VAT at the offer's rate; "E": outside VAT (indemnities and interest).
    vat_category: Mapped[str] = mapped_column(String(2))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    invoice_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class IndexValue(IdMixin, Base):
    """A published index value for one month (Syntec, ElecVert), entered by staff
    (000 §13.3, 004 §8.1)."""

    __tablename__ = "invoicing_index_values"
    __table_args__ = (UniqueConstraint("name", "period"),)

    name: Mapped[str] = mapped_column(String(32))
    period: Mapped[dt.date] = mapped_column(Date)  # first day of the month
    value: Mapped[Decimal] = mapped_column(Micros())
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    entered_by: Mapped[str] = mapped_column(String(254))


class LegalRate(IdMixin, Base):
    """The legal interest rate of a country (``series``: FR, BE) in force over
    ``[valid_from, valid_to)`` (SPEC §17: France each half-year, Belgium each year)."""

    __tablename__ = "invoicing_legal_rates"
    __table_args__ = (UniqueConstraint("series", "valid_from"),)

    # 000 §13.1 applies the legal rate of the contract's law (Belgium): its own series.
    series: Mapped[str] = mapped_column(String(2), server_default="FR")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    rate_pct: Mapped[Decimal] = mapped_column(Micros())
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Payment(IdMixin, Base):
    """Money received from a client (transfer, direct debit, card, cheque), written once
    under its idempotency key; a returned direct debit is marked, never deleted."""

    __tablename__ = "invoicing_payments"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    means: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Cents())
    received_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(140), default="")
    provider_ref: Mapped[str] = mapped_column(String(100), default="")
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    return_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PaymentAllocation(IdMixin, Base):
    """A share of a payment settling one invoice; a returned debit adds the opposite
    allocation rather than editing this one (append-only)."""

    __tablename__ = "invoicing_payment_allocations"

    payment_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_payments.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Cents())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class SepaItem(IdMixin, Base):
    """One invoice debit of a batch (``payments.models.DirectDebitBatch``): the invoice
    it collects and, once settled, its payment; ``mandate_id`` is the mandate reference
    the file carried."""

    __tablename__ = "invoicing_sepa_items"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("payments_batches.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    amount: Mapped[Decimal] = mapped_column(Cents())
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    sequence_type: Mapped[str] = mapped_column(String(4))
    mandate_id: Mapped[str] = mapped_column(String(35))
    state: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class DunningNotice(IdMixin, Base):
    """One dunning step taken on an overdue invoice: a reminder (with its 001 §4.4 fee),
    a formal notice, a suspension (003 §14.5) or its lifting, once per invoice and step."""

    __tablename__ = "invoicing_dunning_notices"
    __table_args__ = (UniqueConstraint("invoice_id", "step"),)

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    step: Mapped[str] = mapped_column(String(24))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(24))
    outstanding: Mapped[Decimal] = mapped_column(Cents())
    fee: Mapped[Decimal] = mapped_column(Cents())
    interest: Mapped[Decimal] = mapped_column(Cents())
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class InvoiceReceipt(Base):
    """When an invoice was received (001 §4.1, §4.4: payable within 15 days *of receipt*,
    undisputed 8 days after it): the moment the relay accepted its e-mail over SMTP,
    recorded once by ``receipts.record``. The invoice itself stays as issued (its
    printed due date is frozen); the deadlines here only ever come later than the
    printed ones (SPEC §17: the client is never held to a date earlier than its
    invoice shows)."""

    __tablename__ = "invoicing_receipts"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), primary_key=True
    )
    notice_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    dispute_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class InvoiceAcceleration(Base):
    """An issued invoice made due at once by an early termination through the client's
    doing (003 §13.2.1: "Dès la résiliation du contrat … le Client s'engage à régler tous
    les montants impayés"): its effective due date becomes the termination date, written
    once by ``invoicing.acceleration``. The invoice itself keeps its printed due date
    (a frozen document); dunning reads the effective one (``receipts.due_date``)."""

    __tablename__ = "invoicing_accelerations"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), primary_key=True
    )
    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    clause: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Deposit(IdMixin, Base):
    """One hardware line of an order covered by a deposit invoice (001 §4.6 (i): "un
    acompte de 30% sur la totalité des montants à facturer pourra être demandé au moment
    de la commande"): written when staff ask for the deposit (``invoicing.deposits``),
    one row per ordered line, so a line is never under two deposits (unique). The final
    invoice that bills the line deducts the deposit invoice's total (BT-113) and sets
    ``deducted_by_id`` (compare-and-swap: deducted once)."""

    __tablename__ = "invoicing_deposits"

    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    contract_line_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_contract_lines.id", ondelete="RESTRICT"), unique=True
    )
    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    deducted_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Dispute(IdMixin, Base):
    """A client contesting an invoice within the offer's window (001 §4.4: 8 days;
    004 §8.2: 15 days); resolved by staff, an accepted one with a credit note."""

    __tablename__ = "invoicing_disputes"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoicing_invoices.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    opened_by: Mapped[str] = mapped_column(String(254))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    reason: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str] = mapped_column(String(2000), default="")
    credit_note_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


# ---------------------------------------------------------------- database guards

_FROZEN = (
    "kind number series year seq_no client_id contract_id offer_hash corrects_id "
    "billing_period period_start period_end issue_date issued_at due_date dispute_until "
    "currency vat_regime prices_include_vat payment_means total_net tax_basis tax_total "
    "grand_total prepaid_amount due_payable parties notes xml"
).split()
_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _FROZEN)
_PG_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _FROZEN)
_APPEND_ONLY = (
    "invoicing_invoice_lines",
    "invoicing_payment_allocations",
    "invoicing_documents",
)


def _sqlite_guards() -> list[str]:
    out = [
        f"""CREATE TRIGGER invoicing_invoices_frozen BEFORE UPDATE ON invoicing_invoices
        WHEN {_SQLITE_CHANGED}
        BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable: issue a credit note'); END""",
        """CREATE TRIGGER invoicing_invoices_no_delete BEFORE DELETE ON invoicing_invoices
        BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable: issue a credit note'); END""",
        """CREATE TRIGGER invoicing_payments_frozen BEFORE UPDATE ON invoicing_payments
        WHEN OLD.amount IS NOT NEW.amount OR OLD.client_id IS NOT NEW.client_id
        OR OLD.idempotency_key IS NOT NEW.idempotency_key
        BEGIN SELECT RAISE(ABORT, 'payments are written once'); END""",
        """CREATE TRIGGER invoicing_payments_no_delete BEFORE DELETE ON invoicing_payments
        BEGIN SELECT RAISE(ABORT, 'payments are written once'); END""",
        """CREATE TRIGGER invoicing_charges_frozen BEFORE UPDATE ON invoicing_charges
        WHEN OLD.amount IS NOT NEW.amount OR OLD.contract_id IS NOT NEW.contract_id
        OR (OLD.invoice_id IS NOT NULL AND OLD.invoice_id IS NOT NEW.invoice_id)
        BEGIN SELECT RAISE(ABORT, 'charges are written once'); END""",
    ]
    for table in _APPEND_ONLY:
        out += [
            f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END""",
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END""",
        ]
    return out


def _pg_guards() -> list[str]:
    out = [
        f"""CREATE OR REPLACE FUNCTION invoicing_invoice_frozen() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'DELETE' OR {_PG_CHANGED} THEN
            RAISE EXCEPTION 'issued invoices are immutable: issue a credit note';
          END IF;
          RETURN NEW;
        END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER invoicing_invoices_frozen BEFORE UPDATE OR DELETE
        ON invoicing_invoices FOR EACH ROW EXECUTE FUNCTION invoicing_invoice_frozen()""",
        """CREATE OR REPLACE FUNCTION invoicing_money_frozen() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'DELETE' OR OLD.amount IS DISTINCT FROM NEW.amount THEN
            RAISE EXCEPTION '% rows are written once', TG_TABLE_NAME;
          END IF;
          IF TG_TABLE_NAME = 'invoicing_charges' THEN
            -- nested: OLD.invoice_id only exists on charges
            IF OLD.invoice_id IS NOT NULL AND OLD.invoice_id IS DISTINCT FROM NEW.invoice_id THEN
              RAISE EXCEPTION 'a billed charge stays on its invoice';
            END IF;
          END IF;
          RETURN NEW;
        END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER invoicing_payments_frozen BEFORE UPDATE OR DELETE
        ON invoicing_payments FOR EACH ROW EXECUTE FUNCTION invoicing_money_frozen()""",
        """CREATE TRIGGER invoicing_charges_frozen BEFORE UPDATE OR DELETE
        ON invoicing_charges FOR EACH ROW EXECUTE FUNCTION invoicing_money_frozen()""",
    ]
    for table in _APPEND_ONLY:
        # nuages_append_only() comes from migration 0001.
        out.append(
            f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE
            ON {table} FOR EACH ROW EXECUTE FUNCTION nuages_append_only()"""
        )
    return out


IMMUTABLE_SQL = {"sqlite": _sqlite_guards(), "postgresql": _pg_guards()}
DROP_IMMUTABLE_SQL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS invoicing_invoices_frozen",
        "DROP TRIGGER IF EXISTS invoicing_invoices_no_delete",
        "DROP TRIGGER IF EXISTS invoicing_payments_frozen",
        "DROP TRIGGER IF EXISTS invoicing_payments_no_delete",
        "DROP TRIGGER IF EXISTS invoicing_charges_frozen",
    ]
    + [f"DROP TRIGGER IF EXISTS {t}_no_update" for t in _APPEND_ONLY]
    + [f"DROP TRIGGER IF EXISTS {t}_no_delete" for t in _APPEND_ONLY],
    "postgresql": [
        "DROP TRIGGER IF EXISTS invoicing_invoices_frozen ON invoicing_invoices",
        "DROP TRIGGER IF EXISTS invoicing_payments_frozen ON invoicing_payments",
        "DROP TRIGGER IF EXISTS invoicing_charges_frozen ON invoicing_charges",
        "DROP FUNCTION IF EXISTS invoicing_invoice_frozen()",
        "DROP FUNCTION IF EXISTS invoicing_money_frozen()",
    ]
    + [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in _APPEND_ONLY],
}
