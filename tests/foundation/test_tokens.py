"""Tokens (#17.5): revoking needs the right scope and only reaches one's own tokens
(staff: admin scope, recorded); a token mints only a subset of its scopes, expiring no
later than itself; revoking a token revokes what it minted."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.models import ApiToken, User
from nuages.accounts.roles import Role, Scope
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from tests.factories import Actor, World

READ = frozenset({Scope.READ})


def _token_ids(world: World, user_id: str) -> list[str]:
    with world.database.unit() as session:
        return list(
            session.execute(
                select(ApiToken.id).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
            ).scalars()
        )


def _mint(client: TestClient, actor: Actor, **body: object) -> dict[str, str]:
    r = client.post("/api/v1/tokens", json={"scopes": ["read"], **body}, headers=actor.headers)
    assert r.status_code == 201, r.text
    minted: dict[str, str] = r.json()
    return minted


def _alive(client: TestClient, token: str) -> bool:
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 200


def test_regression_read_only_token_cannot_revoke_its_owners_other_tokens(
    client: TestClient, world: World
) -> None:
    """DELETE /tokens/{id} needs the write scope for one's other tokens: a read-only
    token answers 403 and the other token still works. Signing out (revoking the calling
    token itself) needs nothing more than the token."""
    client_id = world.client()
    full = world.user(Role.CLIENT_OWNER, client_id)
    read_only = Actor(full.user_id, client_id, _mint(client, full, scopes=["read"])["token"])
    full_id = _token_ids(world, full.user_id)[0]
    r = client.delete(f"/api/v1/tokens/{full_id}", headers=read_only.headers)
    assert r.status_code == 403 and "write" in r.json()["detail"]
    assert _alive(client, full.token)
    read_only_id = _token_ids(world, full.user_id)[1]
    r = client.delete(f"/api/v1/tokens/{read_only_id}", headers=read_only.headers)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert not _alive(client, read_only.token)


def test_regression_staff_read_token_cannot_revoke_another_tenants_token(
    client: TestClient, world: World
) -> None:
    """A provider admin's read-only token gets 403 on a client owner's token; with the
    admin scope it revokes it, and the history records it under the owner's client. An
    operator (staff without the admin scope) gets 403; another client's owner is told it
    does not exist (404)."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    owner_token = _token_ids(world, owner.user_id)[0]
    admin = world.admin()
    admin_read = Actor(admin.user_id, None, _mint(client, admin, scopes=["read"])["token"])
    r = client.delete(f"/api/v1/tokens/{owner_token}", headers=admin_read.headers)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    operator = world.user(Role.PROVIDER_OPERATOR, None)
    r = client.delete(f"/api/v1/tokens/{owner_token}", headers=operator.headers)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    other_owner = world.user(Role.CLIENT_OWNER, world.client("Other"))
    r = client.delete(f"/api/v1/tokens/{owner_token}", headers=other_owner.headers)
    assert r.status_code == 404
    assert _alive(client, owner.token)
    r = client.delete(f"/api/v1/tokens/{owner_token}", headers=admin.headers)
    assert r.status_code == 200
    assert not _alive(client, owner.token)
    with world.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.action == "token.revoke", HistoryEntry.outcome == "ok"
            )
        ).scalar_one()
    assert entry.object_id == owner_token and entry.client_id == client_id
    assert entry.actor_id == admin.user_id
    assert json.loads(entry.params)["by_staff"] is True


def test_regression_one_day_read_token_cannot_mint_a_longer_or_broader_one(
    client: TestClient, world: World
) -> None:
    """A 1-day read token asking for 365 days gets a token expiring with itself; asking
    for write is refused (403). The minted token names its parent; a password sign-in
    has none."""
    set_now(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC))
    client_id = world.client()
    parent = world.user(Role.CLIENT_OWNER, client_id, scopes=READ, days=1)
    parent_id = _token_ids(world, parent.user_id)[0]
    minted = _mint(client, parent, days=365)
    assert dt.datetime.fromisoformat(minted["expires_at"]) == utc_now() + dt.timedelta(days=1)
    assert minted["parent_id"] == parent_id
    r = client.post("/api/v1/tokens", json={"scopes": ["read", "write"]}, headers=parent.headers)
    assert r.status_code == 403 and "write" in r.json()["detail"]
    set_now(utc_now() + dt.timedelta(days=1, seconds=1))
    assert not _alive(client, minted["token"])


def test_regression_minted_token_dies_with_its_parent(client: TestClient, world: World) -> None:
    """Revoking a token revokes the tokens it minted and theirs (child and grandchild
    answer 401), not its siblings from a password sign-in."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id, password="correct horse battery")
    with world.database.unit() as session:
        user = session.get(User, owner.user_id)
        assert user is not None
        email = user.email
    r = client.post(
        "/api/v1/auth/token", json={"email": email, "password": "correct horse battery"}
    )
    assert r.status_code == 201 and r.json()["parent_id"] is None
    sibling = r.json()["token"]
    child = _mint(client, owner, scopes=["read", "write"])
    grandchild = _mint(client, Actor(owner.user_id, client_id, child["token"]))
    assert grandchild["parent_id"] == child["id"]
    parent_id = _token_ids(world, owner.user_id)[0]
    r = client.delete(f"/api/v1/tokens/{parent_id}", headers=owner.headers)
    assert r.status_code == 200
    assert not _alive(client, owner.token)
    assert not _alive(client, child["token"])
    assert not _alive(client, grandchild["token"])
    assert _alive(client, sibling)
    with world.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "token.revoke")
        ).scalar_one()
    assert sorted(json.loads(entry.params)["with"]) == sorted([child["id"], grandchild["id"]])
