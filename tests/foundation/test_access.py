"""Tenant isolation, roles and token validity, generated from the app's route table.

For every route that takes an object id, another client's token on the object answers
404 (never 403, which would confirm it exists); lists never show another client's
objects; a guest cannot write; a revoked or expired token gets 401 everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.models import ApiToken
from nuages.accounts.roles import Role, Scope
from nuages.app import create_app
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.settings import Settings
from tests.billing.factories import tenant_extension
from tests.compute.world import tenant_objects
from tests.factories import Actor, World
from tests.invoicing.access import invoicing_objects
from tests.notices.access import notice_of
from tests.sla.access import sla_objects
from tests.support.access import support_objects

from .routes import PUBLIC, SELF_SERVICE, SHARED_PARAMS, Route, api_routes

ALL_ROUTES = list(api_routes(create_app(Settings(database_url="sqlite://"))))


def tenant_hold(world: World, contract_id: str, client_id: str) -> str:
    """A hold already lifted on the contract (it leaves the contract as it is)."""
    from nuages.contracts.models import ContractHold
    from nuages.kernel.clock import utc_now

    with world.database.unit() as session:
        hold = ContractHold(
            contract_id=contract_id, client_id=client_id, ground="staff-decision", clause="",
            reason="access test", placed_by="test", placed_at=utc_now(), lifted_by="test",
            lifted_at=utc_now(), lift_reason="access test", wrongful=False,
        )  # fmt: skip
        session.add(hold)
        session.flush()
        return hold.id


class TenantA:
    """Client A's objects, one per kind of path parameter."""

    def __init__(self, world: World, http: TestClient) -> None:
        self.client_id = world.client("Client A")
        self.owner = world.user(Role.CLIENT_OWNER, self.client_id)
        r = http.post(
            f"/api/v1/clients/{self.client_id}/users",
            json={"email": "member-a@example.com", "role": "client_member"},
            headers=self.owner.headers,
        )
        assert r.status_code == 201, r.text
        self.member_id = r.json()["id"]
        r = http.post(
            "/api/v1/contracts",
            json={"offer_id": "isstar-cloud", "accept_terms": True},
            headers=self.owner.headers,
        )
        assert r.status_code == 201, r.text
        self.contract_id = r.json()["id"]
        self.compute = tenant_objects(world, self.client_id, self.owner)
        self.invoicing = invoicing_objects(world.database, http, self.client_id, self.owner)
        self.extension_id = tenant_extension(world, http, self.owner)
        self.hold_id = tenant_hold(world, self.contract_id, self.client_id)
        with world.database.unit() as session:
            self.token_id = session.execute(
                select(ApiToken.id).where(ApiToken.user_id == self.owner.user_id)
            ).scalar_one()
            self.entry_id = session.execute(
                select(HistoryEntry.id)
                .where(HistoryEntry.client_id == self.client_id)
                .order_by(HistoryEntry.seq)
                .limit(1)
            ).scalar_one()
            self.notice_id = notice_of(session, self.client_id)
        vm_id = self.compute["vm_id"]
        self.sla = sla_objects(world.database, self.client_id, self.contract_id, vm_id)
        self.support = support_objects(
            world.database, http, self.client_id, self.owner, self.compute["vm_id"]
        )

    def values(self) -> dict[str, str]:
        """A value for every path parameter the app knows; extend when a route adds one."""
        return {
            "client_id": self.client_id,
            "user_id": self.member_id,
            "token_id": self.token_id,
            "entry_id": self.entry_id,
            "contract_id": self.contract_id,
            "offer_id": "isstar-cloud",
            "extension_id": self.extension_id,
            "notice_id": self.notice_id,
            "hold_id": self.hold_id,
            **self.compute,
            **self.invoicing,
            **self.sla,
            **self.support,
        }

    def ids(self) -> set[str]:
        owned = {k: v for k, v in self.values().items() if k not in SHARED_PARAMS}
        return set(owned.values()) | {self.owner.user_id}


def _call(http: TestClient, route: Route, values: dict[str, str], actor: Actor) -> Any:
    return http.request(
        route.method, route.url(values), json=route.body_example, headers=actor.headers
    )


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def test_every_path_parameter_has_a_factory(client: TestClient, world: World) -> None:
    """A new route whose parameter has no factory must fail here, not go unchecked."""
    known = set(TenantA(world, client).values())
    for route in ALL_ROUTES:
        missing = set(route.params) - known
        assert not missing, f"{route}: add a factory for {missing} in TenantA.values()"


TENANT_ROUTES = [r for r in ALL_ROUTES if set(r.params) - SHARED_PARAMS]
LIST_ROUTES = [r for r in ALL_ROUTES if r.method == "GET" and not r.params]
GUEST_WRITES = [
    r for r in ALL_ROUTES if r.writes and (r.method, r.path) not in PUBLIC | SELF_SERVICE
]
# A public route (the card provider's signed webhook) answers to its signature, not to
# the caller's role.
BILLING_ROUTES = [r for r in ALL_ROUTES if "billing" in r.tags and (r.method, r.path) not in PUBLIC]

# Each check walks every route against one set of tenant objects: building client A's
# objects (VMs, invoices, extensions…) once per route made this file take 15 minutes.
# Failures are collected so one run names every offending route.


def test_route_lists_are_not_empty() -> None:
    """The generated checks below would pass vacuously on an empty table."""
    assert TENANT_ROUTES and LIST_ROUTES and GUEST_WRITES and BILLING_ROUTES


def test_other_clients_object_answers_404(client: TestClient, world: World) -> None:
    """Client B's owner, holding every scope, gets 404 on each of client A's objects."""
    a = TenantA(world, client)
    b_owner = world.user(Role.CLIENT_OWNER, world.client("Client B"))
    failures = []
    for route in TENANT_ROUTES:
        response = _call(client, route, a.values(), b_owner)
        if response.status_code != 404 or not response.headers["content-type"].startswith(
            "application/problem+json"
        ):
            failures.append(f"{route}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_lists_never_show_another_clients_objects(client: TestClient, world: World) -> None:
    """Every list endpoint, read by client B, contains none of client A's ids."""
    a = TenantA(world, client)
    b_owner = world.user(Role.CLIENT_OWNER, world.client("Client B"))
    failures = []
    for route in LIST_ROUTES:
        response = _call(client, route, {}, b_owner)
        if response.status_code != 200:
            failures.append(f"{route}: {response.status_code} {response.text[:200]}")
            continue
        leaked = _strings(response.json()) & a.ids()
        if leaked:
            failures.append(f"{route} leaked {leaked}")
    assert not failures, "\n".join(failures)


def test_guest_cannot_write(client: TestClient, world: World) -> None:
    """A guest (004 §1 "Invité") reads but never changes anything: 403 on its own client
    (404 only where the route names an object the guest cannot see)."""
    a = TenantA(world, client)
    guest = world.user(Role.GUEST, a.client_id)
    failures = []
    for route in GUEST_WRITES:
        response = _call(client, route, a.values(), guest)
        code = response.status_code
        if code not in {403, 404} or (code == 404 and not route.params):
            failures.append(f"{route}: {code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def _own_token_id(world: World, actor: Actor) -> str:
    with world.database.unit() as session:
        return session.execute(
            select(ApiToken.id).where(ApiToken.user_id == actor.user_id)
        ).scalar_one()


@pytest.mark.parametrize("state", ["revoked", "expired", "garbage"])
def test_bad_token_gets_401_on_every_route(client: TestClient, world: World, state: str) -> None:
    """A revoked, expired or malformed token is refused on every authenticated route."""
    a = TenantA(world, client)
    admin = world.admin()
    if state == "revoked":
        r = client.delete(f"/api/v1/tokens/{_own_token_id(world, admin)}", headers=admin.headers)
        assert r.status_code == 200
    elif state == "expired":
        set_now(utc_now() + dt.timedelta(days=366))
    else:
        admin = Actor(admin.user_id, None, "nua_notarealtoken_xyz")
    for route in ALL_ROUTES:
        if (route.method, route.path) in PUBLIC:
            continue
        response = _call(client, route, a.values(), admin)
        assert response.status_code == 401, f"{route} ({state}): {response.text}"
        assert response.headers.get("www-authenticate") == "Bearer"


def test_member_never_holds_billing(client: TestClient, world: World) -> None:
    """A member (000 §5 sub-user) operates VMs but has no billing rights, even if asked."""
    client_id = world.client()
    member = world.user(Role.CLIENT_MEMBER, client_id)
    r = client.post(
        "/api/v1/tokens", json={"scopes": ["billing"], "days": 1}, headers=member.headers
    )
    assert r.status_code == 403
    with pytest.raises(Exception, match="cannot hold the scopes: billing"):
        world.user(Role.CLIENT_MEMBER, client_id, scopes=frozenset({Scope.BILLING}))


def test_member_cannot_reach_billing(client: TestClient, world: World) -> None:
    """Every route tagged billing refuses a member of the owning client (000 §5)."""
    a = TenantA(world, client)
    member = world.user(Role.CLIENT_MEMBER, a.client_id)
    failures = []
    for route in BILLING_ROUTES:
        response = _call(client, route, a.values(), member)
        if response.status_code != 403:
            failures.append(f"{route}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_member_cannot_promote_themselves(client: TestClient, world: World) -> None:
    """Only an owner or staff hands out roles."""
    client_id = world.client()
    member = world.user(Role.CLIENT_MEMBER, client_id)
    r = client.patch(
        f"/api/v1/users/{member.user_id}", json={"role": "client_owner"}, headers=member.headers
    )
    assert r.status_code == 403
    r = client.get("/api/v1/me", headers=member.headers)
    assert r.json()["role"] == "client_member"


def test_owner_cannot_create_staff(client: TestClient, world: World) -> None:
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.post(
        "/api/v1/users",
        json={"email": "evil@example.com", "role": "provider_admin"},
        headers=owner.headers,
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/clients/{client_id}/users",
        json={"email": "evil@example.com", "role": "provider_admin"},
        headers=owner.headers,
    )
    assert r.status_code == 403


def test_token_scope_limits_role(client: TestClient, world: World) -> None:
    """An owner's read-only token cannot write, though the owner could."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id, scopes=frozenset({Scope.READ}))
    r = client.patch(
        f"/api/v1/clients/{client_id}", json={"legal_name": "X"}, headers=owner.headers
    )
    assert r.status_code == 403
    assert "write" in r.json()["detail"]


def test_problem_documents_have_stable_types(client: TestClient, world: World) -> None:
    admin = world.admin()
    r = client.get("/api/v1/clients/nope", headers=admin.headers)
    assert r.status_code == 404
    body = r.json()
    assert body["type"] == "https://nuages.dev/problems/not-found"
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    r = client.post("/api/v1/clients", content=b"{not json", headers=admin.headers)
    assert r.status_code == 422
    assert json.loads(r.text)["type"].endswith("/validation-failed")
