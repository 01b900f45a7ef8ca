"""The outbox: one row per notice, and one row per delivery attempt.

A notice is written in the transaction of the act it announces (so a crash loses both
or neither) and delivered afterwards by the worker (``delivery.deliver_pass``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin


class Notice(IdMixin, TimestampMixin, Base):
    """One legal message: its kind and clause, who it goes to, what it says, and where
    its delivery stands (queued → sending → sent, or failed with the reason)."""

    __tablename__ = "notices"

    kind: Mapped[str] = mapped_column(String(48))
    clause: Mapped[str] = mapped_column(String(64))
    # None for a notice to provider staff (a password reset link, issue #12).
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("clients.id"), nullable=True, index=True
    )
    contract_id: Mapped[str | None] = mapped_column(
        ForeignKey("contracts.id"), nullable=True, index=True
    )
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    # One notice per act: the same act asked twice (a job delivered twice) queues one.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[str] = mapped_column(String(16))  # "read" | "billing" (members: 000 §5)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    recipients: Mapped[str] = mapped_column(Text)  # JSON list of addresses
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of references
    legal_ref: Mapped[str] = mapped_column(Text, default="")
    # <notice id@sender domain>: the same on every attempt, checked before each one.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    # While sending: "connect" (nothing handed over yet) or "data" (the message body is
    # on its way; a crash then leaves the outcome unknown, never guessed).
    phase: Mapped[str | None] = mapped_column(String(16), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utc_now, index=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class NoticeAttempt(IdMixin, Base):
    """One delivery attempt and the server's answer (accepted, deferred, refused…)."""

    __tablename__ = "notice_attempts"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    mailer: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted|deferred|refused|interrupted
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reply: Mapped[str] = mapped_column(String(500), default="")
