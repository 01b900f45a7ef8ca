"""Contract models: offer versions and contracts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
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
