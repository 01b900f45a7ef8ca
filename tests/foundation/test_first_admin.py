"""The first admin signs in with what `nuages up` prints; admins change e-mails (#9.1);
a sign-in without scopes gets the role's scopes (#9.9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages import server
from nuages.accounts.models import User
from nuages.accounts.roles import Role
from nuages.history.models import HistoryEntry
from nuages.kernel.db import Database
from tests.billing.factories import order, transfer
from tests.factories import Actor, World

NUAGES = [sys.executable, "-m", "nuages"]


def _email_of(database: Database, user_id: str) -> str:
    with database.unit() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.email


def _sign_in(client: TestClient, email: str, password: str, **extra: object) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"email": email, "password": password, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def test_regression_first_admin_can_sign_in(client: TestClient, database: Database) -> None:
    """The address `nuages up` creates (admin@localhost: no dot in its domain) and the
    password it prints give a working token through the API, as printed or as typed
    with capitals and spaces."""
    email, password = server.first_admin(database, "admin@localhost") or ("", "")
    assert email == "admin@localhost" and password
    for typed in (email, "  Admin@LocalHost "):
        token = _sign_in(client, typed, password)["token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == "admin@localhost"
    # Still a clean 422 for what is not an address at all (field named).
    r = client.post("/api/v1/auth/token", json={"email": "admin", "password": password})
    assert r.status_code == 422 and "email" in r.json()["detail"]


def test_regression_admin_can_change_a_users_email(
    client: TestClient, database: Database, world: World
) -> None:
    """A provider admin gives the first admin a real address through the API; the old
    one stops signing in, the new one works, the history keeps both; nobody else may."""
    _email, password = server.first_admin(database, "admin@localhost") or ("", "")
    admin = _sign_in(client, "admin@localhost", password)
    headers = {"Authorization": f"Bearer {admin['token']}"}
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    r = client.put(
        f"/api/v1/users/{user_id}/email", json={"email": "Ops@Example.com"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "ops@example.com"
    r = client.post("/api/v1/auth/token", json={"email": "admin@localhost", "password": password})
    assert r.status_code == 401
    _sign_in(client, "ops@example.com", password)
    with database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "user.email")
        ).scalar_one()
    assert json.loads(entry.params) == {"from": "admin@localhost", "to": "ops@example.com"}
    assert entry.actor_id == user_id

    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    member = world.user(Role.CLIENT_MEMBER, client_id)
    # An owner may not change even their own member's address; another client's
    # user does not exist for them; a taken address conflicts; a bad one is a 422.
    r = client.put(
        f"/api/v1/users/{member.user_id}/email",
        json={"email": "x@example.com"},
        headers=owner.headers,
    )
    assert r.status_code == 403
    other = world.user(Role.CLIENT_OWNER, world.client("Other"))
    r = client.put(
        f"/api/v1/users/{member.user_id}/email",
        json={"email": "x@example.com"},
        headers=other.headers,
    )
    assert r.status_code == 404
    r = client.put(
        f"/api/v1/users/{member.user_id}/email", json={"email": "ops@example.com"}, headers=headers
    )
    assert r.status_code == 409
    r = client.put(f"/api/v1/users/{member.user_id}/email", json={"email": "nope"}, headers=headers)
    assert r.status_code == 422 and "email" in r.json()["detail"]
    # A read-only admin token cannot either.
    read_only = _sign_in(client, "ops@example.com", password, scopes=["read"])
    r = client.put(
        f"/api/v1/users/{member.user_id}/email",
        json={"email": "y@example.com"},
        headers={"Authorization": f"Bearer {read_only['token']}"},
    )
    assert r.status_code == 403


def test_regression_admin_email_change_from_the_cli(client: TestClient, database: Database) -> None:
    """`nuages admin set-email admin@localhost …` as an operator would run it after
    `nuages up`; recorded as done by "cli"."""
    _email, password = server.first_admin(database, "admin@localhost") or ("", "")
    env = os.environ | {"NUAGES_DATABASE_URL": database.url}
    done = subprocess.run(
        [*NUAGES, "admin", "set-email", "admin@localhost", "ops@example.com"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _sign_in(client, "ops@example.com", password)
    bad = subprocess.run(
        [*NUAGES, "admin", "set-email", "nobody@example.com", "a@example.com"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "no user" in bad.stderr
    with database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "user.email")
        ).scalar_one()
    assert entry.actor_label == "cli"


def test_regression_owner_sign_in_token_sees_own_invoices(client: TestClient, world: World) -> None:
    """An owner signing in without naming scopes gets every scope the role allows
    (read, write, billing): the invoices and the prepaid account answer 200, not 403.
    A member signing in the same way gets no billing."""
    client_id = world.client("Prepaid SPRL")
    owner = world.user(Role.CLIENT_OWNER, client_id, password="correct horse battery")
    owner_email = _email_of(world.database, owner.user_id)
    admin = world.admin()
    token = _sign_in(client, owner_email, "correct horse battery")
    assert token["scopes"] == "billing read write"
    headers = {"Authorization": f"Bearer {token['token']}"}
    contract_id = order(client, Actor(owner.user_id, client_id, token["token"]))
    assert transfer(client, admin, contract_id, "50.00").status_code == 201
    assert client.get("/api/v1/invoices", headers=headers).status_code == 200
    r = client.get(f"/api/v1/billing/contracts/{contract_id}/account", headers=headers)
    assert r.status_code == 200, r.text
    member = world.user(Role.CLIENT_MEMBER, client_id, password="correct horse battery")
    member_email = _email_of(world.database, member.user_id)
    assert _sign_in(client, member_email, "correct horse battery")["scopes"] == "read write"
    # Naming scopes still narrows the token.
    assert (
        _sign_in(client, owner_email, "correct horse battery", scopes=["read"])["scopes"] == "read"
    )
