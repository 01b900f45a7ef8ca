"""The action history: append-only in the database, hash-chained, verifiable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from nuages.history import service
from nuages.history.models import DROP_APPEND_ONLY_SQL, HistoryEntry
from nuages.kernel.db import Database
from tests.factories import World

NUAGES = [sys.executable, "-m", "nuages"]


def _make_entries(client: TestClient, world: World, n: int = 5) -> World:
    admin = world.admin()
    for i in range(n):
        r = client.post(
            "/api/v1/clients",
            json={
                "kind": "consumer",
                "legal_name": f"Client {i}",
                "country": "BE",
                "billing_email": f"c{i}@example.com",
                "address": {"line1": "Rue Haute 1", "postcode": "1000", "city": "Bruxelles"},
            },
            headers=admin.headers,
        )
        assert r.status_code == 201
    return world


def _verify(database: Database) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"NUAGES_DATABASE_URL": database.url}
    return subprocess.run(
        [*NUAGES, "history", "verify"], env=env, capture_output=True, text=True, check=False
    )


def test_every_change_is_recorded_with_actor(client: TestClient, world: World) -> None:
    _make_entries(client, world, 2)
    with world.database.unit() as session:
        rows = session.execute(select(HistoryEntry).order_by(HistoryEntry.seq)).scalars().all()
    actions = [row.action for row in rows]
    assert actions == ["admin.create", "client.create", "client.create"]
    assert rows[1].actor_label.startswith("admin")
    assert rows[1].prev_hash == rows[0].hash


def test_refused_change_is_recorded(client: TestClient, world: World) -> None:
    """A refused state change leaves a trace too, with its outcome."""
    from nuages.accounts.roles import Role

    client_id = world.client()
    guest = world.user(Role.GUEST, client_id)
    r = client.patch(
        f"/api/v1/clients/{client_id}", json={"legal_name": "X"}, headers=guest.headers
    )
    assert r.status_code == 403
    with world.database.unit() as session:
        last = session.execute(
            select(HistoryEntry).order_by(HistoryEntry.seq.desc()).limit(1)
        ).scalar_one()
    assert last.outcome.startswith("refused: 403")
    assert last.object_id == client_id
    assert last.actor_id == guest.user_id


def test_database_refuses_updates_and_deletes(client: TestClient, world: World) -> None:
    _make_entries(client, world, 1)
    with pytest.raises(DBAPIError), world.database.engine.begin() as conn:
        conn.execute(text("UPDATE history_entries SET outcome = 'forged'"))
    with pytest.raises(DBAPIError), world.database.engine.begin() as conn:
        conn.execute(text("DELETE FROM history_entries"))


def test_verify_names_the_altered_entry(client: TestClient, world: World) -> None:
    """Someone with database access drops the guard and edits entry #3: verify names it."""
    _make_entries(client, world, 5)
    ok = _verify(world.database)
    assert ok.returncode == 0, ok.stderr
    assert "6 entries verified" in ok.stdout
    with world.database.engine.begin() as conn:
        for statement in DROP_APPEND_ONLY_SQL[world.database.dialect]:
            conn.execute(text(statement))
        conn.execute(
            text('UPDATE history_entries SET params = \'{"legal_name":"forged"}\' WHERE seq = 3')
        )
    broken = _verify(world.database)
    assert broken.returncode == 1
    assert "entry #3" in broken.stderr
    with world.database.sessions() as session:
        checked, where = service.verify(session)
    assert checked == 2 and where is not None and where.seq == 3


def test_verify_detects_a_removed_tail(client: TestClient, world: World) -> None:
    _make_entries(client, world, 3)
    with world.database.engine.begin() as conn:
        for statement in DROP_APPEND_ONLY_SQL[world.database.dialect]:
            conn.execute(text(statement))
        conn.execute(text("DELETE FROM history_entries WHERE seq = 4"))
    assert _verify(world.database).returncode == 1


def test_clients_read_only_their_history(client: TestClient, world: World) -> None:
    from nuages.accounts.roles import Role

    _make_entries(client, world, 2)
    mine = world.client("Mine")
    owner = world.user(Role.CLIENT_OWNER, mine)
    r = client.patch(
        f"/api/v1/clients/{mine}", json={"legal_name": "Mine SA"}, headers=owner.headers
    )
    assert r.status_code == 200
    items = client.get("/api/v1/history", headers=owner.headers).json()["items"]
    assert [i["action"] for i in items] == ["client.update"]
    admin = world.admin()
    assert client.get("/api/v1/history", headers=admin.headers).json()["total"] >= 5
