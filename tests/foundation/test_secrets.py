"""Tokens and passwords never appear in logs, error bodies or the history."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.history.models import HistoryEntry
from tests.factories import World

PASSWORD = "s3cret-Password-that-is-long"


def test_secrets_stay_out_of_logs_and_bodies(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id, password=PASSWORD)
    bodies: list[str] = []
    # A user created with a password, a sign-in, a wrong sign-in, a new token, a bad token.
    r = client.post(
        f"/api/v1/clients/{client_id}/users",
        json={"email": "new@example.com", "role": "guest", "password": PASSWORD},
        headers=owner.headers,
    )
    bodies.append(r.text)
    assert r.status_code == 201
    email = client.get("/api/v1/me", headers=owner.headers).json()["email"]
    r = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201
    signed_in = r.json()["token"]
    r = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD + "x"})
    bodies.append(r.text)
    assert r.status_code == 401
    r = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=owner.headers)
    new_token = r.json()["token"]
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {owner.token}x"})
    bodies.append(r.text)
    assert r.status_code == 401
    r = client.post(
        "/api/v1/users",
        json={"email": "x@example.com", "role": "guest", "password": PASSWORD, "bogus": 1},
        headers=owner.headers,
    )
    bodies.append(r.text)
    assert r.status_code == 422

    secrets = [PASSWORD, owner.token, signed_in, new_token]
    logged = caplog.text
    with world.database.unit() as session:
        history = " ".join(row.params for row in session.execute(select(HistoryEntry)).scalars())
    for secret in secrets:
        assert secret not in logged
        assert secret not in history
        for body in bodies:
            assert secret not in body
    assert "[redacted]" in history or "password" not in history
