"""002 §3 Cloud VM Essentiel: the provider creates VMs "pour le compte du Client" and the
client's features "se limitent exclusivement" to resources, snapshots, history and the
basic firewall — creating a VM is refused to the client with the clause, nothing written;
staff create it for the client (recorded in the client's history). Both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from nuages.compute import schemas
from nuages.compute.models import Vm
from nuages.compute.services import keys, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import Forbidden, ValidationFailed
from tests.compute.world import CLI, TENANT_KEY, ComputeWorld, cw_fixture  # noqa: F401


def test_002_s3_essentiel_client_cannot_create_a_vm_staff_can(cw: ComputeWorld) -> None:
    """002 §3 Essentiel: the owner's create is a 403 naming "se limitent exclusivement";
    staff create the VM on the client's contract and the history names the client."""
    client_id = cw.world.client("Essentiel")
    contract = cw.contract(client_id, "axantis-cloud-vm-essentiel")
    cw.host(site="ikoula-fr", country="FR")
    cw.image("base")
    _, owner = cw.owner(client_id)
    flavour = cw.offers.current("axantis-cloud-vm-essentiel").catalogue.flavours[0].id
    body = schemas.VmCreate(contract_id=contract, flavour=flavour, image="base", name="web-1")
    with pytest.raises(Forbidden, match="se limitent exclusivement"):
        with cw.database.unit() as session:
            vms.create_vm(session, owner, cw.runtime, cw.offers, body)
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(Vm)).scalar_one() == 0
    with cw.database.unit() as session:
        vm, _ = vms.create_vm(session, CLI, cw.runtime, cw.offers, body)
        vm_id = vm.id
    with cw.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.object_id == vm_id, HistoryEntry.action == "vm.create"
            )
        ).scalar_one()
        assert entry.client_id == client_id


def test_002_s3_8_2_managed_server_gives_the_client_no_direct_access(cw: ComputeWorld) -> None:
    """002 §3.8.2 "entièrement administré par le Prestataire … pas d'accès direct": a
    managed VM ordered with SSH keys is refused (403 naming ssh_key_ids and the clause);
    without keys it is created; the owner's stop is then a 403 citing 002 §3.8.2 and
    nothing is queued, while staff's stop is accepted and recorded as done for the
    client. A managed VM on an offer without a managed service is a 422."""
    client_id = cw.world.client("Managed")
    contract = cw.contract(client_id, "axantis-cloud-vm-avance")
    cw.host(site="axantis-dc1", country="FR")
    cw.image("base")
    _, owner = cw.owner(client_id)
    with cw.database.unit() as session:
        key = keys.create_key(session, owner, schemas.SshKeyCreate(name="k", public_key=TENANT_KEY))
    body = {"contract_id": contract, "flavour": "avance-2-4", "image": "base", "name": "m-1"}
    with pytest.raises(Forbidden, match=r"ssh_key_ids.*002 §3\.8\.2"):
        with cw.database.unit() as session:
            vms.create_vm(
                session,
                owner,
                cw.runtime,
                cw.offers,
                schemas.VmCreate(**body, managed=True, ssh_key_ids=[key.id]),
            )
    with cw.database.unit() as session:
        vm, op = vms.create_vm(
            session, owner, cw.runtime, cw.offers, schemas.VmCreate(**body, managed=True)
        )
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"
    with pytest.raises(Forbidden, match=r"002 §3\.8\.2"):
        with cw.database.unit() as session:
            vms.request(session, owner, cw.runtime, vm_id, Action.STOP)
    with cw.database.unit() as session:
        _, staff_op = vms.request(session, CLI, cw.runtime, vm_id, Action.STOP)
        staff_op_id = staff_op.id
    with cw.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.object_id == vm_id, HistoryEntry.action == "vm.stop"
            )
        ).scalar_one()
        assert json.loads(entry.params)["done_for_client"] == client_id
    assert cw.run(staff_op_id) == "succeeded"
    iss = cw.contract(client_id, "optima-cloud-azure")
    with pytest.raises(ValidationFailed, match="managed: offer optima-cloud-azure"):
        with cw.database.unit() as session:
            vms.create_vm(
                session,
                CLI,
                cw.runtime,
                cw.offers,
                schemas.VmCreate(**{**body, "contract_id": iss, "name": "m-2"}, managed=True),
            )
