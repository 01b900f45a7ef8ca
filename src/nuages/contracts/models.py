"""Contract models: offer versions and contracts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.db import Base, IdMixin, TimestampMixin


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


class ContractHold(IdMixin, TimestampMixin, Base):
    """One reason a contract is suspended (SPEC §11): a contract is suspended while at
    least one hold is open; lifting one leaves the others in force (``holds.py``).

    The ground is one of the terms file's suspension grounds (or a staff decision), its
    clause copied from there; ``lifted_at`` is null while the hold is open. At most one
    hold per ground is open on a contract at a time (partial unique index): placing the
    same ground twice is one hold.
    """

    __tablename__ = "contract_holds"
    __table_args__ = (
        Index(
            "uq_contract_holds_open_ground",
            "contract_id",
            "ground",
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
