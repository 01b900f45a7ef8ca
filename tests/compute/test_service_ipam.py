"""Addresses: SSH ports on loopback (user networking) and fixed IPs with static DHCP
entries (bridge mode, on libvirt's test driver only: no real bridge is ever started)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import IpAddress, PortLease, Vm
from nuages.compute.services import ipam, vms
from nuages.compute.states import Action
from nuages.kernel.errors import CapacityExhausted, Conflict, Forbidden, NotFound, ValidationFailed
from tests.compute.world import CLI, ComputeWorld, cw_fixture, make_runtime  # noqa: F401
from tests.factories import World

NETWORK = "nuages-test-br"


def create(cw: ComputeWorld, who: Principal, contract: str, name: str) -> tuple[str, str]:
    body = {"contract_id": contract, "flavour": "vm-s", "image": "base", "name": name}
    with cw.database.unit() as session:
        vm, op = vms.create_vm(session, who, cw.runtime, cw.offers, schemas.VmCreate(**body))
        return vm.id, op.id


def delete(cw: ComputeWorld, who: Principal, vm_id: str) -> None:
    with cw.database.unit() as session:
        _vm, op = vms.request(session, who, cw.runtime, vm_id, Action.DELETE)
        op_id = op.id
    assert cw.run(op_id) == "succeeded"


def world_with(cw: ComputeWorld, **host: Any) -> tuple[str, Principal]:
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host(**host)
    cw.image()
    return contract, cw.owner(client_id)[1]


@pytest.fixture
def small_ports(world: World, offers: Any, tmp_path: Path, database: Any) -> Iterator[ComputeWorld]:
    """A runtime whose SSH port range holds three ports, its data directory where QEMU's
    user can reach it (pytest's ``tmp_path`` sits below a 0700 directory: adding
    ``qemu:///system`` there is refused, issue #18)."""
    folder = Path(tempfile.mkdtemp(prefix="nuages-ipam-"))
    folder.chmod(0o755)
    runtime = make_runtime(folder / "data", database, ssh_port_first=43100, ssh_port_last=43102)
    try:
        yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()
        shutil.rmtree(folder, ignore_errors=True)
    runtime.close()


def test_ssh_port_pool_exhaustion_and_reuse(small_ports: ComputeWorld) -> None:
    """Each VM holds its own port of the range; when none is left the create is a 409
    and nothing is written; a deleted VM's port is handed out again."""
    cw = small_ports
    contract, owner = world_with(cw)
    made = [create(cw, owner, contract, f"p{n}") for n in range(3)]
    with cw.database.unit() as session:
        ports = sorted(session.execute(select(Vm.ssh_port)).scalars())
    assert ports == [43100, 43101, 43102]
    with pytest.raises(CapacityExhausted, match="no SSH port left"):
        create(cw, owner, contract, "p3")
    with cw.database.unit() as session:
        assert session.execute(select(func.count()).select_from(Vm)).scalar_one() == 3
    vm_id, op_id = made[1]
    assert cw.run(op_id) == "succeeded"
    delete(cw, owner, vm_id)
    again, _op = create(cw, owner, contract, "p3")
    with cw.database.unit() as session:
        assert session.get(Vm, again).ssh_port == 43101  # type: ignore[union-attr]


def test_port_lease_is_unique_in_the_database(cw: ComputeWorld) -> None:
    """Two VMs cannot hold one port of one host, whatever the code does."""
    contract, owner = world_with(cw)
    create(cw, owner, contract, "a")
    create(cw, owner, contract, "b")
    with cw.database.unit() as session:
        a, b = session.execute(select(PortLease).order_by(PortLease.port)).scalars().all()
        b_port = b.port
        b.port = a.port
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    with cw.database.unit() as session:
        assert b_port in set(session.execute(select(PortLease.port)).scalars())


def test_port_in_use_on_loopback_is_skipped(small_ports: ComputeWorld) -> None:
    """On this machine's QEMU a port some other program holds on 127.0.0.1 is skipped
    (nothing boots here: the VM is only asked for)."""
    cw = small_ports
    contract, owner = world_with(cw, uri="qemu:///system")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 43100))
        vm_id, _op = create(cw, owner, contract, "q")
    with cw.database.unit() as session:
        assert session.get(Vm, vm_id).ssh_port == 43101  # type: ignore[union-attr]


@pytest.fixture
def bridged(world: World, offers: Any, tmp_path: Path, database: Any) -> Iterator[ComputeWorld]:
    """Bridge mode on ``test:///default`` with a DHCP network defined in the test
    driver (simulated: nothing is created on this machine)."""
    conn = libvirt.open("test:///default")
    net = conn.networkDefineXML(
        f"<network><name>{NETWORK}</name><bridge name='nuagestest0'/>"
        "<ip address='192.0.2.1' netmask='255.255.255.0'>"
        "<dhcp><range start='192.0.2.100' end='192.0.2.120'/></dhcp></ip></network>"
    )
    net.create()
    runtime = make_runtime(tmp_path / "data", database, network_mode="bridge")
    cw = ComputeWorld(world, runtime, offers, tmp_path)
    with database.unit() as session:
        ipam.create_pool(
            session,
            CLI,
            schemas.IpPoolCreate(
                name="waterloo-public",
                network=NETWORK,
                site="waterloo-1",
                cidr="192.0.2.0/24",
                gateway="192.0.2.1",
                first="192.0.2.1",  # the gateway inside the range is skipped
                last="192.0.2.3",
            ),
        )
    yield cw
    runtime.close()
    net.destroy()
    net.undefine()
    conn.close()


def dhcp_hosts() -> set[tuple[str, str]]:
    conn = libvirt.open("test:///default")
    try:
        root = ET.fromstring(conn.networkLookupByName(NETWORK).XMLDesc(0))  # noqa: S314
    finally:
        conn.close()
    return {(h.get("mac", ""), h.get("ip", "")) for h in root.iterfind("ip/dhcp/host")}


def test_003_s4_fixed_ips_from_the_pool_and_back(bridged: ComputeWorld) -> None:
    """003 §4: each server gets a fixed IP at activation (a static DHCP entry for its
    MAC, a NIC on the pool's network); the pool runs out with a 409; a deleted
    server's IP goes back to the pool and is given to the next one."""
    cw = bridged
    contract, owner = world_with(cw, uri="test:///default")
    made = [create(cw, owner, contract, f"b{n}") for n in range(2)]
    for _vm, op in made:
        assert cw.run(op) == "succeeded"
    with cw.database.unit() as session:
        held = {a.vm_id: (a.mac, a.address) for a in session.execute(select(IpAddress)).scalars()}
        vm_ips = {v.id: v.ip_address for v in session.execute(select(Vm)).scalars()}
    assert sorted(ip for _mac, ip in held.values()) == ["192.0.2.2", "192.0.2.3"]
    assert {vm: ip for vm, (_mac, ip) in held.items()} == vm_ips
    assert len({mac for mac, _ip in held.values()}) == 2
    assert dhcp_hosts() == set(held.values())
    conn = libvirt.open("test:///default")
    try:
        for vm_id, (mac, _ip) in held.items():
            root = ET.fromstring(conn.lookupByUUIDString(vm_id).XMLDesc(0))  # noqa: S314
            iface = root.find("devices/interface[@type='network']")
            assert iface is not None
            assert iface.find("source").get("network") == NETWORK  # type: ignore[union-attr]
            assert iface.find("mac").get("address") == mac  # type: ignore[union-attr]
    finally:
        conn.close()

    with pytest.raises(CapacityExhausted, match="no free address"):
        create(cw, owner, contract, "b2")
    gone = made[0][0]
    delete(cw, owner, gone)
    assert held[gone] not in dhcp_hosts()
    vm_id, op = create(cw, owner, contract, "b2")
    assert cw.run(op) == "succeeded"
    with cw.database.unit() as session:
        assert session.get(Vm, vm_id).ip_address == held[gone][1]  # type: ignore[union-attr]
        assert session.get(Vm, gone).ip_address is None  # type: ignore[union-attr]


def test_an_address_is_held_by_one_vm_only(bridged: ComputeWorld) -> None:
    """The database itself refuses a second holder of an address."""
    cw = bridged
    contract, owner = world_with(cw, uri="test:///default")
    create(cw, owner, contract, "x")
    create(cw, owner, contract, "y")
    with cw.database.unit() as session:
        x, y = session.execute(select(IpAddress).order_by(IpAddress.address)).scalars().all()
        y.address = x.address
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"first": "198.51.100.10"}, ValidationFailed),  # outside the network
        ({"first": "192.0.2.200", "last": "192.0.2.100"}, ValidationFailed),
        ({"first": "192.0.2.0"}, ValidationFailed),  # the network address
        ({"name": "other", "first": "192.0.2.150", "last": "192.0.2.160"}, Conflict),
    ],
)
def test_pool_rules(cw: ComputeWorld, change: dict[str, str], error: type[Exception]) -> None:
    good = {
        "name": "pool",
        "network": NETWORK,
        "site": "waterloo-1",
        "cidr": "192.0.2.0/24",
        "gateway": "192.0.2.1",
        "first": "192.0.2.100",
        "last": "192.0.2.199",
    }
    with cw.database.unit() as session:
        ipam.create_pool(session, CLI, schemas.IpPoolCreate(**good))
    with pytest.raises(error), cw.database.unit() as session:
        ipam.create_pool(session, CLI, schemas.IpPoolCreate(**(good | change)))


def test_pools_are_the_providers(cw: ComputeWorld) -> None:
    client_id = cw.world.client()
    owner = cw.owner(client_id)[1]
    body = schemas.IpPoolCreate(
        name="p",
        network=NETWORK,
        site="waterloo-1",
        cidr="192.0.2.0/24",
        gateway="192.0.2.1",
        first="192.0.2.10",
        last="192.0.2.20",
    )
    with pytest.raises(Forbidden), cw.database.unit() as session:
        ipam.create_pool(session, owner, body)
    with cw.database.unit() as session:
        pool_id = ipam.create_pool(session, CLI, body).id
    with pytest.raises(NotFound), cw.database.unit() as session:
        ipam.get_pool(session, owner, pool_id)
    with cw.database.unit() as session:
        assert ipam.list_pools(session, owner, 1, 50) == ([], 0)
        assert ipam.pool_usage(session, ipam.get_pool(session, CLI, pool_id)) == (0, 11)
