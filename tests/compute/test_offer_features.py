"""002 §3 Cloud VM Essentiel: the provider creates VMs "pour le compte du Client" and the
client's features "se limitent exclusivement" to resources, snapshots, history and the
basic firewall — creating a VM is refused to the client with the clause, nothing written;
staff create it for the client (recorded in the client's history). Both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nuages.compute import schemas
from nuages.compute.models import Vm
from nuages.compute.services import vms
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import Forbidden
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401


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
