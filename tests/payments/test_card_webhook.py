"""Card payments confirmed by the provider's signed webhook (000 §3.1, §13.2: formed when
the provider confirms the transaction; issue 15).

What is real here: the app runs under uvicorn on a loopback port and the test posts to
it over HTTP, as a provider would, with the Stripe-compatible signature
(``payments.cards.sign``: HMAC-SHA256 over ``t.body``). What is not: no real card
provider is reached (this machine only talks to loopback); the test plays the
provider's part by signing with the shared secret."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.billing.models import LedgerEntry
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.invoicing.models import Payment
from nuages.kernel import settings as settings_module
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.payments import cards
from tests.billing.factories import order
from tests.factories import World
from tests.invoicing.factories import Billing, utc
from tests.payments.test_statements import _invoice, _state

SECRET = "whsec_test_0123456789"


@pytest.fixture
def server(
    settings: Settings, database: Database, offers: OfferRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1, the webhook provider chosen by settings."""
    monkeypatch.setenv("NUAGES_SELLER_CARD_PROVIDER", "webhook")
    monkeypatch.setenv("NUAGES_CARD_WEBHOOK_SECRET", SECRET)
    settings_module.get_settings.cache_clear()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings, database, offers)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not served.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(10)
        settings_module.get_settings.cache_clear()


def _payments(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Payment)).scalar_one())


def _event(number: str, amount: Decimal, event_id: str = "evt_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment.succeeded",
            "data": {
                "id": "pay_42",
                "amount": str(amount),
                "currency": "eur",
                "metadata": {"invoice": number},
            },
        }
    ).encode()


def _post(url: str, body: bytes, signature: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/card-webhooks",
        content=body,
        headers={"content-type": "application/json", cards.HEADER: signature},
        timeout=30,
    )


def test_signed_card_webhook_pays_the_invoice_once_over_http(
    server: str, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A signed ``payment.succeeded`` for the invoice pays it (card, the provider's
    reference kept); the provider redelivering the same event books nothing more."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    set_now(utc(2026, 3, 5, 10))
    body = _event(invoice.number, invoice.due_payable)
    r = _post(server, body, cards.sign(SECRET, body, utc_now()))
    assert r.status_code == 200, r.text
    assert (r.json()["means"], r.json()["provider_ref"]) == ("card", "pay_42")
    assert _state(database, invoice.id) == "paid"
    again = _post(server, body, cards.sign(SECRET, body, utc_now()))
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert _payments(database) == 1


def test_card_webhook_refuses_forged_stale_and_unknown_events(
    server: str, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A wrong secret, a body changed after signing, an event signed 6 minutes ago (more
    than the 5-minute tolerance: a replay) and an unknown invoice: each a 422 naming
    the problem, nothing booked."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    set_now(utc(2026, 3, 5, 10))
    body = _event(invoice.number, invoice.due_payable)
    forged = _post(server, body, cards.sign("not-the-secret", body, utc_now()))
    assert forged.status_code == 422 and "signature" in forged.json()["detail"]
    tampered = body.replace(b'"pay_42"', b'"pay_43"')
    changed = _post(server, tampered, cards.sign(SECRET, body, utc_now()))
    assert changed.status_code == 422 and "does not match" in changed.json()["detail"]
    old = utc_now() - dt.timedelta(minutes=6)
    stale = _post(server, body, cards.sign(SECRET, body, old))
    assert stale.status_code == 422 and "replay" in stale.json()["detail"]
    missing = _post(server, body, "")
    assert missing.status_code == 422 and "header" in missing.json()["detail"]
    unknown = _event("F-2099-999999", Decimal("10.00"), "evt_2")
    r = _post(server, unknown, cards.sign(SECRET, unknown, utc_now()))
    assert r.status_code == 422 and "F-2099-999999" in r.json()["detail"]
    assert _payments(database) == 0
    assert _state(database, invoice.id) == "issued"


def _topup_event(contract_id: str, amount: str, event_id: str = "evt_t1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment.succeeded",
            "data": {
                "id": "pay_topup_7",
                "amount": amount,
                "currency": "eur",
                "metadata": {"topup_contract": contract_id},
            },
        }
    ).encode()


def test_000_s13_2_signed_card_event_tops_up_the_prepaid_account_once_over_http(
    server: str, database: Database, offers: OfferRegistry
) -> None:
    """000 §13.2 (the account credited by card) and §3.1 (the contract formed when the
    provider confirms the transaction): a signed ``payment.succeeded`` naming a pending
    isstar-cloud contract in ``metadata.topup_contract`` credits 150.00 EUR under the
    key ``card-webhook:<event id>`` and forms the contract (minimum 100.00). The
    provider delivering the same event again: 200, ``already_recorded``, the same
    entry, the balance unchanged and one ``billing.topup`` history entry."""
    set_now(utc(2026, 3, 5, 10))
    world = World(database)
    owner = world.user(Role.CLIENT_OWNER, world.client("Carte SPRL"))
    with httpx.Client(base_url=server, timeout=30) as http:
        contract_id = order(http, owner)  # type: ignore[arg-type]
    body = _topup_event(contract_id, "150.00")
    r = _post(server, body, cards.sign(SECRET, body, utc_now()))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["target"] == "topup" and first["already_recorded"] is False
    assert (first["contract_id"], first["contract_state"]) == (contract_id, "active")
    assert Decimal(first["balance"]) == Decimal("150.00") and first["provider_ref"] == "pay_topup_7"
    again = _post(server, body, cards.sign(SECRET, body, utc_now() + dt.timedelta(seconds=30)))
    assert again.status_code == 200, again.text
    assert again.json()["already_recorded"] is True and "already recorded" in again.json()["detail"]
    assert again.json()["seq"] == first["seq"]
    assert Decimal(again.json()["balance"]) == Decimal("150.00")
    with database.unit() as session:
        keys = session.execute(
            select(LedgerEntry.idempotency_key, LedgerEntry.amount).where(
                LedgerEntry.contract_id == contract_id
            )
        ).all()
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == contract_id)
        ).scalars()
        assert [(k, Decimal(a)) for k, a in keys] == [("card-webhook:evt_t1", Decimal("150"))]
        assert list(actions).count("billing.topup") == 1
    assert _payments(database) == 0  # no invoice payment was made of it
