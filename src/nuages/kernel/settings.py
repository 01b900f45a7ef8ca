"""Settings, read from the environment (``NUAGES_*``) with safe embedded defaults.

The defaults run everything on one machine: a SQLite file and job queue under
``data_dir`` and the local libvirt. Naming a PostgreSQL URL or a Redis URL switches the
storage; drivers are chosen here, never by ``if`` in a service.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/nuages")
    return Path.home() / ".local" / "share" / "nuages"


class Settings(BaseSettings):
    """Every knob of an installation; each one is an ``NUAGES_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="NUAGES_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8700
    offers_dir: Path | None = None
    libvirt_uri: str = "qemu:///system"
    network_mode: str = "user"
    max_body_bytes: int = 1_048_576
    # POST /api/v1/bank-statements only (a month of CAMT.053 exceeds 1 MiB): its own limit.
    max_statement_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # Database connections and lock waits (17.1): the pool each process keeps, how long a
    # request waits for a pooled connection and how long a writer waits for a lock
    # (SQLite busy_timeout, PostgreSQL lock_timeout) before the API answers 503.
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    db_pool_timeout: float = Field(default=10.0, gt=0, le=600)
    db_lock_timeout: float = Field(default=10.0, gt=0, le=600)
    # Requests handled at once by the API (default: 4 per CPU, at most the pool's size
    # plus overflow, so every admitted request gets a connection); the others wait in
    # line up to api_queue_timeout seconds, then get 503 with Retry-After.
    api_max_in_flight: int | None = Field(default=None, ge=1, le=10_000)
    api_queue_timeout: float = Field(default=10.0, gt=0, le=600)
    api_retry_after: int = Field(default=2, ge=1, le=3600)
    reconcile_seconds: int = 30
    token_days: int = 90
    # Refused writes recorded in the history, per API token and per client address: a
    # burst, then this many a second (api/refusals.py); past it, 429 + Retry-After.
    refusals_burst_per_token: int = Field(default=120, ge=1)
    refusals_per_second_per_token: float = Field(default=2.0, ge=0)
    refusals_burst_per_address: int = Field(default=300, ge=1)
    refusals_per_second_per_address: float = Field(default=5.0, ge=0)
    # Seller identities, one TOML file per legal entity, keyed by the provider the
    # offers name (nuages.sellers.identity); default <data_dir>/sellers.
    sellers_dir: Path | None = None
    # How card payments are taken: "terminal" (the provider's own card terminal or
    # acquirer portal; staff record its authorisation reference).
    seller_card_provider: str = "terminal"
    # Notices (docs/notices.md): an SMTP URL (smtp://user:pass@host:587?starttls=1,
    # smtps://host:465) sends them; without one they are written as .eml files under
    # <data_dir>/outbox (the file drop of a single-machine install).
    smtp_url: str | None = None
    mail_from: str = "nuages@localhost"
    smtp_timeout: float = Field(default=30.0, gt=0)
    notice_max_attempts: int = Field(default=8, ge=1)
    notice_backoff_seconds: int = Field(default=60, ge=1)
    # Observability (issue 14, docs/metrics.md, docs/console.md). GET /metrics answers
    # only clients on loopback unless a token is set: then only `Bearer <token>`.
    metrics_token: str | None = None
    # How long a console token may wait to be redeemed (single use).
    console_ticket_seconds: int = Field(default=60, ge=5, le=600)
    # The front-end packages (assets/<name>/node_modules); default: the checkout's assets/.
    assets_dir: Path | None = None
    # portal (issue #12): how long `nuages up` waits for the local libvirt when it
    # registers it as a host (a hanging /dev/kvm must not stop the start).
    up_libvirt_timeout: float = Field(default=30.0, gt=0, le=600)
    # payments (issue 15): the shared secret a "webhook" card provider signs its events
    # with (HMAC-SHA256, Stripe-compatible header); empty: the webhook route refuses all.
    card_webhook_secret: str = ""
    # Bounces (docs/notices.md): each notice leaves with the envelope sender
    # bounces+<notice id>@<bounce domain> (default: NUAGES_MAIL_FROM's domain); the
    # provider's MX forwards mail for that domain to the listener (`nuages notices
    # bounces serve`, loopback or private address only) or delivers it into a Maildir
    # the worker reads each minute.
    bounce_domain: str | None = None
    bounce_listen: str = "127.0.0.1:2525"
    bounce_maildir: Path | None = None
    # reversibility (issue #21): the Ed25519 key signing erasure records; default
    # <data_dir>/keys/erasure-signing.pem, generated at first use (docs/reversibility.md).
    erasure_signing_key_file: Path | None = None
    # False: the envelope sender stays NUAGES_MAIL_FROM (a submission server that refuses
    # a sender other than its login); bounces are then matched by Message-ID only.
    bounce_verp: bool = True

    @property
    def effective_bounce_domain(self) -> str:
        return self.bounce_domain or self.mail_from.rpartition("@")[2] or "localhost"

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one, else a SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'nuages.db'}"


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
