"""The compute REST API over the real app, hosts simulated by libvirt's test driver.

Long actions answer 202 with an operation; the test runs the job the way a worker
would (``cw.run``) and polls the operation. Bad input is a 4xx problem document and
writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute.models import Operation, PortLease, SshKey, Vm
from tests.compute.world import TENANT_KEY, ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import Actor

PROBLEM = "application/problem+json"


@pytest.fixture
def api(client: TestClient, cw: ComputeWorld) -> TestClient:
    """The app's client, its compute runtime being the test's (jobs run on demand)."""
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    return client


@pytest.fixture
def tenant(cw: ComputeWorld) -> tuple[str, str, Actor]:
    """A client with a formed isstar-cloud contract, a shared host and an image."""
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    return client_id, contract, cw.world.user(Role.CLIENT_OWNER, client_id)


def body(contract: str, **over: Any) -> dict[str, Any]:
    return {"contract_id": contract, "flavour": "vm-s", "image": "base", "name": "web-1"} | over


def counts(cw: ComputeWorld) -> tuple[int, ...]:
    with cw.database.unit() as session:
        return tuple(
            session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Vm, Operation, PortLease, SshKey)
        )


def poll(api: TestClient, cw: ComputeWorld, accepted: dict[str, Any], who: Actor) -> Any:
    """Run the job of an accepted action and read its operation back."""
    op = accepted["operation"]
    assert op["state"] == "queued"
    assert api.get(f"/api/v1/operations/{op['id']}", headers=who.headers).json()["state"] == (
        "queued"
    )
    cw.run(op["id"])
    return api.get(f"/api/v1/operations/{op['id']}", headers=who.headers).json()


def test_create_poll_act_delete(
    api: TestClient, cw: ComputeWorld, tenant: tuple[str, str, Actor]
) -> None:
    _client_id, contract, owner = tenant
    h = owner.headers
    r = api.post("/api/v1/ssh-keys", json={"name": "laptop", "public_key": TENANT_KEY}, headers=h)
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["fingerprint"].startswith("SHA256:")

    r = api.post("/api/v1/vms", json=body(contract, ssh_key_ids=[key["id"]]), headers=h)
    assert r.status_code == 202, r.text
    vm = r.json()["vm"]
    assert (vm["vm_state"], vm["task_state"], vm["power_state"]) == (
        "building",
        "creating",
        "unknown",
    )
    assert poll(api, cw, r.json(), owner)["state"] == "succeeded"
    vm = api.get(f"/api/v1/vms/{vm['id']}", headers=h).json()
    assert (vm["vm_state"], vm["power_state"], vm["task_state"]) == ("running", "running", None)
    assert vm["ssh_port"] >= 42000 and vm["activated_at"] is not None

    for action, task, after in (
        ("stop", "stopping", "stopped"),
        ("start", "starting", "running"),
        ("reboot", "rebooting", "running"),
    ):
        r = api.post(f"/api/v1/vms/{vm['id']}/{action}", headers=h)
        assert r.status_code == 202, r.text
        assert r.json()["vm"]["task_state"] == task
        assert poll(api, cw, r.json(), owner)["state"] == "succeeded"
        assert api.get(f"/api/v1/vms/{vm['id']}", headers=h).json()["vm_state"] == after

    r = api.post(f"/api/v1/vms/{vm['id']}/resize", json={"flavour": "vm-m"}, headers=h)
    assert r.status_code == 409  # resize only while stopped
    assert r.headers["content-type"] == PROBLEM
    assert "cannot resize a running VM" in r.json()["detail"]

    r = api.post(f"/api/v1/vms/{vm['id']}/reinstall", headers=h)
    assert poll(api, cw, r.json(), owner)["state"] == "succeeded"

    ops = api.get(f"/api/v1/operations?vm_id={vm['id']}", headers=h).json()
    assert [o["kind"] for o in ops["items"]] == [
        "reinstall", "reboot", "start", "stop", "create",
    ]  # fmt: skip
    r = api.delete(f"/api/v1/vms/{vm['id']}", headers=h)
    assert r.status_code == 202
    assert poll(api, cw, r.json(), owner)["state"] == "succeeded"
    gone = api.get(f"/api/v1/vms/{vm['id']}", headers=h).json()
    assert (gone["vm_state"], gone["ssh_port"]) == ("deleted", None)
    assert api.get("/api/v1/vms", headers=h).json()["total"] == 0
    assert api.get("/api/v1/vms?include_deleted=true", headers=h).json()["total"] == 1
    assert counts(cw)[2] == 0  # no port lease left


BAD_CREATES = [
    ({"name": "Web_1"}, 422, "name"),
    ({"name": "../etc"}, 422, "name"),
    ({"flavour": "vm-xxl"}, 422, "is not sold"),
    ({"image": "nope"}, 422, "no image"),
    ({"image": "huge"}, 422, "needs a 500 GiB disk"),
    ({"ssh_key_ids": ["not-a-key-of-yours"]}, 422, "no key"),
    ({"surprise": 1}, 422, "surprise"),
    ({"contract_id": "0" * 36}, 404, "no such contract"),
]


@pytest.mark.parametrize(("change", "code", "words"), BAD_CREATES, ids=[b[2] for b in BAD_CREATES])
def test_bad_create_is_a_4xx_and_writes_nothing(
    api: TestClient,
    cw: ComputeWorld,
    tenant: tuple[str, str, Actor],
    change: dict[str, Any],
    code: int,
    words: str,
) -> None:
    _client_id, contract, owner = tenant
    cw.image("huge", size_gib=500)
    before = counts(cw)
    r = api.post("/api/v1/vms", json=body(contract, **change), headers=owner.headers)
    assert r.status_code == code, r.text
    assert r.headers["content-type"] == PROBLEM
    assert words in r.text
    assert counts(cw) == before


@pytest.mark.parametrize(
    "text",
    ["not a key", "ssh-ed25519 AAAA", "-----BEGIN OPENSSH PRIVATE KEY-----", "ssh-dss AAAAB3"],
)
def test_key_that_is_not_a_key(
    api: TestClient, cw: ComputeWorld, tenant: tuple[str, str, Actor], text: str
) -> None:
    r = api.post(
        "/api/v1/ssh-keys", json={"name": "bad", "public_key": text}, headers=tenant[2].headers
    )
    assert r.status_code == 422, r.text
    assert "public_key" in r.json()["detail"]
    assert counts(cw)[3] == 0


def test_full_host_is_a_409(api: TestClient, cw: ComputeWorld) -> None:
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host(cpus=1, ram_mib=1024)
    cw.image()
    owner = cw.world.user(Role.CLIENT_OWNER, client_id)
    assert api.post("/api/v1/vms", json=body(contract), headers=owner.headers).status_code == 202
    before = counts(cw)
    r = api.post("/api/v1/vms", json=body(contract, name="two"), headers=owner.headers)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/capacity-exhausted")
    assert counts(cw) == before


def test_members_guests_and_grants(
    api: TestClient, cw: ComputeWorld, tenant: tuple[str, str, Actor]
) -> None:
    """000 §5: an owner gives a member a VM; the member sees and operates that one;
    a guest (004 §1) reads and never acts."""
    client_id, contract, owner = tenant
    member = cw.world.user(Role.CLIENT_MEMBER, client_id)
    guest = cw.world.user(Role.GUEST, client_id)
    r = api.post("/api/v1/vms", json=body(contract), headers=owner.headers)
    vm_id = r.json()["vm"]["id"]
    cw.run(r.json()["operation"]["id"])
    assert (
        api.post("/api/v1/vms", json=body(contract, name="m"), headers=member.headers).status_code
        == 403
    )
    assert api.get(f"/api/v1/vms/{vm_id}", headers=member.headers).status_code == 404
    r = api.post(
        f"/api/v1/vms/{vm_id}/grants", json={"user_id": member.user_id}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    assert [v["id"] for v in api.get("/api/v1/vms", headers=member.headers).json()["items"]] == [
        vm_id
    ]
    assert api.post(f"/api/v1/vms/{vm_id}/stop", headers=member.headers).status_code == 202
    assert api.get(f"/api/v1/vms/{vm_id}", headers=guest.headers).status_code == 200
    assert api.post(f"/api/v1/vms/{vm_id}/reboot", headers=guest.headers).status_code == 403
    r = api.delete(f"/api/v1/vms/{vm_id}/grants/{member.user_id}", headers=owner.headers)
    assert r.status_code == 204
    assert api.get(f"/api/v1/vms/{vm_id}", headers=member.headers).status_code == 404


def test_hosts_images_and_pools_visibility(api: TestClient, cw: ComputeWorld) -> None:
    """Staff see every host; a client its dedicated hosts (000 §1) and no IP pool; a
    client's private image is invisible to others."""
    from tests.compute.world import CLI  # noqa: F401 - staff act through the admin below

    admin = cw.world.admin()
    a = cw.world.client("A")
    b = cw.world.client("B")
    a_owner = cw.world.user(Role.CLIENT_OWNER, a)
    b_owner = cw.world.user(Role.CLIENT_OWNER, b)
    shared = cw.host()
    mine = cw.host(dedicated_to=a)
    cw.image("public")
    private = cw.image("private-a", client_id=a)

    def ids(path: str, who: Actor) -> set[str]:
        r = api.get(path, headers=who.headers)
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert ids("/api/v1/hosts", admin) == {shared.id, mine.id}
    assert ids("/api/v1/hosts", a_owner) == {mine.id}
    assert ids("/api/v1/hosts", b_owner) == set()
    assert api.get(f"/api/v1/hosts/{mine.id}", headers=b_owner.headers).status_code == 404
    assert private.id in ids("/api/v1/images", a_owner)
    assert private.id not in ids("/api/v1/images", b_owner)

    pool = {
        "name": "public-ips",
        "network": "nuages-br0",
        "site": "waterloo-1",
        "cidr": "192.0.2.0/24",
        "gateway": "192.0.2.1",
        "first": "192.0.2.10",
        "last": "192.0.2.19",
    }
    assert api.post("/api/v1/ip-pools", json=pool, headers=a_owner.headers).status_code == 403
    r = api.post("/api/v1/ip-pools", json=pool, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["held"], r.json()["size"]) == (0, 10)
    assert ids("/api/v1/ip-pools", a_owner) == set()
    bad = pool | {"name": "bad", "cidr": "192.0.2.0/33"}
    assert api.post("/api/v1/ip-pools", json=bad, headers=admin.headers).status_code == 422
    r = api.delete(f"/api/v1/ip-pools/{r.json()['id']}", headers=admin.headers)
    assert r.status_code == 204
