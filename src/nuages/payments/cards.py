"""Card payments confirmed by the provider's signed webhook (000 §3.1, §13.2: the
payment, and so the contract, is formed when the provider confirms the transaction).

The signature scheme is the one Stripe uses (and several acquirers copy): the header
``Nuages-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256 over
``"<t>.<raw body>"`` with the shared secret (``NUAGES_CARD_WEBHOOK_SECRET``). An event is
accepted only when one ``v1`` matches (constant-time comparison) and ``t`` is within
``TOLERANCE`` of now (a replayed old event is refused); the event id then makes it
idempotent for whoever books it. An event pays exactly one thing, named in its
``data.metadata``: ``invoice`` (an invoice number) or ``topup_contract`` (the contract
whose prepaid account it tops up, 000 §13.2).

The ``CardProvider`` protocol (DESIGN.md "Drivers") lives here too, below billing and
invoicing, so both take card payments through the provider the settings choose
(``NUAGES_SELLER_CARD_PROVIDER``). Pure: no database, no network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.settings import get_settings

HEADER = "Nuages-Signature"
TOLERANCE = dt.timedelta(minutes=5)


def sign(secret: str, body: bytes, at: dt.datetime) -> str:
    """The header value a provider sends for ``body`` at ``at``."""
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class CardEvent:
    """A verified provider event: a captured card payment."""

    event_id: str
    kind: str  # payment.succeeded
    provider_ref: str
    amount: Decimal
    currency: str
    invoice_number: str | None  # data.metadata.invoice: the event pays this invoice
    topup_contract: str | None  # data.metadata.topup_contract: it tops up this account
    occurred_at: dt.datetime


def verify(secret: str, body: bytes, header: str | None) -> CardEvent:
    """The event, once its signature and age are checked; 422 naming what is wrong."""
    if not secret:
        raise ValidationFailed("signature: no card webhook secret is configured")
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or not parts.get("v1"):
        raise ValidationFailed(f"signature: the {HEADER} header is missing or malformed")
    expected = sign(secret, body, dt.datetime.fromtimestamp(int(stamps[0]), dt.UTC))
    wanted = expected.split("v1=", 1)[1]
    if not any(hmac.compare_digest(wanted, given) for given in parts["v1"]):
        raise ValidationFailed("signature: does not match the body")
    at = dt.datetime.fromtimestamp(int(stamps[0]), dt.UTC)
    if abs(utc_now() - at) > TOLERANCE:
        raise ValidationFailed("signature: too old or from the future (replay refused)")
    return _event(body, at)


def _event(body: bytes, at: dt.datetime) -> CardEvent:
    try:
        data = json.loads(body)
        payment = data["data"]
        amount = Decimal(str(payment["amount"]))
        metadata = payment["metadata"]
        invoice, contract = (_named(metadata, key) for key in ("invoice", "topup_contract"))
        event = CardEvent(
            event_id=str(data["id"])[:80],
            kind=str(data["type"]),
            provider_ref=str(payment["id"])[:100],
            amount=amount,
            currency=str(payment["currency"]).upper(),
            invoice_number=invoice,
            topup_contract=contract,
            occurred_at=at,
        )
    except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError):
        raise ValidationFailed("event: not a card payment event this provider sends") from None
    if (invoice is None) == (contract is None):
        # One event, one payment: it pays an invoice or tops up an account, never both
        # and never neither (nothing booked on a guess).
        raise ValidationFailed(
            "event: data.metadata must name exactly one of invoice (an invoice number) "
            "or topup_contract (a prepaid contract id)"
        )
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("event: amount must be positive with at most 2 decimals")
    return event


def _named(metadata: dict[str, object], key: str) -> str | None:
    """``metadata[key]`` as a non-blank string, or None when absent, null or blank."""
    value = metadata.get(key)
    if value is None or not str(value).strip():
        return None
    return str(value).strip()[:100]


@dataclass(frozen=True)
class CardCapture:
    """A card payment as the provider confirmed it."""

    provider_ref: str
    amount: Decimal


class CardProvider(Protocol):
    """A card payment service (DESIGN.md "Drivers": one Protocol per external system).

    Only the capture side exists: nuages starts no card payment itself (no checkout
    session, no payment page); the client pays on the provider's terminal or page and
    the provider's confirmation (a terminal reference or a signed event) books it."""

    name: str

    def capture(
        self, *, amount: Decimal, currency: str, reference: str, idempotency_key: str
    ) -> CardCapture:
        """Confirm that ``amount`` was captured for ``reference``.

        Pre: ``amount`` > 0. Post: the returned capture names the provider's own
        reference; raises ``ValidationFailed`` when the provider has no such payment.
        The same ``idempotency_key`` never captures twice.
        """
        ...


class TerminalProvider:
    """Card payments taken on the provider's own terminal or acquirer portal: the
    payment already happened there, and staff record its authorisation reference.
    nuages talks to no card network itself (no card data ever reaches it)."""

    name = "terminal"

    def capture(
        self, *, amount: Decimal, currency: str, reference: str, idempotency_key: str
    ) -> CardCapture:
        """Accept the terminal's authorisation reference as the capture."""
        if not reference.strip():
            raise ValidationFailed("reference: the terminal's authorisation reference is needed")
        return CardCapture(provider_ref=reference.strip(), amount=amount)


class WebhookProvider:
    """Card payments an online provider confirms by a signed webhook (``verify``).
    Staff do not record them by hand: the provider's confirmation books them, so a
    payment recorded by hand could not be booked a second time by its event."""

    name = "webhook"

    def capture(
        self, *, amount: Decimal, currency: str, reference: str, idempotency_key: str
    ) -> CardCapture:
        """Refused: the provider's signed event is the only proof of this payment."""
        raise ValidationFailed(
            "means: card payments are booked by the provider's signed webhook "
            "(POST /api/v1/card-webhooks), not recorded by hand"
        )


CARD_PROVIDERS: dict[str, type[TerminalProvider] | type[WebhookProvider]] = {
    "terminal": TerminalProvider,
    "webhook": WebhookProvider,
}


def card_provider() -> CardProvider:
    """The card provider the settings name (``NUAGES_SELLER_CARD_PROVIDER``)."""
    name = get_settings().seller_card_provider
    if name not in CARD_PROVIDERS:
        raise ValidationFailed(f"unknown card provider {name!r}")
    return CARD_PROVIDERS[name]()
