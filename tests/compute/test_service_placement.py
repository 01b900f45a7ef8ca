"""Placement across several simulated hosts (one libvirt test-driver state per host).

Hosting terms come from the shipped offers: isstar-cloud (000) runs in waterloo-1 (BE)
and sells dedicated infrastructure; cloudbizz (001 §5) may run in the EU only, in its
Zaventem sites; optima-cloud-azure (004 §4) in France only.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import Host, Operation, Vm
from nuages.compute.services import vms
from nuages.compute.states import Action
from nuages.kernel.errors import CapacityExhausted
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


def place(cw: ComputeWorld, who: Principal, contract: str, name: str, **over: Any) -> str:
    """Ask for a VM; return the id of the host it was placed on."""
    body = {"contract_id": contract, "flavour": "vm-s", "image": "base", "name": name}
    body.update(over)
    with cw.database.unit() as session:
        vm, _op = vms.create_vm(session, who, cw.runtime, cw.offers, schemas.VmCreate(**body))
        assert vm.host_id is not None
        return vm.host_id


def client_with(cw: ComputeWorld, offer_id: str) -> tuple[str, str, Principal]:
    client_id = cw.world.client()
    contract = cw.contract(client_id, offer_id)
    return client_id, contract, cw.owner(client_id)[1]


def test_001_s5_eu_only_and_004_s4_france_only(cw: ComputeWorld) -> None:
    """001 §5: Cloudbizz data stay in the EU (its Zaventem sites); 004 §4: Optima's in
    France. A host in a listed site but declared in the US never gets a Cloudbizz VM,
    even when the EU host is full."""
    cw.image()
    waterloo = cw.host(site="waterloo-1", country="BE")
    zaventem = cw.host(site="interxion-zav-1", country="BE", cpus=2, ram_mib=8192)
    outside = cw.host(site="interxion-zav-2", country="US", cpus=64, ram_mib=262144)
    paris = cw.host(site="azure-france-central", country="FR", cpus=16, ram_mib=65536)

    _c, bizz, bizz_owner = client_with(cw, "cloudbizz")
    _c, azure, azure_owner = client_with(cw, "optima-cloud-azure")
    _c, isstar, isstar_owner = client_with(cw, "isstar-cloud")

    # desktop-std: 2 vCPU, 4 GiB. Zaventem holds 8 vCPU (4× ratio) and 8 GiB (1×).
    assert place(cw, bizz_owner, bizz, "d1", flavour="desktop-std") == zaventem.id
    assert place(cw, bizz_owner, bizz, "d2", flavour="desktop-std") == zaventem.id
    with pytest.raises(CapacityExhausted, match="no host has room"):
        place(cw, bizz_owner, bizz, "d3", flavour="desktop-std")
    assert place(cw, azure_owner, azure, "a1", flavour="azure-b2s") == paris.id
    assert place(cw, isstar_owner, isstar, "i1") == waterloo.id
    with cw.database.unit() as session:
        used = set(session.execute(select(Vm.host_id)).scalars())
    assert outside.id not in used


def test_offer_without_any_allowed_host(cw: ComputeWorld) -> None:
    """No host in the offer's sites: a clear 409 naming the sites, nothing written."""
    cw.image()
    cw.host(site="waterloo-1", country="BE")
    _c, azure, owner = client_with(cw, "optima-cloud-azure")
    with pytest.raises(CapacityExhausted, match="azure-france-central"):
        place(cw, owner, azure, "a1", flavour="azure-b2s")
    with cw.database.unit() as session:
        assert session.execute(select(Vm)).first() is None


def test_000_s1_dedicated_hosts_serve_only_their_client(cw: ComputeWorld) -> None:
    """000 §1: a dedicated host runs only its client's VMs; 000 §8: that client may
    also use shared hosts once its own are full. Another client never lands on it."""
    cw.image()
    a_id, a_contract, a_owner = client_with(cw, "isstar-cloud")
    _b, b_contract, b_owner = client_with(cw, "isstar-cloud")
    dedicated = cw.host(cpus=1, ram_mib=2048, dedicated_to=a_id)  # room for 2 vm-s
    shared = cw.host(cpus=1, ram_mib=2048)

    assert place(cw, b_owner, b_contract, "b1") == shared.id
    assert place(cw, a_owner, a_contract, "a1") == dedicated.id  # its own host first
    assert place(cw, a_owner, a_contract, "a2") == dedicated.id
    assert place(cw, a_owner, a_contract, "a3") == shared.id  # then the shared ones
    with pytest.raises(CapacityExhausted):
        place(cw, b_owner, b_contract, "b2")  # the shared host is full; A's is not B's


def test_dedicated_host_needs_an_offer_that_sells_it(cw: ComputeWorld) -> None:
    """A client's dedicated host serves its contracts whose offer sells dedicated
    infrastructure (isstar-cloud), not its other contracts."""
    cw.image()
    client_id = cw.world.client()
    bizz = cw.contract(client_id, "cloudbizz")
    owner = cw.owner(client_id)[1]
    cw.host(site="interxion-zav-1", dedicated_to=client_id)
    with pytest.raises(CapacityExhausted, match="no host may run"):
        place(cw, owner, bizz, "x", flavour="server-m")


def test_overcommit_and_deleted_vms_free_room(cw: ComputeWorld) -> None:
    """Capacity is the host's size times the ratios (4× vCPU, 1× RAM by default); a
    deleted VM frees its share, a stopped one does not (it keeps its reservation)."""
    cw.image()
    _c, contract, owner = client_with(cw, "isstar-cloud")
    host = cw.host(cpus=1, ram_mib=8192)  # 4 vCPU, 8 GiB
    for n in range(4):
        place(cw, owner, contract, f"v{n}")
    with pytest.raises(CapacityExhausted):
        place(cw, owner, contract, "v4")  # the fifth vCPU does not fit
    with cw.database.unit() as session:
        queued = list(session.execute(select(Operation.id)).scalars())
        first = session.execute(select(Vm.id).where(Vm.name == "v0")).scalar_one()
    for op_id in queued:
        assert cw.run(op_id) == "succeeded"
    for action in (Action.STOP, Action.DELETE):
        with cw.database.unit() as session:
            _vm, op = vms.request(session, owner, cw.runtime, first, action)
            op_id = op.id
        assert cw.run(op_id) == "succeeded"
        if action is Action.STOP:
            with pytest.raises(CapacityExhausted):
                place(cw, owner, contract, "v4")
    assert place(cw, owner, contract, "v4") == host.id


def test_spread_and_unavailable_hosts(cw: ComputeWorld) -> None:
    """Equal hosts fill evenly (most room first); a disabled or unreachable host gets
    nothing."""
    cw.image()
    _c, contract, owner = client_with(cw, "isstar-cloud")
    first = cw.host(cpus=4, ram_mib=16384)
    second = cw.host(cpus=4, ram_mib=16384)
    off = cw.host(cpus=64, ram_mib=262144)
    lost = cw.host(cpus=64, ram_mib=262144)
    with cw.database.unit() as session:
        row = session.get(Host, off.id)
        assert row is not None
        row.state = "disabled"
        row = session.get(Host, lost.id)
        assert row is not None
        row.reachable = False
    chosen = [place(cw, owner, contract, f"s{n}") for n in range(6)]
    assert sorted(chosen.count(h) for h in (first.id, second.id)) == [3, 3]
    assert off.id not in chosen and lost.id not in chosen
