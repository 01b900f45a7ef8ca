"""Every client page renders for an owner, in French and in English, escaping what
clients typed; the small forms (SSH keys, users, API tokens) work and say what is wrong
next to the field."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from typing import Any

from sqlalchemy import select

from nuages.accounts.models import ApiToken
from nuages.accounts.roles import Role
from nuages.compute import schemas
from nuages.compute.services import vms
from nuages.kernel.db import Database
from tests.compute.world import TENANT_KEY, ComputeWorld, make_runtime
from tests.factories import World
from tests.portal.conftest import PASSWORD, signed_in

Make = Callable[..., Any]


def test_every_client_page_renders_in_both_languages(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any,
    tmp_path: Any,
) -> None:  # fmt: skip
    cw = ComputeWorld(world, make_runtime(tmp_path / "cw", database), offers, tmp_path)
    try:
        client_id = world.client("<i>Evil</i> SA")
        contract_id = cw.contract(client_id)
        cw.host()
        image = cw.image()
        owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
        with database.unit() as session:
            vm, _op = vms.create_vm(
                session, cw.principal(owner), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="web-1"),
            )  # fmt: skip
        visitor = signed_in(browser, email)
        pages = [
            "/", "/vms", f"/vms/{vm.id}", f"/vms/{vm.id}/status",
            f"/vms/{vm.id}/confirm?action=delete", "/vms/new", "/offers", "/contracts",
            f"/contracts/{contract_id}", f"/contracts/{contract_id}/account", "/invoices",
            "/keys", "/users", "/tokens", "/history", "/vms?state=running&q=web&page=2",
            *(f"/offers/{offer_id}" for offer_id in offers.offers),
        ]  # fmt: skip
        for lang in ("fr", "en"):
            visitor.http.cookies.set("nuages_lang", lang)
            for path in pages:
                answer = visitor.get(path)
                assert answer.status_code == 200, (lang, path, answer.text[:400])
                assert "<i>Evil</i>" not in answer.text
        assert "Dashboard" in visitor.get("/").text
    finally:
        cw.runtime.close()


def test_ssh_keys_users_and_tokens_forms(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    client_id = world.client()
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    bad = visitor.submit("/keys", "/keys", name="laptop", public_key="not a key")
    assert bad.status_code == 422 and 'id="e-public_key"' in bad.text
    good = visitor.submit("/keys", "/keys", name="laptop", public_key=TENANT_KEY)
    assert good.url.path == "/keys" and "SHA256:" in good.text
    added = visitor.submit("/users", "/users", email="member@example.com", role="client_member")
    assert added.url.path == "/users" and "member@example.com" in added.text
    taken = visitor.submit("/users", "/users", email="member@example.com", role="guest")
    # Said in French on a French page (portal/errors.py), the address kept.
    assert taken.status_code == 409
    assert "Un utilisateur a déjà l'adresse member@example.com." in unescape(taken.text)
    wrong = visitor.submit("/tokens", "/tokens", password="not my password", scopes="read")
    assert wrong.status_code == 401 and 'id="e-password"' in wrong.text
    made = visitor.submit("/tokens", "/tokens", password=PASSWORD, scopes="read", days="30")
    assert made.status_code == 201 and "nua_" in made.text
    token = made.text.split('id="new-token">')[1].split("<")[0]
    api = visitor.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    with database.unit() as session:
        rows = session.execute(select(ApiToken).where(ApiToken.scopes == "read")).scalars().all()
        assert len(rows) == 1 and rows[0].parent_id is None  # outlives the portal session
