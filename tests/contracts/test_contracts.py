"""Ordering and forming contracts (000 §3.1, §4, §13.2; 001 §2.5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from tests.factories import Actor, World

ORDER = {"offer_id": "isstar-cloud", "accept_terms": True}


def _owner(world: World) -> tuple[str, Actor]:
    client_id = world.client()
    return client_id, world.user(Role.CLIENT_OWNER, client_id)


def test_000_s3_1_prepaid_order_stays_pending(client: TestClient, world: World) -> None:
    """000 §3.1: the contract forms only once the Minimum Amount is paid; staff cannot
    short-cut that by confirming."""
    _client_id, owner = _owner(world)
    r = client.post("/api/v1/contracts", json=ORDER, headers=owner.headers)
    assert r.status_code == 201, r.text
    contract = r.json()
    assert contract["state"] == "pending"
    assert contract["activated_at"] is None
    admin = world.admin()
    r = client.post(
        f"/api/v1/contracts/{contract['id']}/confirm", json={"reason": "ok"}, headers=admin.headers
    )
    assert r.status_code == 409
    assert "minimum amount" in r.json()["detail"]


def test_001_s2_5_invoiced_order_final_on_confirmation(client: TestClient, world: World) -> None:
    """001 §2.5: an order becomes final when the provider sends its confirmation."""
    _client_id, owner = _owner(world)
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]
    admin = world.admin()
    r = client.post(
        f"/api/v1/contracts/{contract_id}/confirm",
        json={"reason": "order confirmation sent"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active"
    assert r.json()["activated_at"] is not None
    # Confirming twice is a transition the table refuses.
    r = client.post(
        f"/api/v1/contracts/{contract_id}/confirm", json={"reason": "again"}, headers=admin.headers
    )
    assert r.status_code == 409
    with world.database.unit() as session:
        actions = (
            session.execute(
                select(HistoryEntry.action).where(HistoryEntry.object_id == contract_id)
            )
            .scalars()
            .all()
        )
    assert "contract.create" in actions and "contract.active" in actions


def test_terms_must_be_accepted_and_current(client: TestClient, world: World) -> None:
    _client_id, owner = _owner(world)
    headers = owner.headers
    r = client.post("/api/v1/contracts", json=ORDER | {"accept_terms": False}, headers=headers)
    assert r.status_code == 422
    r = client.post("/api/v1/contracts", json=ORDER | {"offer_hash": "0" * 64}, headers=headers)
    assert r.status_code == 409
    current = client.get("/api/v1/offers/isstar-cloud", headers=headers).json()["content_hash"]
    r = client.post("/api/v1/contracts", json=ORDER | {"offer_hash": current}, headers=headers)
    assert r.status_code == 201
    r = client.post("/api/v1/contracts", json=ORDER | {"offer_id": "nope"}, headers=headers)
    assert r.status_code == 404


def test_only_owners_order(client: TestClient, world: World) -> None:
    """000 §1: the Responsable orders; a member or guest cannot."""
    client_id = world.client()
    for role in (Role.CLIENT_MEMBER, Role.GUEST):
        user = world.user(role, client_id)
        r = client.post("/api/v1/contracts", json=ORDER, headers=user.headers)
        assert r.status_code == 403


def test_suspend_and_resume_follow_the_table(client: TestClient, world: World) -> None:
    _client_id, owner = _owner(world)
    admin = world.admin()
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    contract_id = r.json()["id"]
    # A pending contract cannot be suspended.
    r = client.post(
        f"/api/v1/contracts/{contract_id}/suspend", json={"reason": "x"}, headers=admin.headers
    )
    assert r.status_code == 409
    client.post(
        f"/api/v1/contracts/{contract_id}/confirm", json={"reason": "ok"}, headers=admin.headers
    )
    r = client.post(
        f"/api/v1/contracts/{contract_id}/suspend",
        json={"reason": "unpaid invoice after formal notice (001 §13.2)"},
        headers=admin.headers,
    )
    assert r.json()["state"] == "suspended"
    r = client.post(
        f"/api/v1/contracts/{contract_id}/resume", json={"reason": "paid"}, headers=admin.headers
    )
    assert r.json()["state"] == "active"


def test_000_s4_contract_keeps_the_terms_it_accepted(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    """000 §4: a later edit of the terms file does not change a running contract."""
    _client_id, owner = _owner(world)
    r = client.post("/api/v1/contracts", json=ORDER, headers=owner.headers)
    contract_id = r.json()["id"]
    folder = tmp_path / "offers"
    shutil.copytree(Path(__file__).resolve().parents[2] / "offers", folder)
    path = folder / "isstar-cloud.toml"
    path.write_text(path.read_text("utf-8") + "\n# edited after the order\n", "utf-8")
    edited = OfferRegistry.from_directory(folder)
    with world.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        assert edited.current("isstar-cloud").content_hash != contract.offer_hash
        offer = edited.for_contract(session, contract)
        assert offer.content_hash == contract.offer_hash
        stored = session.get(OfferVersion, contract.offer_hash)
        assert stored is not None and "edited after" not in stored.content


@pytest.mark.parametrize("kind", ["consumer"])
def test_offer_refuses_client_kinds_it_does_not_serve(
    client: TestClient, world: World, kind: str
) -> None:
    """001 is sold to businesses only: a consumer's order is refused."""
    admin = world.admin()
    r = client.post(
        "/api/v1/clients",
        json={
            "kind": kind,
            "legal_name": "Jean Dupont",
            "country": "BE",
            "billing_email": "j@example.com",
            "address": {"line1": "Rue Haute 1", "postcode": "1000", "city": "Bruxelles"},
        },
        headers=admin.headers,
    )
    client_id = r.json()["id"]
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True, "client_id": client_id},
        headers=admin.headers,
    )
    assert r.status_code == 422
    assert "not sold to consumer" in r.json()["detail"]


def test_regression_client_cancels_pending_order(client: TestClient, world: World) -> None:
    """000 §3.1 / 001 §2.5: until the contract forms nothing binds the client, so its
    owner may withdraw the order (pending → closed, recorded); once formed it cannot be
    cancelled, and a member, or another client's owner, cannot cancel it."""
    client_id, owner = _owner(world)
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    contract_id = r.json()["id"]
    member = world.user(Role.CLIENT_MEMBER, client_id)
    _other_id, stranger = _owner(world)
    url = f"/api/v1/contracts/{contract_id}/cancel"
    assert client.post(url, json={"reason": "x"}, headers=member.headers).status_code == 403
    assert client.post(url, json={"reason": "x"}, headers=stranger.headers).status_code == 404
    r = client.post(url, json={"reason": "ordered the wrong offer"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed" and r.json()["ended_at"] is not None
    assert r.json()["state_reason"] == "ordered the wrong offer"
    with world.database.unit() as session:
        actions = session.scalars(
            select(HistoryEntry.action).where(HistoryEntry.object_id == contract_id)
        ).all()
    assert "contract.closed" in actions
    # A formed contract is not cancelled.
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    formed = r.json()["id"]
    admin = world.admin()
    client.post(f"/api/v1/contracts/{formed}/confirm", json={"reason": "ok"}, headers=admin.headers)
    r = client.post(
        f"/api/v1/contracts/{formed}/cancel", json={"reason": "x"}, headers=owner.headers
    )
    assert r.status_code == 409
    assert "only a pending order" in r.json()["detail"]


@pytest.mark.parametrize("action", ["confirm", "cancel", "suspend", "resume"])
def test_regression_missing_reason_names_the_field(
    client: TestClient, world: World, action: str
) -> None:
    """Without a body, confirm/cancel answered "body: Field required"; the problem now
    names the missing field, reason."""
    _client_id, owner = _owner(world)
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )
    contract_id = r.json()["id"]
    admin = world.admin()
    r = client.post(f"/api/v1/contracts/{contract_id}/{action}", headers=admin.headers)
    assert r.status_code == 422
    problem = r.json()
    assert problem["detail"] == "body.reason: Field required"
    assert problem["errors"] == [
        {"loc": ["body", "reason"], "msg": "Field required", "type": "missing"}
    ]
    r = client.post(f"/api/v1/contracts/{contract_id}/{action}", json={}, headers=admin.headers)
    assert r.json()["detail"] == "body.reason: Field required"
