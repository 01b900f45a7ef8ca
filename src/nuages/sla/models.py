"""Failure notices: the client's "Notification de Défaillance" of a VM (002 §6).

Append-only: a notice is a fact with its date; unavailability of the VM counts from the
earlier of its detection and the notice (``nuages.terms.calc.sla.with_failure_notices``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, UTCDateTime


class FailureNotice(IdMixin, Base):
    """One failure notice of a VM, recorded when the client sent it (``noticed_at``)."""

    __tablename__ = "failure_notices"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    noticed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(String(2000))
    # The user who filed it (a staff member recording a notice received by telephone or
    # e-mail is named here, the notice stays the client's).
    filed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
