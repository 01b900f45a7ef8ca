"""The firewall through the API down to the machine's real QEMU (issue 14): a rule and a
staff cut written through the routes take effect on the guest's forwarded SSH port.

Traffic stays on loopback: the guest's SSH on 127.0.0.1:PORT, the other source
127.0.0.2. The runtime's nftables table is the test's own, removed at the end.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute.hypervisor import DomainNotFound
from nuages.compute.models import Vm
from nuages.compute.net import enforce, rules
from nuages.compute.services import images
from nuages.compute.tinyimage import TinyImage
from nuages.kernel.db import Database
from tests.compute.conftest import wait_for_ssh
from tests.compute.test_net_guest import banner, eventually
from tests.compute.test_vm_e2e import E2E
from tests.compute.world import CLI, ComputeWorld, make_runtime
from tests.conftest import GUEST_ONCE
from tests.factories import World

pytestmark = pytest.mark.vm
SYSTEM = "qemu:///system"


@pytest.fixture
def e2e(
    client: TestClient,
    world: World,
    offers: Any,
    database: Database,
    tiny_image: TinyImage,
    guest_workdir: Path,
    system_hypervisor: Any,
) -> Iterator[E2E]:
    data_dir = guest_workdir / f"net-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(mode=0o755)
    table = f"nuages_e2e_{uuid.uuid4().hex[:8]}"
    runtime = make_runtime(data_dir, database, executor="thread", nft_table=table)
    cw = ComputeWorld(world, runtime, offers, data_dir)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    client_id = world.client()
    contract = cw.contract(client_id)
    cw.host(uri=SYSTEM, site="waterloo-1", country="BE", name="this-machine")
    with database.unit() as session:
        images.register_tiny(session, CLI, tiny_image)
    try:
        yield E2E(client, cw, world.user(Role.CLIENT_OWNER, client_id), contract)
    finally:
        runtime.wait_idle()
        with database.unit() as session:
            ids = list(session.execute(select(Vm.id)).scalars())
        hv = runtime.hypervisor(SYSTEM)
        for vm_id in ids:
            try:
                hv.undefine(uuid.UUID(vm_id))
            except DomainNotFound:
                pass
        enforce.runtime_nft(runtime).drop_table()
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@GUEST_ONCE
def test_002_s3_6_rule_and_cut_through_the_api_reach_the_guest(e2e: E2E) -> None:
    """002 §3.6 and 000 §11.1 end to end: the client's drop rule for 127.0.0.2 refuses
    that source while 127.0.0.1 answers; a staff cut silences the VM, its restore
    brings it back; deleting the VM removes its chain from the host.

    Regression: applying a rule used to put the NIC's link "up" through the QEMU
    monitor on every change; the link event made the guest renew its network and SSH
    stopped answering 127.0.0.1 right after the rule was added. The link is now only
    touched by a cut and its lifting."""
    accepted = e2e.create("fw-1", [])
    vm_id = accepted["vm"]["id"]
    assert e2e.wait(accepted)["state"] == "succeeded"
    port = e2e.vm(vm_id)["ssh_port"]
    wait_for_ssh(port, timeout_s=180)
    assert banner(port, "127.0.0.2")  # the offer's default: accept

    h = e2e.owner.headers
    rule = {"direction": "in", "protocol": "tcp", "port": "22", "source": "127.0.0.2/32",
            "action": "drop"}  # fmt: skip
    r = e2e.api.post(f"/api/v1/vms/{vm_id}/firewall/rules", json=rule, headers=h)
    assert r.status_code == 201, r.text
    assert not banner(port, "127.0.0.2")
    assert banner(port, "127.0.0.1")

    admin = e2e.cw.world.admin()
    r = e2e.api.post(
        f"/api/v1/vms/{vm_id}/network-cut",
        json={"ground": "malicious-traffic", "reason": "test"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert not banner(port, "127.0.0.1")
    r = e2e.api.post(f"/api/v1/vms/{vm_id}/network-restore", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert eventually(lambda: banner(port, "127.0.0.1"), 60)
    assert not banner(port, "127.0.0.2")

    nft = enforce.runtime_nft(e2e.cw.runtime)
    assert rules.chain_name(vm_id) in nft.chain(vm_id)
    r = e2e.api.delete(f"/api/v1/vms/{vm_id}", headers=h)
    assert e2e.wait(r.json())["state"] == "succeeded"
    assert nft.chain(vm_id) == ""
