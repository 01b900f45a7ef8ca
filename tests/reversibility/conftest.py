"""Fixtures of the reversibility tests: compute on libvirt's test driver (real disk
files), the app over the same runtime, a contract with VMs, its end and its exit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.compute import schemas as compute_schemas
from nuages.compute.models import Operation
from nuages.compute.services import vms as compute_vms
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.reversibility import service
from tests.compute.world import CLI, ComputeWorld, make_runtime
from tests.factories import Actor, World

SITES = {
    "isstar-cloud": ("waterloo-1", "BE"),
    "cloudbizz": ("interxion-zav-1", "BE"),
    "axantis-cloud-vm-avance": ("axantis-dc1", "FR"),
    "virtualsr-svp": ("paris-1", "FR"),
    "optima-cloud-azure": ("azure-france-central", "FR"),
}
FLAVOURS = {
    "isstar-cloud": "vm-s",
    "cloudbizz": "desktop-std",
    "axantis-cloud-vm-avance": "avance-2-4",
    "virtualsr-svp": "svp-s",
    "optima-cloud-azure": "azure-b2s",
}


@dataclass
class Ex:
    """One client's contract with VMs, and the means to end it and move its exit."""

    cw: ComputeWorld
    http: TestClient
    owner: Actor
    admin: Actor
    contract_id: str = ""
    vm_ids: tuple[str, ...] = ()

    @property
    def database(self) -> Database:
        return self.cw.database

    def setup(self, offer_id: str, vms: int = 2, contract_id: str | None = None) -> None:
        """A formed contract (or ``contract_id``) with ``vms`` stopped VMs."""
        site, country = SITES[offer_id]
        client_id = self.owner_client
        self.contract_id = contract_id or self.cw.contract(client_id, offer_id)
        self.cw.host(site=site, country=country)
        image = self.cw.image()
        owner = self.cw.principal(self.owner)
        ids = []
        for n in range(vms):
            with self.database.unit() as session:
                vm, op = compute_vms.create_vm(
                    session,
                    CLI,
                    self.cw.runtime,
                    self.cw.offers,
                    compute_schemas.VmCreate(
                        contract_id=self.contract_id, flavour=FLAVOURS[offer_id],
                        image=image.id, name=f"vm{n}",
                    ),
                )  # fmt: skip
            assert self.cw.run(op.id) == "succeeded"
            with self.database.unit() as session:
                _vm, op = compute_vms.request(
                    session, owner, self.cw.runtime, vm.id, compute_vms.Action.STOP
                )
            assert self.cw.run(op.id) == "succeeded"
            ids.append(vm.id)
        self.vm_ids = tuple(ids)

    owner_client: str = ""

    def end(self, cause: str, fault: str | None = None) -> dict[str, object]:
        """Staff end the contract now for ``cause`` through the API; the exit opens."""
        r = self.http.post(
            f"/api/v1/contracts/{self.contract_id}/end-now",
            json={"cause": cause, "fault": fault},
            headers=self.admin.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "reversibility"
        return self.daily()

    def daily(self) -> dict[str, object]:
        """The daily job, then every queued VM operation (as a worker would)."""
        service.run_daily(self.database, self.cw.offers, self.cw.runtime)
        self.run_queued()
        return self.exit()

    def run_queued(self) -> list[str]:
        with self.database.unit() as session:
            queued = list(
                session.execute(
                    select(Operation.id)
                    .where(Operation.state == "queued")
                    .order_by(Operation.created_at)
                ).scalars()
            )
        for operation_id in queued:
            assert self.cw.run(operation_id) == "succeeded"
        return queued

    def exit(self, actor: Actor | None = None) -> dict[str, object]:
        r = self.http.get(
            f"/api/v1/contracts/{self.contract_id}/exit", headers=(actor or self.owner).headers
        )
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    def post(self, path: str, body: dict[str, object], actor: Actor | None = None) -> object:
        return self.http.post(
            f"/api/v1/contracts/{self.contract_id}/exit/{path}",
            json=body,
            headers=(actor or self.owner).headers,
        )

    def disks(self) -> list[Path]:
        """The VMs' disk files still on disk."""
        return [
            self.cw.runtime.vm_files(v).disk
            for v in self.vm_ids
            if self.cw.runtime.vm_files(v).disk.exists()
        ]


@pytest.fixture
def ex(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[Ex]:
    from nuages.accounts.roles import Role

    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    client_id = world.client("Sortie SARL")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    # Tokens are made now (their expiry is months ahead); the contract lives in 2026.
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))
    try:
        yield Ex(ComputeWorld(world, runtime, offers, tmp_path), client, owner, admin,
                 owner_client=client_id)  # fmt: skip
    finally:
        runtime.close()
