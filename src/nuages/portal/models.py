"""The portal's own rows: forms already sent (one order, one VM), failed sign-ins
(rate limit and lockout) and password-reset tokens (stored as digests only)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin


class FormUse(IdMixin, Base):
    """A form's one-time token, claimed in the transaction of the act it asks for: a
    second submission of the same form finds it and is shown the first one's result."""

    __tablename__ = "portal_form_uses"

    once: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    result_url: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class SignInFailure(IdMixin, Base):
    """One failed sign-in for an e-mail address (known or not: the lockout never tells
    which addresses exist)."""

    __tablename__ = "portal_sign_in_failures"

    email: Mapped[str] = mapped_column(String(320), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utc_now, index=True)


class ResetToken(IdMixin, Base):
    """A password-reset link sent by e-mail: its SHA-256 digest, expiry and use."""

    __tablename__ = "portal_reset_tokens"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
