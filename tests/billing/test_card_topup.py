"""Prepaid top-ups by card, confirmed by the provider's signed event (000 §13.2 "carte";
000 §3.1: the contract is formed when the provider confirms the transaction; issue 15).

The event names the contract in ``data.metadata.topup_contract``; what it cannot
credit is refused with nothing written: another currency, an unknown contract, an
event naming an invoice as well, an invoiced contract, an offer taking no card
top-ups. The signature itself is tested over real HTTP in
``tests/payments/test_card_webhook.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts import service as accounts
from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.billing import schemas, topups
from nuages.billing.models import LedgerEntry
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel import settings as settings_module
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.settings import Settings
from nuages.payments import cards
from tests.billing.factories import order
from tests.factories import World
from tests.invoicing.factories import utc

SECRET = "whsec_topup_test"
OFFERS = Path(__file__).resolve().parents[2] / "offers"


@pytest.fixture(autouse=True)
def _webhook_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings choose the ``webhook`` card provider, with its shared secret."""
    monkeypatch.setenv("NUAGES_SELLER_CARD_PROVIDER", "webhook")
    monkeypatch.setenv("NUAGES_CARD_WEBHOOK_SECRET", SECRET)
    settings_module.get_settings.cache_clear()
    set_now(utc(2026, 6, 10, 9))
    yield
    monkeypatch.undo()
    settings_module.get_settings.cache_clear()


def _event(metadata: dict[str, str], amount: str = "120.00", currency: str = "eur") -> bytes:
    return json.dumps(
        {
            "id": "evt_" + "_".join(f"{k}{v}"[:20] for k, v in metadata.items()) + amount,
            "type": "payment.succeeded",
            "data": {"id": "pay_9", "amount": amount, "currency": currency, "metadata": metadata},
        }
    ).encode()


def _post(http: TestClient, body: bytes) -> object:
    signature = cards.sign(SECRET, body, utc_now())
    return http.post(
        "/api/v1/card-webhooks",
        content=body,
        headers={"content-type": "application/json", cards.HEADER: signature},
    )


def _written(database: Database) -> tuple[int, int]:
    """(ledger entries, top-up history entries): what a refusal must leave at zero."""
    with database.unit() as session:
        entries = session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        topped = session.execute(
            select(func.count()).where(HistoryEntry.action == "billing.topup")
        ).scalar_one()
        return int(entries), int(topped)


def _state(database: Database, contract_id: str) -> str:
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        return contract.state


def test_000_s3_1_first_card_event_forms_the_pending_contract_once_minimum_is_in(
    client: TestClient, world: World, database: Database
) -> None:
    """000 §3.1, §13.2: 60.00 by card leaves the isstar-cloud contract pending (minimum
    100.00); a second event of 50.00 brings it to 110.00 and forms it (active)."""
    owner = world.user(Role.CLIENT_OWNER, world.client("Carte SPRL"))
    contract_id = order(client, owner)
    r = _post(client, _event({"topup_contract": contract_id}, "60.00"))
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json()["contract_state"] == "pending"  # type: ignore[attr-defined]
    assert _state(database, contract_id) == "pending"
    r = _post(client, _event({"topup_contract": contract_id}, "50.00"))
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert Decimal(r.json()["balance"]) == Decimal("110.00")  # type: ignore[attr-defined]
    assert _state(database, contract_id) == "active"
    assert _written(database) == (2, 2)


def test_000_s13_2_card_event_refused_for_currency_unknown_contract_or_two_targets(
    client: TestClient, world: World, database: Database
) -> None:
    """Each a 422 naming the problem, nothing written: USD for a EUR account, a
    contract id nobody has (a 422 like an unknown invoice, never an ambiguous 404),
    ``invoice`` and ``topup_contract`` both in the metadata, neither of them."""
    owner = world.user(Role.CLIENT_OWNER, world.client("Carte SPRL"))
    contract_id = order(client, owner)
    cases = {
        "currency": _event({"topup_contract": contract_id}, currency="usd"),
        "no contract 0000": _event({"topup_contract": "0000-no-such-contract"}),
        "exactly one of invoice": _event(
            {"topup_contract": contract_id, "invoice": "F-2026-000001"}
        ),
        "or topup_contract": _event({"note": "nothing named"}),
    }
    for said, body in cases.items():
        r = _post(client, body)
        assert r.status_code == 422, r.text  # type: ignore[attr-defined]
        assert said in r.json()["detail"], r.json()  # type: ignore[attr-defined]
    assert _written(database) == (0, 0)
    assert _state(database, contract_id) == "pending"


def test_000_s13_2_card_event_refused_for_an_invoiced_contract(
    client: TestClient, world: World, database: Database
) -> None:
    """A cloudbizz contract (invoiced, 001) has no prepaid account: 409, nothing written."""
    owner = world.user(Role.CLIENT_OWNER, world.client("Facturée SARL"))
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    r = _post(client, _event({"topup_contract": r.json()["id"]}))
    assert r.status_code == 409, r.text  # type: ignore[attr-defined]
    assert "invoiced" in r.json()["detail"]  # type: ignore[attr-defined]
    assert _written(database) == (0, 0)


def test_000_s13_2_card_event_refused_when_the_offer_takes_no_card_top_ups(
    tmp_path: Path, settings: Settings, database: Database, world: World
) -> None:
    """isstar-cloud with ``top_up_means = ["transfer"]``: a card event for its contract
    is a 409 naming the means, nothing written."""
    folder = tmp_path / "offers"
    folder.mkdir()
    text = (OFFERS / "isstar-cloud.toml").read_text("utf-8")
    old = 'top_up_means = ["card", "transfer", "direct_debit"]'
    assert old in text
    (folder / "isstar-cloud.toml").write_text(text.replace(old, 'top_up_means = ["transfer"]'))
    registry = OfferRegistry.from_directory(folder)
    with TestClient(create_app(settings, database, registry)) as http:
        owner = world.user(Role.CLIENT_OWNER, world.client("Virement SPRL"))
        contract_id = order(http, owner)
        r = _post(http, _event({"topup_contract": contract_id}))
        assert r.status_code == 409, r.text  # type: ignore[attr-defined]
        assert "top-ups by card" in r.json()["detail"]  # type: ignore[attr-defined]
    assert _written(database) == (0, 0)
    assert _state(database, contract_id) == "pending"


def test_000_s13_2_staff_cannot_record_a_card_top_up_by_hand_under_the_webhook_provider(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """With the ``webhook`` provider its signed event is the only proof of a card
    payment: staff recording one by hand (the terminal path) get a 422, nothing written,
    so the same payment cannot be credited once by hand and once by its event."""
    owner = world.user(Role.CLIENT_OWNER, world.client("Carte SPRL"))
    contract_id = order(client, owner)
    admin = world.admin()
    data = schemas.TransferCreate(amount=Decimal("120.00"), reference="AUTH123")
    with database.unit() as session:
        principal = accounts.authenticate(session, admin.token)
        with pytest.raises(ValidationFailed, match="signed webhook"):
            topups.record_card(session, principal, offers, contract_id, data)
    assert _written(database) == (0, 0)
