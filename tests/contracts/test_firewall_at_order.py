"""002 §3.6 Cloud Datacenter: the firewall, standard or advanced, is chosen at order —
kept on the contract, shown by the API, recorded in the history; a missing or wrong
choice is a 422 naming ``firewall_tier`` with nothing written. Both databases."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.models import Contract
from nuages.history.models import HistoryEntry
from tests.factories import World

DATACENTER = {"offer_id": "axantis-cloud-datacenter", "accept_terms": True}


def _count(world: World) -> int:
    with world.database.unit() as session:
        return session.execute(select(func.count()).select_from(Contract)).scalar_one()


def test_002_s3_6_datacenter_firewall_tier_chosen_at_order(
    client: TestClient, world: World
) -> None:
    """002 §3.6: "Firewall standard" or "Firewall avancé" is chosen at order. Without a
    choice, or with "basic" (the Cloud VM tiers' built-in one), the order is a 422 whose
    detail names firewall_tier and the clause, and no contract is written; "advanced" is
    stored, shown on the contract and in the order's history. An offer that asks for no
    choice (Avancé) refuses one rather than ignore it."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    for body in (DATACENTER, DATACENTER | {"firewall_tier": "basic"}):
        r = client.post("/api/v1/contracts", json=body, headers=owner.headers)
        assert r.status_code == 422, r.text
        assert "firewall_tier" in r.json()["detail"] and "002 §3.6" in r.json()["detail"]
    r = client.post(
        "/api/v1/contracts", json=DATACENTER | {"firewall_tier": "premium"}, headers=owner.headers
    )
    assert r.status_code == 422 and "firewall_tier" in r.text
    assert _count(world) == 0
    r = client.post(
        "/api/v1/contracts",
        json={
            "offer_id": "axantis-cloud-vm-avance",
            "accept_terms": True,
            "firewall_tier": "standard",
        },
        headers=owner.headers,
    )
    assert r.status_code == 422 and "firewall_tier" in r.json()["detail"]
    assert _count(world) == 0

    r = client.post(
        "/api/v1/contracts", json=DATACENTER | {"firewall_tier": "advanced"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]
    assert r.json()["firewall_tier"] == "advanced"
    shown = client.get(f"/api/v1/contracts/{contract_id}", headers=owner.headers).json()
    assert shown["firewall_tier"] == "advanced"
    with world.database.unit() as session:
        params = session.execute(
            select(HistoryEntry.params).where(
                HistoryEntry.object_id == contract_id, HistoryEntry.action == "contract.create"
            )
        ).scalar_one()
    assert json.loads(params)["firewall_tier"] == "advanced"
