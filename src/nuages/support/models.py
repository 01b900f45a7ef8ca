"""Support tables: tickets and their messages, managed-service change requests (the
contract's service agreement lives in ``managed/``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.invoicing.models import Cents
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


class Ticket(IdMixin, TimestampMixin, Base):
    """A support ticket: category, VM, severity, and its business-hours deadlines fixed
    when it was opened (001 §10.2 hours; 003 §5.1.3 intervention; 002 §3.8.3 updates)."""

    __tablename__ = "support_tickets"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(16))  # incident|question|update|request
    severity: Mapped[str] = mapped_column(String(16))  # critical|high|normal|low
    subject: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)  # open|answered|closed
    opened_by: Mapped[str] = mapped_column(String(36))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    in_hours: Mapped[bool] = mapped_column(Boolean)
    intervention_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    update_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failure_notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class TicketMessage(IdMixin, Base):
    """One message of a ticket; a staff intervention outside business hours carries its
    minutes and the charge it put on the next invoice (001 §10.3)."""

    __tablename__ = "support_ticket_messages"

    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[str] = mapped_column(String(36))
    staff: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    intervention_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    out_of_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    provider_at_fault: Mapped[bool] = mapped_column(Boolean, default=False)
    charge_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class ChangeRequest(IdMixin, TimestampMixin, Base):
    """A managed-service change request (002 §3.8.4): standard (free within the month's
    quota), significant (catalogue price) or major (on quote); the price the client
    accepted and the charge it became."""

    __tablename__ = "support_change_requests"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # standard | significant | major
    description: Mapped[str] = mapped_column(String(2000))
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, contract-local
    within_quota: Mapped[bool] = mapped_column(Boolean, default=False)
    price: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    price_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))  # accepted | awaiting_quote | quoted | declined
    requested_by: Mapped[str] = mapped_column(String(36))
    charge_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
