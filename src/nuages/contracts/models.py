"""Contract models: offer versions and contracts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Dialect, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from nuages.kernel.db import Base, IdMixin, TimestampMixin


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal kept as text (SQLite's NUMERIC is a binary float): a revision
    factor keeps every digit the formula gave."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class OfferVersion(Base):
    """The exact terms file a contract accepted, kept so old contracts keep old terms
    (000 §4: on refusal, running services continue under the former terms)."""

    __tablename__ = "offer_versions"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(63), index=True)
    content: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime]


class Contract(IdMixin, TimestampMixin, Base):
    """A client's acceptance of one offer version: its state, dates and term."""

    __tablename__ = "contracts"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    offer_id: Mapped[str] = mapped_column(String(63), index=True)
    offer_hash: Mapped[str] = mapped_column(ForeignKey("offer_versions.content_hash"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    accepted_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    accepted_at: Mapped[dt.datetime]
    # When the contract became active: 000 §13.3 anniversaries count from here.
    activated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    term_ends_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    state_reason: Mapped[str] = mapped_column(String(500), default="")
    # The state a suspension returns to once its last hold is lifted (active or ending).
    resumes_to: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # 002 §3.6 Cloud Datacenter: the firewall tier (standard | advanced) chosen at order,
    # billed as its catalogue option for as long as the contract runs.
    firewall_tier: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ContractHold(IdMixin, TimestampMixin, Base):
    """One reason a contract is suspended (SPEC §11): a contract is suspended while at
    least one hold is open; lifting one leaves the others in force (``holds.py``).

    The ground is one of the terms file's suspension grounds (or a staff decision), its
    clause copied from there; ``lifted_at`` is null while the hold is open. At most one
    hold per ground is open on a contract at a time (partial unique index): placing the
    same ground twice is one hold.

    ``scope``: ``contract`` (the contract suspended, every VM paused) or ``network`` (a
    partial suspension, 000 §11.1 "bloquer une ou plusieurs Machines Virtuelles", 004 §9:
    only the network of the VMs compute's network cut names is cut; the contract keeps
    its state). The unique index is per scope too.
    """

    __tablename__ = "contract_holds"
    __table_args__ = (
        Index(
            "uq_contract_holds_open_ground",
            "contract_id",
            "ground",
            "scope",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    ground: Mapped[str] = mapped_column(String(63))
    clause: Mapped[str] = mapped_column(String(63), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at: Mapped[dt.datetime]
    expected_end_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    lifted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)
    lift_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # 000 §11.1: a suspension manifestly wrongful is not billed; staff say so on lifting.
    wrongful: Mapped[bool] = mapped_column(default=False)
    scope: Mapped[str] = mapped_column(String(16), default="contract", server_default="contract")


# ------------------------------------------------------------- the contract's life (#21)


class ContractTermination(IdMixin, TimestampMixin, Base):
    """A termination on its way: a notice to quit (client or provider) or a termination
    by the provider for a ground (breach, force majeure, negative balance, a hold over
    15 days), with the moment it takes effect (``ending.py`` causes).

    ``dated_at`` is the moment the notice counts from (its receipt, or 003 §13.1.5 the
    postmark of its first presentation); ``effective_at`` is computed in the contract's
    calendar (001 §3.2, 003 §13.1.4, 004 §5). ``state``: ``pending`` until the daily job
    ends the contract at ``effective_at`` (``effective``), or ``withdrawn``. At most one
    pending termination per contract (partial unique index): notice is given once.
    """

    __tablename__ = "contract_terminations"
    __table_args__ = (
        Index(
            "uq_contract_terminations_pending",
            "contract_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    cause: Mapped[str] = mapped_column(String(32))
    clause: Mapped[str] = mapped_column(String(63), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    given_by: Mapped[str] = mapped_column(String(100))
    dated_at: Mapped[dt.datetime]
    effective_at: Mapped[dt.datetime] = mapped_column(index=True)
    # A penalty-free exit (003 §14.3, §14.4; 004 §4, §8.1): which window it used.
    penalty_free: Mapped[str] = mapped_column(String(63), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    done_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ContractFormalNotice(IdMixin, TimestampMixin, Base):
    """A formal notice (mise en demeure) or a force-majeure event recorded by staff: the
    contract becomes terminable once ``terminable_from`` is reached (000 §16 15 clear
    days, 001 §3.3 30 days, 003 §13.1.2 8 days; 003 §9 30 days), unless it is closed
    (remedied) first. ``automatic_at`` (003 §9: 2 months of force majeure) is when the
    daily job gives the automatic termination notice itself."""

    __tablename__ = "contract_formal_notices"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    ground: Mapped[str] = mapped_column(String(32))
    clause: Mapped[str] = mapped_column(String(63), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    given_by: Mapped[str] = mapped_column(String(100))
    given_at: Mapped[dt.datetime]
    terminable_from: Mapped[dt.datetime]
    automatic_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    close_reason: Mapped[str] = mapped_column(String(500), default="")


class ContractTermsChange(IdMixin, TimestampMixin, Base):
    """A new version of the offer announced to one contract (000 §4, 004 §3, 003 §14.4).

    ``refusable_until`` is the exclusive end of the refusal window (null when the change
    is imposed by law, 000 §4, or the offer gives no refusal); ``state``: ``open`` while
    the window runs, ``refused`` (old terms kept, ``refused_at`` and the registered
    letter's ``letter_date``), ``migrated`` once the contract moved to ``to_hash``
    (silence is acceptance). One row per contract and new version."""

    __tablename__ = "contract_terms_changes"
    __table_args__ = (
        Index("uq_contract_terms_changes_version", "contract_id", "to_hash", unique=True),
    )

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    from_hash: Mapped[str] = mapped_column(String(64))
    to_hash: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(500), default="")
    imposed_by_law: Mapped[bool] = mapped_column(default=False)
    announced_at: Mapped[dt.datetime]
    in_force_at: Mapped[dt.datetime]
    refusable_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # 003 §14.4: the client may terminate without penalty until then.
    exit_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    refused_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    letter_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    refused_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    migrated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ContractPriceRevision(IdMixin, TimestampMixin, Base):
    """A yearly price revision applied to one contract from ``effective_at`` (000 §13.3,
    004 §8.1, 003 §14.3): every price of the contract is multiplied by ``factor`` from
    then; ``cumulative`` is the product with the earlier revisions (what a price read on
    a day after it is multiplied by). ``exit_until``: 003 §14.3 the client may
    terminate without penalty until then. One revision per contract and date."""

    __tablename__ = "contract_price_revisions"
    __table_args__ = (
        Index("uq_contract_price_revisions_at", "contract_id", "effective_at", unique=True),
    )

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    effective_at: Mapped[dt.datetime]
    factor: Mapped[Decimal] = mapped_column(DecimalText())
    cumulative: Mapped[Decimal] = mapped_column(DecimalText())
    capped: Mapped[bool] = mapped_column(default=False)
    clause: Mapped[str] = mapped_column(String(63), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    decided_by: Mapped[str] = mapped_column(String(100))
    exit_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
