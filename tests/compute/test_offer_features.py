"""002 §3 Cloud VM Essentiel: the client's features "se limitent exclusivement" to
creation with resources, snapshots, history and the basic firewall — power actions,
console, backups and graphs are refused to the client with the clause, nothing written;
staff act for the client. 002 §3.8.2 managed servers. Both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from nuages.compute import schemas
from nuages.compute.services import keys, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import Forbidden, ValidationFailed
from tests.compute.world import CLI, TENANT_KEY, ComputeWorld, cw_fixture  # noqa: F401


def test_002_s3_essentiel_client_creates_and_sizes_but_has_no_power_actions(
    cw: ComputeWorld,
) -> None:
    """002 §3 Cloud VM Essentiel, "se limitent exclusivement aux suivantes": the service
    "permet … de créer depuis l'Interface, pour le compte du Client" and lists "sélection
    des ressources", snapshots, history, firewall basic. Read with Avancé's same line
    ("… sélection des ressources, arrêt, redémarrage") and SPEC §17: the owner creates a
    VM, resizes it, snapshots it and deletes it; start, stop, reboot, reinstall, console,
    backups and graphs are 403s naming the clause, with nothing queued or written; staff
    stop and start it for the client."""
    from nuages.compute.console import service as console
    from nuages.compute.metrics import series
    from nuages.compute.models import Operation
    from nuages.compute.services import backups, snapshots

    client_id = cw.world.client("Essentiel")
    contract = cw.contract(client_id, "axantis-cloud-vm-essentiel")
    cw.host(site="ikoula-fr", country="FR")
    cw.image("base")
    _, owner = cw.owner(client_id)
    offer = cw.offers.current("axantis-cloud-vm-essentiel")
    small, large = (f.id for f in offer.catalogue.flavours)
    body = schemas.VmCreate(contract_id=contract, flavour=small, image="base", name="web-1")
    with cw.database.unit() as session:
        vm, op = vms.create_vm(session, owner, cw.runtime, cw.offers, body)
        vm_id, op_id = vm.id, op.id
    assert cw.run(op_id) == "succeeded"

    def ops() -> int:
        with cw.database.unit() as session:
            return session.execute(select(func.count()).select_from(Operation)).scalar_one()

    before = ops()
    for action in (Action.STOP, Action.REBOOT, Action.REINSTALL):
        with pytest.raises(Forbidden, match=r"002 §3.*se limitent exclusivement"):
            with cw.database.unit() as session:
                vms.request(session, owner, cw.runtime, vm_id, action)
    refused = {
        "console": lambda s: console.issue(s, owner, vm_id, "vnc", 60),
        "backups": lambda s: backups.set_plan(
            s, owner, cw.offers, vm_id, schemas.BackupPlanSet(option="backup-7d")
        ),
        "monitoring": lambda s: series.vm_series(s, owner, vm_id, None, None, "1m"),
    }
    for feature, call in refused.items():
        with pytest.raises(Forbidden, match=rf"^{feature}: .*002 §3"):
            with cw.database.unit() as session:
                call(session)
    assert ops() == before
    # Staff stop it for the client; the owner may not start it again (power) but may
    # choose its resources (resize) and snapshot it.
    with cw.database.unit() as session:
        _, stop = vms.request(session, CLI, cw.runtime, vm_id, Action.STOP)
        stop_id = stop.id
    assert cw.run(stop_id) == "succeeded"
    with pytest.raises(Forbidden, match="se limitent exclusivement"):
        with cw.database.unit() as session:
            vms.request(session, owner, cw.runtime, vm_id, Action.START)
    with cw.database.unit() as session:
        _, resize = vms.resize_vm(
            session, owner, cw.runtime, cw.offers, vm_id, schemas.VmResize(flavour=large)
        )
        resize_id = resize.id
    assert cw.run(resize_id) == "succeeded"
    with cw.database.unit() as session:
        _, _, snap = snapshots.create_snapshot(
            session, owner, cw.runtime, cw.offers, vm_id, schemas.SnapshotCreate(name="s1")
        )
        snap_id = snap.id
    assert cw.run(snap_id) == "succeeded"
    with cw.database.unit() as session:
        _, delete = vms.request(session, owner, cw.runtime, vm_id, Action.DELETE)
        delete_id = delete.id
    assert cw.run(delete_id) == "succeeded"
    with cw.database.unit() as session:
        stops = session.execute(
            select(HistoryEntry.params).where(
                HistoryEntry.object_id == vm_id, HistoryEntry.action == "vm.stop"
            )
        ).scalars()
        assert stops.all()  # staff acts are in the VM history


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
