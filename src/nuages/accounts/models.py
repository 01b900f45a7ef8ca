"""Account models: clients, users and API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.db import Base, IdMixin, TimestampMixin


class Client(IdMixin, TimestampMixin, Base):
    """A customer of the provider: a business, or a consumer where 003 §12 applies."""

    __tablename__ = "clients"

    kind: Mapped[str] = mapped_column(String(16))  # "business" | "consumer"
    legal_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    billing_email: Mapped[str] = mapped_column(String(254))
    # Postal address (EN 16931 BG-8, BT-50..54; BT-55 is ``country``): invoices need it
    # (French C. com. art. L441-9: the buyer's address).
    address_line1: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="", server_default="")
    postcode: Mapped[str] = mapped_column(String(16), default="", server_default="")
    city: Mapped[str] = mapped_column(String(100), default="", server_default="")
    region: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # The client's data protection officer or GDPR contact (Art. 30.2, 001 §16.4, §16.7):
    # GDPR notices go there (notices rule "dpo"); set through /clients/{id}/gdpr/dpo.
    dpo_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    dpo_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    dpo_phone: Mapped[str] = mapped_column(String(40), default="", server_default="")


class User(IdMixin, TimestampMixin, Base):
    """A person who signs in: provider staff (no client) or a client's user."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # 000 §4, §8: one owner may be designated to receive and decide on terms changes
    # and extensions.
    is_terms_decider: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiToken(IdMixin, TimestampMixin, Base):
    """An API token: shown once, stored as a SHA-256 digest, scoped, expiring, revocable.

    Tokens carry 256 random bits, so a fast digest is enough (unlike passwords, nothing
    can be guessed); the short ``lookup`` part finds the row without scanning.
    """

    __tablename__ = "api_tokens"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The token that minted this one (POST /tokens); None for a password sign-in or
    # the CLI. Revoking a token revokes everything it minted, at any depth. No foreign
    # key: a parent and its children belong to one user and go with it.
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
