"""The portal's own rows: forms already sent (one order, one VM) and password-reset
tokens (stored as digests only); failed sign-ins are ``accounts.lockout``'s (shared
with the API's sign-in), re-exported here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.accounts.lockout import SignInFailure
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin

__all__ = ["FormUse", "ResetToken", "SignInFailure"]


class FormUse(IdMixin, Base):
    """A form's one-time token, claimed in the transaction of the act it asks for: a
    second submission of the same form finds it and is shown the first one's result."""

    __tablename__ = "portal_form_uses"

    once: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    result_url: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class ResetToken(IdMixin, Base):
    """A password-reset link sent by e-mail: its SHA-256 digest, expiry and use."""

    __tablename__ = "portal_reset_tokens"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
