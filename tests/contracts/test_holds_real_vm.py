"""Issue 10 with a real guest: a virtualsr-svp contract whose invoice stays unpaid is
suspended by dunning (003 §14.5); its running QEMU VM is paused (SSH silent, port kept)
and the client's start, stop and reboot are refused naming the ground and clause.

Before holds, dunning wrote the contract's state only: the guest kept answering on its
SSH port and the client's reboot, stop and start all succeeded."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import libvirt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts import service as accounts
from nuages.accounts.roles import Role
from nuages.compute import schemas as compute_schemas
from nuages.compute.hypervisor import PowerState
from nuages.compute.models import Operation, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import hosts, images, operations
from nuages.compute.services import vms as compute_vms
from nuages.compute.states import Action
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import dunning
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.billing.test_real_vm import _wait_banner
from tests.compute.world import CLI, holds_inline, make_runtime
from tests.conftest import GUEST_ONCE
from tests.factories import World
from tests.invoicing.factories import Billing, run_at, utc

pytestmark = pytest.mark.vm
URI = "qemu:///system"


@pytest.fixture
def qemu_runtime(database: Database, client: TestClient) -> Iterator[ComputeRuntime]:
    """A runtime on the real libvirt; the 100 GiB svp-s disk is a thin overlay, so the
    host's disk may be overcommitted for the test."""
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd unreachable at {URI}: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="nuages-holds-vm-"))
    folder.chmod(0o755)
    runtime = make_runtime(folder / "data", database, disk_overcommit=Decimal("10"))
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    try:
        yield runtime
    finally:
        runtime.close()
        shutil.rmtree(folder, ignore_errors=True)


def _run_queued(runtime: ComputeRuntime, database: Database) -> int:
    with database.unit() as session:
        ids = list(
            session.execute(select(Operation.id).where(Operation.state == "queued")).scalars()
        )
    for operation_id in ids:
        assert operations.run_operation(database, runtime, operation_id) == "succeeded"
    return len(ids)


@GUEST_ONCE
def test_regression_003_s14_5_dunning_suspension_pauses_a_real_guest_and_refuses_client_acts(
    client: TestClient,
    world: World,
    database: Database,
    offers: OfferRegistry,
    qemu_runtime: ComputeRuntime,
) -> None:
    """Invoice issued 1 March, due 31 March, unpaid: on 1 May (due date + 30 days,
    003 §14.5) dunning places an unpaid-invoice hold; compute pauses the guest (libvirt
    paused, SSH silent, port still leased); start, stop and reboot by the client answer
    409 naming ``unpaid-invoice`` and 003 §14.5."""
    runtime = qemu_runtime
    billing = Billing(database, offers)
    client_id = billing.client("Client Impayé")
    contract_id = billing.contract("virtualsr-svp", client_id, utc(2026, 2, 28, 23))
    billing.line(contract_id, "svp-s", dt.date(2026, 3, 1))
    run_at(database, offers, utc(2026, 3, 1, 6))
    owner = world.user(Role.CLIENT_OWNER, client_id)

    facts = hosts.inspect(runtime, URI, probe=False)
    with database.unit() as session:
        hosts.register(
            session, CLI, runtime, uri=URI, site="paris-1", country="FR", facts=facts,
            name=f"holds-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip
    tiny = images.build_tiny(runtime)
    with database.unit() as session:
        image = images.register_tiny(session, CLI, tiny, name=f"tiny-{uuid.uuid4().hex[:6]}")
        image_id = image.id
    with database.unit() as session:
        principal = accounts.authenticate(session, owner.token)
        vm, operation = compute_vms.create_vm(
            session,
            principal,
            runtime,
            offers,
            compute_schemas.VmCreate(
                contract_id=contract_id, flavour="svp-s", image=image_id, name="svp"
            ),
        )
    vm_id = vm.id
    try:
        assert operations.run_operation(database, runtime, operation.id) == "succeeded"
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            assert row is not None and row.ssh_port is not None
            port = row.ssh_port
        _wait_banner(port, up=True)

        with holds_inline(runtime), frozen_at(utc(2026, 5, 1, 7)), database.unit() as session:
            report = dunning.run(session, Actor.system("dunning"), offers, dt.date(2026, 5, 1))
            assert "suspension" in [n.step for n in report.notices]
        assert _run_queued(runtime, database) == 1
        hv = runtime.hypervisor(URI)
        assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.PAUSED
        _wait_banner(port, up=False, timeout_s=30)
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            assert row is not None and row.vm_state == "suspended" and row.ssh_port == port
            assert row.suspended_reason == "hold:unpaid-invoice"
        for action in ("start", "stop", "reboot"):
            r = client.post(f"/api/v1/vms/{vm_id}/{action}", headers=owner.headers)
            assert r.status_code == 409, (action, r.text)
            assert (r.json()["ground"], r.json()["clause"]) == ("unpaid-invoice", "003 §14.5")
        assert hv.status(uuid.UUID(vm_id)).power_state is PowerState.PAUSED
    finally:
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            busy = row is None or row.task_state is not None or row.vm_state == "deleted"
        if not busy:
            with database.unit() as session:
                _vm, op = compute_vms.request(session, CLI, runtime, vm_id, Action.DELETE)
            operations.run_operation(database, runtime, op.id)
