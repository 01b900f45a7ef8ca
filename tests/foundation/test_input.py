"""Bad input gets a clear 4xx, never a 500, and nothing is written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.models import Client
from nuages.kernel.validation import SAFE_NAME_PATTERN
from tests.factories import World

GOOD = {
    "kind": "business",
    "legal_name": "Exemple SAS",
    "country": "FR",
    "vat_number": "FR40303265045",
    "billing_email": "compta@exemple.fr",
    "address": {"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris"},
}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"vat_number": "FR40303265046"}, "not a valid VAT number"),
        ({"vat_number": "BE0403170701"}, "starts with FR"),
        ({"country": "XX"}, "country"),
        ({"billing_email": "not-an-email"}, "billing_email"),
        ({"kind": "martian"}, "kind"),
        ({"legal_name": ""}, "legal_name"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_client_refused_and_nothing_written(
    client: TestClient, world: World, change: dict[str, object], where: str
) -> None:
    admin = world.admin()
    r = client.post("/api/v1/clients", json=GOOD | change, headers=admin.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert where in r.text
    with world.database.unit() as session:
        assert session.execute(select(func.count()).select_from(Client)).scalar_one() == 0


def test_valid_business_client_keeps_compact_vat(client: TestClient, world: World) -> None:
    admin = world.admin()
    r = client.post(
        "/api/v1/clients", json=GOOD | {"vat_number": "fr 403 032 650 45"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["vat_number"] == "FR40303265045"


def test_oversized_body_gets_413(client: TestClient, world: World) -> None:
    admin = world.admin()
    big = {"legal_name": "x" * 2_000_000}
    r = client.post("/api/v1/clients", json=big, headers=admin.headers)
    assert r.status_code == 413
    assert r.json()["type"].endswith("/body-too-large")


def test_duplicate_email_is_a_conflict(client: TestClient, world: World) -> None:
    admin = world.admin()
    body = {"email": "ops@example.com", "role": "provider_operator"}
    assert client.post("/api/v1/users", json=body, headers=admin.headers).status_code == 201
    r = client.post("/api/v1/users", json=body, headers=admin.headers)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/already-exists")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("web-1", True),
        ("a", True),
        ("Web", False),
        ("-web", False),
        ("web-", False),
        ("../etc", False),
        ("a'b", False),
        ("x" * 64, False),
    ],
)
def test_safe_name_alphabet(name: str, ok: bool) -> None:
    """Names that reach libvirt XML or file paths keep to [a-z0-9-]."""
    import re

    assert bool(re.match(SAFE_NAME_PATTERN, name)) is ok


def test_sign_in_and_designated_decider(client: TestClient, world: World) -> None:
    """000 §4: one owner may be designated to decide on terms changes; only one."""
    from nuages.accounts.roles import Role

    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    ids = []
    for email in ("o1@example.com", "o2@example.com"):
        r = client.post(
            f"/api/v1/clients/{client_id}/users",
            json={
                "email": email,
                "role": "client_owner",
                "is_terms_decider": True,
                "password": "a-long-enough-password",
            },
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    users = client.get("/api/v1/users", headers=owner.headers).json()["items"]
    deciders = [u["id"] for u in users if u["is_terms_decider"]]
    assert deciders == [ids[1]]
    r = client.post(
        "/api/v1/auth/token",
        json={"email": "o1@example.com", "password": "a-long-enough-password"},
    )
    assert r.status_code == 201
    assert r.json()["token"].startswith("nua_")
    r = client.post(
        f"/api/v1/clients/{client_id}/users",
        json={"email": "m@example.com", "role": "client_member", "is_terms_decider": True},
        headers=owner.headers,
    )
    assert r.status_code == 403
