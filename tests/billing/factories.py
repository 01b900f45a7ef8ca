"""Factories of the billing tests: funded prepaid contracts and VM rows.

Contracts are ordered and funded through the real API. VM rows for metering are written
straight into compute's ``vms`` table: metering reads only that table, and thousands of
VMs (5,000 in the crash test, 100,000 in the benchmark) cannot be provisioned one by one;
the suspension tests create theirs through compute's own services instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from nuages.accounts.roles import Role
from nuages.compute.models import Image, Vm
from nuages.kernel.db import Database
from tests.factories import Actor, World

FLAVOURS = {"vm-s": (1, 1024, 20), "vm-m": (2, 4096, 50), "vm-l": (4, 8192, 100)}


@dataclass
class Funded:
    """A client with an owner and a prepaid contract."""

    client_id: str
    owner: Actor
    admin: Actor
    contract_id: str


def order(http: TestClient, owner: Actor, offer_id: str = "isstar-cloud") -> str:
    """Order an offer as the client's owner; return the (pending) contract id."""
    r = http.post(
        "/api/v1/contracts",
        json={"offer_id": offer_id, "accept_terms": True},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    contract_id: str = r.json()["id"]
    return contract_id


def transfer(
    http: TestClient, admin: Actor, contract_id: str, amount: str, reference: str | None = None
) -> Any:
    """Staff record a bank transfer; return the response."""
    return http.post(
        f"/api/v1/billing/contracts/{contract_id}/transfers",
        json={
            "amount": amount,
            "currency": "EUR",
            "reference": reference or f"REF-{uuid.uuid4().hex[:12]}",
        },
        headers=admin.headers,
    )


def funded(world: World, http: TestClient, amount: str = "100.00") -> Funded:
    """A client whose isstar-cloud contract is formed by a transfer of ``amount``."""
    client_id = world.client("Prepaid SPRL")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(http, owner)
    r = transfer(http, admin, contract_id, amount)
    assert r.status_code == 201, r.text
    return Funded(client_id, owner, admin, contract_id)


def image(database: Database) -> str:
    """A catalogue image row VMs can point at (metering never reads it)."""
    with database.unit() as session:
        found = session.execute(select(Image.id).where(Image.name == "billing-test")).scalar()
        if found is not None:
            return found
        row = Image(
            name="billing-test",
            os="linux",
            boot_mode="direct-kernel",
            base_path="/nonexistent/base.qcow2",
            min_disk_gib=1,
            size_bytes=1,
        )
        session.add(row)
        session.flush()
        return row.id


def vms(
    database: Database,
    contract_id: str,
    client_id: str,
    count: int,
    activated_at: dt.datetime,
    *,
    flavour: str = "vm-s",
    state: str = "running",
    deleted_at: dt.datetime | None = None,
) -> list[str]:
    """``count`` allocated VMs of one contract; return their ids.

    Each name carries the VM's whole id: a client's live names are unique, and eight hex
    digits for 5,000 VMs of one client collide about once in 340 runs (it did, in CI)."""
    image_id = image(database)
    vcpus, ram, disk = FLAVOURS[flavour]
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        {
            "id": vm_id,
            "client_id": client_id,
            "contract_id": contract_id,
            "name": f"vm-{vm_id}",
            "flavour_id": flavour,
            "image_id": image_id,
            "vcpus": vcpus,
            "ram_mib": ram,
            "disk_gib": disk,
            "vm_state": "deleted" if deleted_at is not None else state,
            "task_state": None,
            "power_state": "shutoff" if deleted_at is not None else "running",
            "created_at": activated_at,
            "activated_at": activated_at,
            "deleted_at": deleted_at,
        }
        for vm_id in ids
    ]
    with database.unit() as session:
        for i in range(0, len(rows), 2000):
            session.execute(insert(Vm), rows[i : i + 2000])
    return ids


def at(text: str) -> dt.datetime:
    """An aware UTC datetime from ``YYYY-MM-DD HH:MM``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def tenant_extension(world: World, http: TestClient, owner: Actor) -> str:
    """An extension of the owner's client (for the generated access tests): a second
    isstar-cloud contract, formed by a staff transfer, with one extension ordered."""
    admin = world.admin()
    contract_id = order(http, owner)
    assert transfer(http, admin, contract_id, "100.00").status_code == 201
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    r = http.post(
        f"/api/v1/contracts/{contract_id}/extensions",
        json={
            "item_id": "vm-s",
            "quantity": 1,
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    extension_id: str = r.json()["id"]
    return extension_id
