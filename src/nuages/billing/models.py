"""Billing models: prepaid accounts, the append-only ledger, top-ups, metering, extensions.

One account per contract (not per client): the Minimum Amount that forms a contract
(000 §3.1, §13.2), the negative balance that suspends it (000 §11.2) and the credit
balance refunded when it ends (000 §13.2) are all clauses of one contract, so each
contract carries its own balance. A client with two contracts pays each one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


class LedgerAmount(TypeDecorator[Decimal]):
    """An amount with sub-cent precision (DESIGN.md "Money"): 12 digits before the point,
    6 after.

    PostgreSQL keeps it as ``NUMERIC(18, 6)``, exact. SQLite has no decimal type (its
    NUMERIC is a binary float), so there it is stored as an integer count of millionths:
    sums and the balance trigger stay exact integer arithmetic on both databases.
    """

    impl = Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 6))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_micros(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_micros(int(value))
        return Decimal(value).quantize(MICRO)


MICRO = Decimal("0.000001")


def to_micros(value: Decimal) -> int:
    """``value`` as an integer number of millionths; refuses finer precision."""
    micros = Decimal(value).scaleb(6)
    if micros != micros.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimals")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    """An integer number of millionths as a Decimal with 6 places."""
    return Decimal(micros).scaleb(-6).quantize(MICRO)


Amount = LedgerAmount()
# SQLite only auto-increments an "INTEGER PRIMARY KEY"; PostgreSQL gets a 64-bit one.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class EntryKind(StrEnum):
    """What a ledger entry records; the sign of its amount follows from the kind."""

    TOPUP = "topup"
    """Money the client paid into the account (transfer, card, collected direct debit)."""
    USAGE = "usage"
    """A debit for one resource (VM, extension) over one metering period [start, end)."""
    FEE = "fee"
    """A charge that is not usage, such as a fee the terms set for a service."""
    CREDIT = "credit"
    """Money the provider grants the client: an SLA penalty, a commercial gesture."""
    REFUND = "refund"
    """Credit balance paid back to the client (000 §13.2, at the end of the contract)."""
    ADJUSTMENT = "adjustment"
    """A staff correction of an earlier mistake, of either sign, always with a reason."""
    REVERSAL = "reversal"
    """A top-up undone because its money never arrived (a returned direct debit)."""


# The sign each kind must carry; the database checks it too (see LedgerEntry).
POSITIVE_KINDS = frozenset({EntryKind.TOPUP, EntryKind.CREDIT})
NEGATIVE_KINDS = frozenset({EntryKind.USAGE, EntryKind.FEE, EntryKind.REFUND, EntryKind.REVERSAL})


class BillingAccount(Base):
    """The prepaid account of one contract (000 §1 "Compte CLIENT", §13.2).

    ``balance`` is maintained by database triggers on ``ledger_entries``, in the same
    statement that inserts an entry, so it always equals the sum of the entries,
    whichever code path wrote them (``nuages billing verify`` checks it).
    """

    __tablename__ = "billing_accounts"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    # ISO 11649 creditor reference the client writes on transfers ("RF…"), matched by
    # the bank-statement import.
    payment_reference: Mapped[str] = mapped_column(String(25), unique=True)
    # Set while the balance is below zero (000 §11.2); the open negative period.
    negative_since: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # When billing suspended the contract's VMs for a negative balance; cleared on resume.
    suspended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The last low-balance warning; cleared once a top-up lifts the projection again.
    low_balance_warned_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class LedgerEntry(Base):
    """One movement of a prepaid account: written once, never updated nor deleted.

    Database triggers refuse UPDATE and DELETE; a correction is a new entry (an
    adjustment, a reversal). ``idempotency_key`` is unique: writing the same movement
    twice (a retried request, a re-run metering job) finds the first one instead.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(
            "(kind IN ('topup', 'credit') AND amount > 0)"
            " OR (kind IN ('usage', 'fee', 'refund', 'reversal') AND amount < 0)"
            " OR (kind = 'adjustment' AND amount <> 0)",
            name="amount_sign",
        ),
        Index("ix_ledger_entries_contract_seq", "contract_id", "seq"),
        Index("ix_ledger_entries_resource_period", "resource_id", "period_start"),
    )

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("billing_accounts.contract_id", ondelete="RESTRICT")
    )
    client_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    # When the movement takes effect: the end of a usage period, the day money arrived.
    at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime]
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    reference: Mapped[str] = mapped_column(String(140), default="")
    description: Mapped[str] = mapped_column(String(300), default="")
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Usage: what was used ("vm", "extension"), which one, over which period.
    resource_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    period_start: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    period_end: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    quantity: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    unit_price: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    # A reversal or adjustment names the entry it corrects.
    corrects_seq: Mapped[int | None] = mapped_column(SeqType, nullable=True)


class NegativeBalancePeriod(IdMixin, Base):
    """A span during which a prepaid account was below zero (000 §11.2, §5).

    000 §5 suspends SLA penalties (and they are lost) while the account is negative:
    the SLA calculator reads these spans as ``negative_balance`` intervals.
    """

    __tablename__ = "balance_negative_periods"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("billing_accounts.contract_id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class MeteringPeriod(Base):
    """An hour [start, end) the metering has finished: every VM-hour of it is debited.

    The next run starts after the newest finished hour, so a worker that was down
    catches up each missed hour once, in order.
    """

    __tablename__ = "metering_periods"

    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    period_end: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime]
    entries: Mapped[int] = mapped_column(Integer, default=0)


class DebitState(StrEnum):
    """Where a direct-debit collection stands. The account is credited once, at
    ``settled``: a collection on its way is no money yet (000 §13.2: the account is a
    prepayment, credited with money received)."""

    PENDING = "pending"  # requested, waiting for the next pain.008 batch
    IN_BATCH = "in_batch"  # sent to the bank in a batch; not credited
    SETTLED = "settled"  # the bank booked it (statement, or staff): credited once
    RETURNED = "returned"  # the debtor's bank returned it; reversed if it was settled
    CANCELLED = "cancelled"  # its mandate was revoked before it left


# The moves a collection can make; each is a compare-and-swap on the state.
DEBIT_TRANSITIONS: dict[DebitState, frozenset[DebitState]] = {
    DebitState.PENDING: frozenset({DebitState.IN_BATCH, DebitState.CANCELLED}),
    DebitState.IN_BATCH: frozenset({DebitState.SETTLED, DebitState.RETURNED}),
    DebitState.SETTLED: frozenset({DebitState.RETURNED}),  # an R-transaction after booking
    DebitState.RETURNED: frozenset(),
    DebitState.CANCELLED: frozenset(),
}


class DirectDebit(IdMixin, TimestampMixin, Base):
    """One collection under a mandate: pending, sent in a pain.008 batch, then settled
    (the only step that credits the account) or returned (reversed if settled)."""

    __tablename__ = "direct_debits"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("billing_accounts.contract_id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    # The mandate (``payments.models.Mandate``, the one model shared with invoices).
    mandate_id: Mapped[str] = mapped_column(ForeignKey("payments_mandates.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    # The client's or staff's own reference for the request: retries find the first one.
    request_key: Mapped[str] = mapped_column(String(160), unique=True)
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # a DebitState
    # The ``payments_batches`` row (its id is the pain.008 message id).
    batch_id: Mapped[str | None] = mapped_column(String(35), nullable=True, index=True)
    collection_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    sequence_type: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # The top-up entry written at settlement (exactly one per collection).
    topup_seq: Mapped[int | None] = mapped_column(SeqType, nullable=True)
    settled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    returned_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    return_reason: Mapped[str | None] = mapped_column(String(35), nullable=True)


class ExtensionState(StrEnum):
    """Where an extension stands (000 §8)."""

    PENDING = "pending"  # waiting for the Responsable's authorisation
    APPROVED = "approved"  # authorised; runs and is billed over [active_from, ends_at)
    ENDED = "ended"  # its end time passed
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # nobody authorised it before its end time


class Extension(IdMixin, TimestampMixin, Base):
    """Extra VMs, extra resources for one VM, or an extra option, for a limited period,
    billed per extra VM-hour (000 §1 "Extension", §8).

    ``kind``: ``vms`` (``quantity`` VMs of flavour ``item_id`` from ``image_id``, created
    by compute when the extension runs and carrying its id, deleted after its end and
    the grace period); ``resources`` (VM ``vm_id`` gets the vCPU and RAM of flavour
    ``item_id`` for the period, then its own back); ``option`` (an offer option).
    ``released_at`` is set once the extension's VMs are gone or the resources reverted.
    """

    __tablename__ = "extensions"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "vms" | "option"
    item_id: Mapped[str] = mapped_column(String(63))  # a flavour id or an option id
    quantity: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    # max(starts_at, authorisation time): billing runs over [active_from, ends_at).
    active_from: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    requested_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # Set when an automatic policy ordered it (000 §8: "automatiquement").
    policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # kind "vms": the image the extra VMs boot and the SSH keys they get (JSON list).
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ssh_key_ids: Mapped[str] = mapped_column(Text, default="[]")
    # kind "resources": the VM, its own vCPU and RAM (restored at the end), and whether
    # it was running when the extension stopped it to apply them (started again after).
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    base_vcpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    base_ram_mib: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restart: Mapped[bool] = mapped_column(Boolean, default=False)
    released_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ExtensionPolicy(IdMixin, TimestampMixin, Base):
    """An owner's standing authorisation for automatic extensions (000 §8): when the
    contract's VMs run above ``cpu_pct`` for ``sustained_minutes``, add ``quantity`` ×
    ``flavour_id`` for ``duration_hours``, while the month's automatic spend stays
    within ``monthly_budget``."""

    __tablename__ = "extension_policies"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), unique=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cpu_pct: Mapped[int] = mapped_column(Integer)
    sustained_minutes: Mapped[int] = mapped_column(Integer)
    flavour_id: Mapped[str] = mapped_column(String(63))
    quantity: Mapped[int] = mapped_column(Integer)
    duration_hours: Mapped[int] = mapped_column(Integer)
    monthly_budget: Mapped[Decimal] = mapped_column(Amount)
    set_by: Mapped[str | None] = mapped_column(String(36), nullable=True)


class CpuSample(IdMixin, Base):
    """One reading of a VM's cumulative CPU time, taken by the automatic-extension pass
    (000 §8: extension "automatique en cas de manque de ressources détecté"). Two
    readings give the VM's CPU use between them: CPU nanoseconds over host nanoseconds
    per vCPU. ``at`` is the platform clock (which decides "for Y minutes")."""

    __tablename__ = "extension_cpu_samples"
    __table_args__ = (Index("ix_extension_cpu_samples_vm_at", "vm_id", "at"),)

    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    vm_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[dt.datetime]
    cpu_ns: Mapped[int] = mapped_column(BigInteger)
    host_ns: Mapped[int] = mapped_column(BigInteger)
    vcpus: Mapped[int] = mapped_column(Integer)


# Database-side rules of the ledger, created by migration 0004 (and by tests that build
# the schema from the migrations). Entries are append-only; the account balance moves
# with every inserted entry in the same statement.
LEDGER_SQL = {
    "sqlite": [
        """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END""",
        """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END""",
        """CREATE TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
        BEGIN UPDATE billing_accounts SET balance = balance + NEW.amount
        WHERE contract_id = NEW.contract_id; END""",
    ],
    "postgresql": [
        # nuages_append_only() comes from migration 0001 (history).
        """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE
        ON ledger_entries FOR EACH ROW EXECUTE FUNCTION nuages_append_only()""",
        # One UPDATE per account per statement (not per row): a metering batch of
        # thousands of entries moves each balance once.
        """CREATE OR REPLACE FUNCTION nuages_ledger_balance() RETURNS trigger AS $$
        BEGIN
          UPDATE billing_accounts AS a SET balance = a.balance + s.total
          FROM (SELECT contract_id, sum(amount) AS total FROM new_entries
                GROUP BY contract_id) AS s
          WHERE a.contract_id = s.contract_id;
          RETURN NULL;
        END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
        REFERENCING NEW TABLE AS new_entries
        FOR EACH STATEMENT EXECUTE FUNCTION nuages_ledger_balance()""",
    ],
}
DROP_LEDGER_SQL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS ledger_entries_no_update",
        "DROP TRIGGER IF EXISTS ledger_entries_no_delete",
        "DROP TRIGGER IF EXISTS ledger_entries_balance",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
        "DROP TRIGGER IF EXISTS ledger_entries_balance ON ledger_entries",
        "DROP FUNCTION IF EXISTS nuages_ledger_balance()",
    ],
}
