"""Card payments confirmed by the provider's signed webhook (000 §3.1, §13.2: the
payment, and so the contract, is formed when the provider confirms the transaction).

The signature scheme is the one Stripe uses (and several acquirers copy): the header
``Nuages-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256 over
``"<t>.<raw body>"`` with the shared secret (``NUAGES_CARD_WEBHOOK_SECRET``). An event is
accepted only when one ``v1`` matches (constant-time comparison) and ``t`` is within
``TOLERANCE`` of now (a replayed old event is refused); the event id then makes it
idempotent for whoever books it. Pure: no database, no network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed

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
    invoice_number: str
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
        event = CardEvent(
            event_id=str(data["id"])[:80],
            kind=str(data["type"]),
            provider_ref=str(payment["id"])[:100],
            amount=amount,
            currency=str(payment["currency"]).upper(),
            invoice_number=str(payment["metadata"]["invoice"]),
            occurred_at=at,
        )
    except (ValueError, KeyError, TypeError, InvalidOperation):
        raise ValidationFailed("event: not a card payment event this provider sends") from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("event: amount must be positive with at most 2 decimals")
    return event
