"""GDPR Art. 30.2 / 001 §16.4 (iv): the register kept for each client, with transfers
outside the EU derived from the hosts' and sub-processors' countries; 001 §16.9: adding
or replacing a sub-processor informs every client and the register follows at once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.gdpr.models import SubProcessor
from nuages.history.models import HistoryEntry
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.compute.world import tenant_objects
from tests.factories import World

SUBS = "/api/v1/gdpr/sub-processors"


def _register(client: TestClient, client_id: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    r = client.get(f"/api/v1/clients/{client_id}/gdpr/register", headers=headers)
    assert r.status_code == 200, r.text
    data: dict = r.json()  # type: ignore[type-arg]
    return data


def test_art30_2_register_derives_transfers_from_countries(
    client: TestClient, world: World, database: Database
) -> None:
    """A client whose VM runs on a Belgian host: its data centre is listed, no transfer.
    Adding a Swiss sub-processor adds a transfer on an adequacy decision (Art. 45); an
    Indian one needs its Art. 46 safeguard (refused without, nothing written); replacing
    the Swiss one by a German one removes that transfer at once (the register is read
    from live data). The owner reads it as JSON and PDF; another client gets 404."""
    admin = world.admin()
    a = world.client("Client A")
    owner = world.user(Role.CLIENT_OWNER, a)
    tenant_objects(world, a, owner)  # a contract, a dedicated host in BE, a VM on it
    data = _register(client, a, owner.headers)
    assert data["controller"]["legal_name"] == "Client A"
    assert [(d["site"], d["country"]) for d in data["data_centres"]] == [("waterloo-1", "BE")]
    assert data["transfers_outside_eu"] == []
    assert any("virtual machines" in c for c in data["categories"])
    assert data["dpo"] is None and data["contact"]["email"].startswith("client_owner")
    r = client.post(
        SUBS,
        json={"name": "Swiss Backup AG", "service": "offsite backups", "country": "CH"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    swiss = r.json()["sub_processor"]["id"]
    refused = client.post(
        SUBS, json={"name": "Mumbai Ops", "service": "night support", "country": "IN"},
        headers=admin.headers,
    )  # fmt: skip
    assert refused.status_code == 422 and "safeguard" in refused.json()["detail"]
    r = client.post(
        SUBS,
        json={"name": "Mumbai Ops", "service": "night support", "country": "IN",
              "safeguard": "standard contractual clauses 2021/914, module 3"},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    transfers = {
        t["country"]: t["safeguard"]
        for t in _register(client, a, owner.headers)["transfers_outside_eu"]
    }
    assert transfers["CH"].startswith("adequacy decision, GDPR Art. 45")
    assert transfers["IN"].startswith("appropriate safeguards, GDPR Art. 46: standard contractual")
    r = client.post(
        SUBS,
        json={"name": "Frankfurt Backup GmbH", "service": "offsite backups", "country": "DE",
              "replaces_id": swiss},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["replaced"]["id"] == swiss
    after = _register(client, a, owner.headers)
    assert [t["country"] for t in after["transfers_outside_eu"]] == ["IN"]
    assert {s["name"] for s in after["sub_processors"]} == {"Mumbai Ops", "Frankfurt Backup GmbH"}
    pdf = client.get(f"/api/v1/clients/{a}/gdpr/register?format=pdf", headers=owner.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    b_owner = world.user(Role.CLIENT_OWNER, world.client("Client B"))
    assert (
        client.get(f"/api/v1/clients/{a}/gdpr/register", headers=b_owner.headers).status_code == 404
    )
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(SubProcessor)).scalar_one() == 3


def test_001_s16_9_subprocessor_change_notifies_every_client_and_is_recorded(
    client: TestClient, world: World, database: Database
) -> None:
    """Two clients with a contract and one without: adding a sub-processor queues one
    notice per client under contract (kind subprocessor_changed, 001 §16.9), to the DPO
    when named; the change is in the history; a client's owner may not add one."""
    admin = world.admin()
    ids = []
    for name in ("One", "Two"):
        client_id = world.client(name)
        owner = world.user(Role.CLIENT_OWNER, client_id)
        r = client.post(
            "/api/v1/contracts", json={"offer_id": "isstar-cloud", "accept_terms": True},
            headers=owner.headers,
        )  # fmt: skip
        assert r.status_code == 201
        ids.append(client_id)
    client.put(
        f"/api/v1/clients/{ids[0]}/gdpr/dpo",
        json={"name": "D", "email": "dpo@one.example"},
        headers=admin.headers,
    )
    world.client("No contract")
    body = {"name": "Interxion Belgium NV", "service": "data centre", "country": "BE"}
    assert client.post(SUBS, json=body, headers=owner.headers).status_code == 403
    r = client.post(SUBS, json=body, headers=admin.headers)
    assert r.status_code == 201 and r.json()["notified_clients"] == 2
    with database.unit() as session:
        notices = (
            session.execute(select(Notice).where(Notice.kind == "subprocessor_changed"))
            .scalars()
            .all()
        )
        assert sorted(n.client_id for n in notices) == sorted(ids)
        assert {n.clause for n in notices} == {"001 §16.9"}
        to_dpo = next(n for n in notices if n.client_id == ids[0])
        assert to_dpo.recipients == '["dpo@one.example"]'
        actions = session.execute(select(HistoryEntry.action)).scalars().all()
        assert "gdpr.sub_processor.add" in actions
    listed = client.get(SUBS, headers=owner.headers).json()
    assert [s["name"] for s in listed] == ["Interxion Belgium NV"]


def test_001_s16_7_breach_scope_resolved_from_hosts(
    client: TestClient, world: World, database: Database
) -> None:
    """A breach on host "tenant-host" reaches the client whose VM runs there only."""
    admin = world.admin()
    a = world.client("On host")
    tenant_objects(world, a, world.user(Role.CLIENT_OWNER, a))
    world.client("Elsewhere")
    import datetime as dt

    from nuages.kernel.clock import frozen_at
    from tests.gdpr.test_breaches import BODY, DETECTED

    with frozen_at(DETECTED + dt.timedelta(hours=1)):
        r = client.post(
            "/api/v1/gdpr/breaches",
            json={**BODY, "scope": {"hosts": ["tenant-host"]}},
            headers=admin.headers,
        )
        sites = client.post(
            "/api/v1/gdpr/breaches",
            json={**BODY, "scope": {"sites": ["waterloo-1"]}},
            headers=admin.headers,
        )
        unknown = client.post(
            "/api/v1/gdpr/breaches",
            json={**BODY, "scope": {"hosts": ["nope"]}},
            headers=admin.headers,
        )
    assert r.status_code == 201, r.text
    assert [n["client_id"] for n in r.json()["notified"]] == [a]
    assert [n["client_id"] for n in sites.json()["notified"]] == [a]
    assert unknown.status_code == 422 and "scope.hosts" in unknown.json()["detail"]
