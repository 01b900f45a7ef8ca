"""Extensions (000 §1 "Extension", §8): extra VMs for a limited period, authorised by
the Responsable, billed per extra VM-hour, ending by themselves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.billing import extensions, metering
from nuages.billing.models import Extension, LedgerEntry
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import at, funded, order
from tests.factories import World

ORDER = {
    "kind": "vms",
    "item_id": "vm-m",
    "quantity": 2,
    "starts_at": "2026-11-02T10:00:00Z",
    "ends_at": "2026-11-02T13:00:00Z",
    "reason": "campaign",
}


def _order(client: TestClient, contract_id: str, headers: dict[str, str], **change: Any) -> Any:
    return client.post(
        f"/api/v1/contracts/{contract_id}/extensions", json=ORDER | change, headers=headers
    )


def test_000_s8_member_request_waits_for_the_designated_responsable(
    client: TestClient, world: World
) -> None:
    """000 §8: a member's order waits; a notice names the decider; only the designated
    Responsable (not another owner, not the member, not staff) authorises it."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    decider = world.user(Role.CLIENT_OWNER, f.client_id)
    r = client.patch(
        f"/api/v1/users/{decider.user_id}",
        json={"is_terms_decider": True},
        headers=f.admin.headers,
    )
    assert r.status_code == 200, r.text
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    r = _order(client, f.contract_id, member.headers)
    assert r.status_code == 201, r.text
    ext = r.json()
    assert ext["state"] == "pending" and ext["active_from"] is None
    url = f"/api/v1/extensions/{ext['id']}/approve"
    for someone in (member, f.owner, f.admin):
        assert client.post(url, json={}, headers=someone.headers).status_code == 403
    set_now(at("2026-11-02 10:20"))
    r = client.post(url, json={"reason": "ok"}, headers=decider.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    assert r.json()["active_from"].startswith("2026-11-02T10:20")  # billed from authorisation
    assert client.post(url, json={}, headers=decider.headers).status_code == 409
    with world.database.unit() as session:
        notice = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "notice.extension_request")
        ).scalar_one()
        assert decider.user_id in notice.params


def test_owner_order_is_authorised_at_once_when_no_decider_is_designated(
    client: TestClient, world: World
) -> None:
    """Without a designated Responsable every owner decides; its own order needs no
    second step."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    r = _order(client, f.contract_id, f.owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "approved"
    assert r.json()["active_from"].startswith("2026-11-02T10:00")


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"starts_at": "2026-11-02T08:00:00Z"}, 422, "in the past"),
        ({"ends_at": "2026-11-02T09:30:00Z"}, 422, "after starts_at"),
        ({"ends_at": "2026-12-10T10:00:00Z"}, 422, "at most 31 days"),
        ({"ends_at": "2026-11-02T10:30:00Z"}, 422, "000 §9"),
        ({"item_id": "vm-xxl"}, 422, "no flavour"),
        ({"kind": "option", "item_id": "dedicated-infra"}, 422, "no option"),
        ({"kind": "option", "item_id": "backup-7d"}, 201, ""),
        ({"quantity": 0}, 422, "quantity"),
        ({"starts_at": "2026-11-02T10:00:00"}, 422, "timezone"),
    ],
)
def test_bad_extension_refused_and_nothing_written(
    client: TestClient, world: World, change: dict[str, Any], status: int, words: str
) -> None:
    """In the past, ending before it starts, longer than allowed (31 days), shorter than
    the 1-hour minimum (000 §9), an item the offer does not sell: 422, nothing written."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    r = _order(client, f.contract_id, f.owner.headers, **change)
    assert r.status_code == status, r.text
    assert words in r.text
    with world.database.unit() as session:
        count = session.execute(select(func.count()).select_from(Extension)).scalar_one()
    assert count == (1 if status == 201 else 0)


def test_no_extension_before_the_contract_is_formed(client: TestClient, world: World) -> None:
    """000 §3.1: nothing is provisioned on a pending contract, extensions included."""
    set_now(at("2026-11-02 09:00"))
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = order(client, owner)
    assert _order(client, contract_id, owner.headers).status_code == 402


def test_000_s8_extension_bills_only_vms_that_exist_and_ends_by_itself(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """2 × vm-m over [10:00, 13:00) whose VMs were never made (no host, no pass): no
    extra VM-hour, nothing billed (issue 9.8: it used to bill 0.288 for nothing; the
    VM-hours of made VMs are tested in test_extension_vms); at 13:05 it has ended."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    ext = _order(client, f.contract_id, f.owner.headers).json()
    set_now(at("2026-11-02 15:00"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 15:00"), registry=offers)
    with database.unit() as session:
        rows = session.execute(
            select(LedgerEntry.period_start, LedgerEntry.amount, LedgerEntry.quantity)
            .where(LedgerEntry.resource_id == ext["id"])
            .order_by(LedgerEntry.period_start)
        ).all()
    assert rows == []
    with database.unit() as session:
        assert extensions.expire(session, at("2026-11-02 13:05")) == 1
    r = client.get(f"/api/v1/extensions/{ext['id']}", headers=f.owner.headers)
    assert r.json()["state"] == "ended"


def test_running_extension_cut_short_never_below_one_hour(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """Withdrawn 20 minutes after it started, an extension ends one hour after its start
    (000 §9), and is billed that hour only: 2 × backup-7d at 2.00 a month, November
    (Brussels) having 720 hours: 2 × 2.00 / 720 = 0.005556; a pending one is simply
    cancelled."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    ext = _order(client, f.contract_id, f.owner.headers, kind="option", item_id="backup-7d").json()
    set_now(at("2026-11-02 10:20"))
    r = client.post(
        f"/api/v1/extensions/{ext['id']}/cancel", json={"reason": "done"}, headers=f.owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["ends_at"].startswith("2026-11-02T11:00")
    set_now(at("2026-11-02 14:00"))  # metering runs as of now (17.8)
    metering.run(database.unit, at("2026-11-02 14:00"), registry=offers)
    with database.unit() as session:
        total = session.execute(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.resource_id == ext["id"])
        ).scalar_one()
    assert total == Decimal("-0.005556")
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    pending = _order(client, f.contract_id, member.headers, starts_at="2026-11-03T10:00:00Z",
                     ends_at="2026-11-03T12:00:00Z").json()  # fmt: skip
    r = client.post(f"/api/v1/extensions/{pending['id']}/cancel", json={}, headers=member.headers)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"


def test_policy_set_by_the_responsable_only(client: TestClient, world: World) -> None:
    """The automatic-extension policy (000 §8) is the Responsable's to set."""
    f = funded(world, client)
    url = f"/api/v1/contracts/{f.contract_id}/extension-policy"
    body = {
        "cpu_pct": 85,
        "sustained_minutes": 15,
        "flavour_id": "vm-m",
        "quantity": 1,
        "duration_hours": 6,
        "monthly_budget": "50.00",
    }
    assert client.get(url, headers=f.owner.headers).status_code == 404
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    assert client.put(url, json=body, headers=member.headers).status_code == 403
    assert (
        client.put(url, json=body | {"flavour_id": "nope"}, headers=f.owner.headers).status_code
        == 422
    )
    r = client.put(url, json=body, headers=f.owner.headers)
    assert r.status_code == 200, r.text
    assert client.get(url, headers=member.headers).json()["cpu_pct"] == 85
