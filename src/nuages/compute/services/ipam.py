"""Addresses for VMs: SSH ports on 127.0.0.1 (user networking) and fixed IPs (bridge).

User networking (the default, ``NUAGES_NETWORK_MODE=user``): each VM gets one port of
the configured range on its host's loopback, forwarded to its port 22; the lease table
holds one row per (host, port), so two VMs never share one.

Bridge networking (``bridge``): each VM gets an address from an IP pool of one of its
host's sites, a MAC derived from its id, and a static DHCP entry on the pool's libvirt network.
An address row exists only while a VM holds it (unique address, unique VM): deleting
the VM returns it to the pool (003 §4).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute import schemas
from nuages.compute.hypervisor import BridgeNet, Network, UserNet
from nuages.compute.models import Host, IpAddress, IpPool, PortLease, Vm
from nuages.compute.net.models import QuarantinedAddress
from nuages.compute.runtime import ComputeRuntime
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import (
    AlreadyExists,
    CapacityExhausted,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from nuages.kernel.pagination import paginate

# ---------------------------------------------------------------- leases


@dataclass(frozen=True)
class NetworkPlan:
    """How a VM is wired, read from its leases: what the job needs, no database."""

    ssh_port: int | None = None
    network: str | None = None
    mac: str | None = None
    address: str | None = None

    def nic(self) -> Network | None:
        """The NIC the domain gets."""
        if self.network is not None and self.mac is not None:
            return BridgeNet(network=self.network, mac=self.mac)
        if self.ssh_port is not None:
            return UserNet(ssh_port=self.ssh_port)
        return None


def plan_of(session: Session, vm_id: str) -> NetworkPlan:
    """The wiring of a VM from the leases it holds."""
    port = session.execute(select(PortLease.port).where(PortLease.vm_id == vm_id)).scalar()
    ip = session.execute(
        select(IpAddress, IpPool.network)
        .join(IpPool, IpPool.id == IpAddress.pool_id)
        .where(IpAddress.vm_id == vm_id)
    ).first()
    if ip is not None:
        row, network = ip
        return NetworkPlan(ssh_port=port, network=network, mac=row.mac, address=row.address)
    return NetworkPlan(ssh_port=port)


def _insert(session: Session, row: object) -> bool:
    """Insert ``row`` in a savepoint; False if a unique constraint refused it."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def lease_port(session: Session, runtime: ComputeRuntime, host: Host, vm: Vm) -> int:
    """Give ``vm`` a free SSH port of the range on ``host``'s loopback."""
    first, last = runtime.compute.ssh_port_first, runtime.compute.ssh_port_last
    taken = set(
        session.execute(select(PortLease.port).where(PortLease.host_id == host.id)).scalars()
    )
    for port in range(first, last + 1):
        if port in taken or not runtime.port_available(host.uri, port):
            continue
        if _insert(session, PortLease(host_id=host.id, port=port, vm_id=vm.id)):
            vm.ssh_port = port
            return port
    raise CapacityExhausted(f"no SSH port left in {first}-{last} on host {host.name}")


def mac_for(vm_id: str, attempt: int = 0) -> str:
    """A locally administered MAC (QEMU's 52:54:00 prefix) derived from the VM id."""
    tail = hashlib.sha256(f"{vm_id}/{attempt}".encode()).digest()[:3]
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


def lease_address(session: Session, host: Host, vm: Vm) -> str:
    """Give ``vm`` a free address from the pools of its host's sites."""
    pools = session.execute(
        select(IpPool).where(IpPool.site.in_(host.site_ids)).order_by(IpPool.name, IpPool.id)
    ).scalars()
    for pool in pools:
        held = set(
            session.execute(select(IpAddress.address).where(IpAddress.pool_id == pool.id))
            .scalars()
            .all()
        )
        # 003 §7.9: an address a VM left after a misuse report waits out its quarantine.
        held |= set(
            session.execute(
                select(QuarantinedAddress.address).where(
                    QuarantinedAddress.pool_id == pool.id, QuarantinedAddress.until > utc_now()
                )
            ).scalars()
        )
        for address in pool_addresses(pool):
            if address in held:
                continue
            for attempt in range(8):  # a MAC clash (24 bits) is rare; try another
                row = IpAddress(
                    pool_id=pool.id, address=address, vm_id=vm.id, mac=mac_for(vm.id, attempt)
                )
                if _insert(session, row):
                    vm.ip_address = address
                    return address
                if session.execute(
                    select(IpAddress.id).where(IpAddress.address == address)
                ).first():
                    break  # someone took the address meanwhile: next one
    sites = ", ".join(host.site_ids)
    raise CapacityExhausted(f"no free address left in the IP pools of site(s) {sites}")


def release(session: Session, vm: Vm) -> None:
    """Return every port and address ``vm`` holds (003 §4: back to the pool)."""
    session.execute(delete(PortLease).where(PortLease.vm_id == vm.id))
    session.execute(delete(IpAddress).where(IpAddress.vm_id == vm.id))
    vm.ssh_port = None
    vm.ip_address = None


# The leasing function per networking mode (NUAGES_NETWORK_MODE): chosen by settings.
LEASERS: dict[str, Callable[[Session, ComputeRuntime, Host, Vm], object]] = {
    "user": lease_port,
    "bridge": lambda session, _runtime, host, vm: lease_address(session, host, vm),
}


def lease(session: Session, runtime: ComputeRuntime, host: Host, vm: Vm) -> None:
    """Wire a new VM the way the settings say."""
    mode = runtime.settings.network_mode
    leaser = LEASERS.get(mode)
    if leaser is None:
        raise ValidationFailed(f"network mode {mode!r} is neither user nor bridge")
    leaser(session, runtime, host, vm)


def attach(runtime: ComputeRuntime, uri: str, plan: NetworkPlan, name: str) -> None:
    """Prepare the host side before the domain starts (bridge: the DHCP entry)."""
    if plan.network and plan.mac and plan.address:
        runtime.dhcp(uri).add(plan.network, plan.mac, plan.address, name)


def detach(runtime: ComputeRuntime, uri: str, plan: NetworkPlan, name: str) -> None:
    """Undo ``attach`` (absent entries are fine)."""
    if plan.network and plan.mac and plan.address:
        runtime.dhcp(uri).remove(plan.network, plan.mac, plan.address, name)


# ---------------------------------------------------------------- pools


def pool_addresses(pool: IpPool) -> Iterator[str]:
    """Every address a pool hands out, in order (gateway excluded)."""
    first = ipaddress.ip_address(pool.first_address)
    last = int(ipaddress.ip_address(pool.last_address))
    gateway = int(ipaddress.ip_address(pool.gateway))
    for offset in range(last - int(first) + 1):
        address = first + offset
        if int(address) != gateway:
            yield str(address)


def pool_size(pool: IpPool) -> int:
    """How many addresses a pool hands out."""
    first = int(ipaddress.ip_address(pool.first_address))
    last = int(ipaddress.ip_address(pool.last_address))
    gateway = int(ipaddress.ip_address(pool.gateway))
    return last - first + 1 - (1 if first <= gateway <= last else 0)


def _staff(actor: Principal, write: bool) -> None:
    actor.require(Scope.WRITE if write else Scope.READ)
    if not actor.is_staff:
        raise Forbidden("IP pools are the provider's")


def create_pool(session: Session, actor: Principal, data: schemas.IpPoolCreate) -> IpPool:
    """Staff add a range of fixed addresses on a bridged network of a site."""
    _staff(actor, write=True)
    net = ipaddress.ip_network(data.cidr, strict=True)
    first_ip, last_ip = ipaddress.ip_address(data.first), ipaddress.ip_address(data.last)
    gateway = ipaddress.ip_address(data.gateway)
    for label, address in (("first", first_ip), ("last", last_ip), ("gateway", gateway)):
        if address not in net:
            raise ValidationFailed(f"{label}: {address} is outside {net}")
    first, last = int(first_ip), int(last_ip)
    if first > last:
        raise ValidationFailed("first: the range starts after it ends")
    if first == int(net.network_address) or last == int(net.broadcast_address):
        raise ValidationFailed("the range may not hold the network or broadcast address")
    if last - first >= 65536:
        raise ValidationFailed("a pool holds at most 65,536 addresses")
    if session.execute(select(IpPool.id).where(IpPool.name == data.name)).first():
        raise AlreadyExists(f"an IP pool named {data.name} exists")
    for other in session.execute(select(IpPool)).scalars():
        lo, hi = ipaddress.ip_address(other.first_address), ipaddress.ip_address(other.last_address)
        if lo.version == first_ip.version and not (last < int(lo) or first > int(hi)):
            raise Conflict(f"the range overlaps IP pool {other.name}")
    pool = IpPool(
        name=data.name,
        network=data.network,
        site=data.site,
        cidr=str(net),
        gateway=str(gateway),
        first_address=str(first_ip),
        last_address=str(last_ip),
    )
    session.add(pool)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="ip_pool",
        object_id=pool.id,
        action="ip_pool.create",
        params=data.model_dump(),
    )
    return pool


def get_pool(session: Session, actor: Principal, pool_id: str) -> IpPool:
    """One pool (staff); 404 for anyone else."""
    actor.require(Scope.READ)
    pool = session.get(IpPool, pool_id)
    if pool is None or not actor.is_staff:
        raise NotFound("no such IP pool")
    return pool


def list_pools(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[IpPool], int]:
    """Every pool for staff; nothing for clients."""
    actor.require(Scope.READ)
    stmt = select(IpPool).order_by(IpPool.name, IpPool.id)
    if not actor.is_staff:
        stmt = stmt.where(IpPool.id.is_(None))
    return paginate(session, stmt, page, per_page)


def pool_usage(session: Session, pool: IpPool) -> tuple[int, int]:
    """(addresses held, addresses in the pool)."""
    held = session.execute(
        select(func.count()).select_from(IpAddress).where(IpAddress.pool_id == pool.id)
    ).scalar_one()
    return int(held), pool_size(pool)


def delete_pool(session: Session, actor: Principal, pool_id: str) -> None:
    """Remove a pool none of whose addresses is held."""
    pool = get_pool(session, actor, pool_id)
    _staff(actor, write=True)
    if session.execute(select(IpAddress.id).where(IpAddress.pool_id == pool.id)).first():
        raise Conflict("VMs still hold addresses of this pool")
    session.delete(pool)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="ip_pool",
        object_id=pool_id,
        action="ip_pool.delete",
    )
