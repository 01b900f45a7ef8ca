"""001 §15.3 enforced where staff read a client's personal data: its users (list and
detail), the GDPR register naming its people; both staff roles through a token need a
live grant (reason, expiry, not revoked) for that kind of data, each read is in the
client's history; without one a 403 problem names the missing grant. The provider's
own jobs and command line (no token) keep working."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts import service as accounts
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.factories import Actor, World

START = dt.datetime(2026, 11, 9, 10, tzinfo=dt.UTC)


def _grant(client: TestClient, client_id: str, staff: Actor, what: str, hours: int = 2) -> str:
    r = client.post(
        f"/api/v1/clients/{client_id}/gdpr/accesses",
        json={"what": what, "reason": f"ticket 42: support needs the {what}", "hours": hours},
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _uses(database: Database, client_id: str) -> list[str]:
    with database.unit() as session:
        rows = session.execute(
            select(HistoryEntry.params).where(
                HistoryEntry.client_id == client_id,
                HistoryEntry.action == "gdpr.staff_access.use",
            )
        ).scalars()
        return [str(p) for p in rows]


def _refused(response: object, what: str) -> None:
    assert response.status_code == 403, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert f"no open access to this client's {what}" in detail and "001 §15.3" in detail


def test_001_s15_3_staff_read_a_clients_users_only_with_a_live_grant(
    client: TestClient, world: World, database: Database
) -> None:
    """Without a grant: GET /users?client_id= and GET /users/{id} are 403 naming the
    missing "users" grant, and the whole list shows staff only; with one, both answer
    and each read is in the client's history; once expired, or revoked by the owner,
    403 again. An operator is held to the same rule as an admin."""
    set_now(START)
    admin, operator = world.admin(), world.user(Role.PROVIDER_OPERATOR, None)
    client_id = world.client("Watched SA")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    for staff in (admin, operator):
        _refused(client.get(f"/api/v1/users?client_id={client_id}", headers=staff.headers), "users")
        _refused(client.get(f"/api/v1/users/{owner.user_id}", headers=staff.headers), "users")
        everyone = client.get("/api/v1/users?per_page=200", headers=staff.headers).json()
        assert owner.user_id not in {u["id"] for u in everyone["items"]}
        assert all(u["client_id"] is None for u in everyone["items"])
    assert _uses(database, client_id) == []
    # With a grant (admin only: the operator has none).
    _grant(client, client_id, admin, "users")
    r = client.get(f"/api/v1/users?client_id={client_id}", headers=admin.headers)
    assert r.status_code == 200 and [u["id"] for u in r.json()["items"]] == [owner.user_id]
    assert client.get(f"/api/v1/users/{owner.user_id}", headers=admin.headers).status_code == 200
    everyone = client.get("/api/v1/users?per_page=200", headers=admin.headers).json()
    assert owner.user_id in {u["id"] for u in everyone["items"]}
    _refused(client.get(f"/api/v1/users/{owner.user_id}", headers=operator.headers), "users")
    assert len(_uses(database, client_id)) == 3
    history = client.get("/api/v1/history", headers=owner.headers).json()["items"]
    assert sum(e["action"] == "gdpr.staff_access.use" for e in history) == 3  # the client sees it
    # Expired (2 hours later).
    set_now(START + dt.timedelta(hours=2))
    _refused(client.get(f"/api/v1/users/{owner.user_id}", headers=admin.headers), "users")
    # A new one, revoked by the owner.
    second = _grant(client, client_id, admin, "users")
    assert client.get(f"/api/v1/users/{owner.user_id}", headers=admin.headers).status_code == 200
    r = client.delete(f"/api/v1/clients/{client_id}/gdpr/accesses/{second}", headers=owner.headers)
    assert r.status_code == 200
    _refused(client.get(f"/api/v1/users?client_id={client_id}", headers=admin.headers), "users")
    # A grant for consoles does not open the users.
    _grant(client, client_id, admin, "consoles")
    _refused(client.get(f"/api/v1/users/{owner.user_id}", headers=admin.headers), "users")
    # The client's own users are not held to it; staff read their own record.
    assert client.get(f"/api/v1/users/{owner.user_id}", headers=owner.headers).status_code == 200
    assert client.get(f"/api/v1/users/{admin.user_id}", headers=admin.headers).status_code == 200


def test_001_s15_3_staff_writes_and_the_providers_jobs_need_no_read_grant(
    client: TestClient, world: World, database: Database
) -> None:
    """Changing a user (an act recorded as such) is not a read of personal data, and
    the provider's automation and command line (no token) keep working."""
    admin = world.admin()
    client_id = world.client("Watched SA")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.patch(
        f"/api/v1/users/{owner.user_id}", json={"is_terms_decider": True}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    with database.unit() as session:
        users, total = accounts.list_users(session, Principal.staff("job"), 1, 50, client_id)
        assert total == 1 and users[0].id == owner.user_id
        assert accounts.get_user(session, Principal.operator(), owner.user_id).id == owner.user_id
    assert _uses(database, client_id) == []


def test_001_s15_3_staff_export_the_gdpr_register_only_with_a_users_grant(
    client: TestClient, world: World, database: Database
) -> None:
    """The register names the client's owners and DPO: staff export it (JSON or PDF)
    with a live "users" grant; the owner always reads it."""
    set_now(START)
    admin = world.admin()
    client_id = world.client("Watched SA")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    url = f"/api/v1/clients/{client_id}/gdpr/register"
    _refused(client.get(url, headers=admin.headers), "users")
    _refused(client.get(url + "?format=pdf", headers=admin.headers), "users")
    assert client.get(url, headers=owner.headers).status_code == 200
    _grant(client, client_id, admin, "users")
    assert client.get(url, headers=admin.headers).status_code == 200
    pdf = client.get(url + "?format=pdf", headers=admin.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert sum("GDPR register export" in p for p in _uses(database, client_id)) == 2
