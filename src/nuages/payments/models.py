"""The bank statements imported: one row per file, so a statement imported twice is
recognised (its lines are each booked once anyway, by their own keys)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.db import Base, IdMixin, UTCDateTime


class Statement(IdMixin, Base):
    """A CAMT.053 / CAMT.054 file as imported, with its line-by-line report (JSON)."""

    __tablename__ = "payments_statements"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(140), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # camt.053 | camt.054
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str] = mapped_column(String(64))
    report: Mapped[str] = mapped_column(Text)
