"""Console tickets: the single-use, short-lived tokens that open a VM's console
(002 §3 "console directe"; issue 14.3)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, UTCDateTime


class ConsoleTicket(IdMixin, Base):
    """A token a user who may operate the VM asked for; only its SHA-256 is kept.

    Redeemed at most once (``used_at`` set by a compare-and-swap) and only before
    ``expires_at``; ``closed_at`` is when the console session it opened ended.
    ``kind``: ``serial`` or ``vnc``.
    """

    __tablename__ = "console_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    user_id: Mapped[str] = mapped_column(String(36))
    user_label: Mapped[str] = mapped_column(String(255))  # the e-mail, for the history
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
