"""The outbox: one row per notice, and one row per delivery attempt.

A notice is written in the transaction of the act it announces (so a crash loses both
or neither) and delivered afterwards by the worker (``delivery.deliver_pass``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


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
    # A legal notice that bounced after a server accepted it: what staff must do to get
    # it to the client another way (notices/bounces.py); "" otherwise.
    alert: Mapped[str] = mapped_column(String(1000), default="", server_default="")


class NoticeAttempt(IdMixin, Base):
    """One delivery attempt and the server's answer (accepted, deferred, refused…)."""

    __tablename__ = "notice_attempts"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    mailer: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted|deferred|refused|interrupted
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reply: Mapped[str] = mapped_column(String(500), default="")


class BounceMail(IdMixin, Base):
    """One message received at the bounce address (SMTP listener or Maildir), kept
    whatever it is: ``matched`` (its notice found), ``unknown`` (a readable DSN naming
    no notice of ours), ``unparsable`` (no DSN and no notice: kept for staff to read).
    ``dsn_key`` (its Message-ID, else a hash of its bytes) makes a second copy a no-op."""

    __tablename__ = "notice_bounce_mail"

    dsn_key: Mapped[str] = mapped_column(String(300), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)
    source: Mapped[str] = mapped_column(String(16))  # smtp | maildir | file
    envelope_to: Mapped[str] = mapped_column(String(500), default="")
    sender: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # the first MiB, as received


class NoticeBounce(IdMixin, Base):
    """What a DSN reported for one recipient of one notice: a permanent failure (the
    notice is then ``bounced``) or a delay (recorded, the notice stays sent)."""

    __tablename__ = "notice_bounces"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    mail_id: Mapped[str] = mapped_column(ForeignKey("notice_bounce_mail.id", ondelete="CASCADE"))
    # notice | recipient | action | the DSN's key: the same report twice is one row.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    recipient: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="")
    permanent: Mapped[bool] = mapped_column(default=False)
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    remote_mta: Mapped[str] = mapped_column(String(200), default="")
    reporting_mta: Mapped[str] = mapped_column(String(200), default="")
    guessed: Mapped[bool] = mapped_column(default=False)
