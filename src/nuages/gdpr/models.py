"""GDPR tables: sub-processors, breaches and whom each was notified to, audits, staff
access grants to a client's personal data (001 §15.3, §16.7–16.9)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.invoicing.models import Micros
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


class SubProcessor(IdMixin, TimestampMixin, Base):
    """One sub-processor of the provider, provider-wide (001 §16.9, §5.5): its country
    decides whether using it is a transfer outside the EU. Replaced, it keeps its row
    with ``ended_at`` and ``replaced_by_id`` (the register's history)."""

    __tablename__ = "gdpr_subprocessors"

    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(300), default="")
    # Only for a country without an EU adequacy decision: the Art. 46 instrument
    # (e.g. "standard contractual clauses 2021/914").
    safeguard: Mapped[str] = mapped_column(String(300), default="")
    active_from: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    replaced_by_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Breach(IdMixin, Base):
    """A personal-data breach with every item 001 §16.7 (ii) lists; ``detected_at`` is
    kept beside the sending time of each client's notice (``BreachNotification``)."""

    __tablename__ = "gdpr_breaches"

    summary: Mapped[str] = mapped_column(String(500))
    circumstances: Mapped[str] = mapped_column(Text)
    nature: Mapped[str] = mapped_column(String(500))
    data_concerned: Mapped[str] = mapped_column(Text)
    data_volume: Mapped[str] = mapped_column(String(300))
    person_categories: Mapped[str] = mapped_column(String(500))
    persons_count: Mapped[int] = mapped_column(Integer)
    consequences: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    scope: Mapped[str] = mapped_column(Text)  # JSON: what was hit (hosts, sites, clients)
    opened_by: Mapped[str] = mapped_column(String(36))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class BreachNotification(IdMixin, Base):
    """One affected client of a breach and the notice that informs it; the notice's
    ``sent_at`` is the sending time."""

    __tablename__ = "gdpr_breach_notifications"

    breach_id: Mapped[str] = mapped_column(
        ForeignKey("gdpr_breaches.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    notice_id: Mapped[str] = mapped_column(String(36))


class Audit(IdMixin, TimestampMixin, Base):
    """An audit the client announced (001 §16.8): when it starts, how much notice was
    given in the contract's calendar, and the provider's hours once done (beyond the
    free hours they are billed on the next invoice)."""

    __tablename__ = "gdpr_audits"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    auditor: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(1000))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    starts_on: Mapped[dt.date] = mapped_column(Date)
    earliest_start: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))  # scheduled | done
    provider_hours: Mapped[Decimal | None] = mapped_column(Micros(), nullable=True)
    billed_hours: Mapped[Decimal | None] = mapped_column(Micros(), nullable=True)
    charge_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class StaffAccess(IdMixin, Base):
    """A staff member's access to a client's personal data (001 §15.3): only with a
    recorded reason, until it expires or is revoked; each use is in the history."""

    __tablename__ = "gdpr_staff_accesses"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    staff_user_id: Mapped[str] = mapped_column(String(36), index=True)
    staff_email: Mapped[str] = mapped_column(String(254))
    what: Mapped[str] = mapped_column(String(32))  # users | consoles | data
    reason: Mapped[str] = mapped_column(String(1000))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
