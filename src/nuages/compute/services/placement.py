"""Choosing the host a new VM runs on.

A host qualifies when:

- it is ``active`` (not draining nor disabled: ``states.HostState``) and was reachable at
  the last look;
- one of the sites it serves is one of the offer's data centres (the terms file lists
  where the offer runs; adding a site is a new version of the terms), in a country the
  offer allows (001 §5: EU only; 004 §4: France);
- it is shared, or dedicated to this very client and the offer sells dedicated
  infrastructure (000 §1: a dedicated host serves only its client, who may also use
  shared hosts, 000 §8);
- what its live VMs hold plus the request fits its size times the overcommit ratios.

The client's dedicated hosts come first, then the host with the most room left (spread).
Candidate rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock is taken at
``BEGIN``) so two placements cannot both take the last room of a host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.compute.models import Host, Vm
from nuages.compute.states import PLACEABLE, VmState
from nuages.kernel.errors import CapacityExhausted
from nuages.terms.schema import Offer


@dataclass(frozen=True)
class Request:
    """The resources a VM needs."""

    vcpus: int
    ram_mib: int
    disk_gib: int


@dataclass(frozen=True)
class Usage:
    """What a host's live VMs hold."""

    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0


def limits(host: Host) -> Request:
    """A host's size times its overcommit ratios, rounded down."""

    def scaled(size: int, ratio: Decimal) -> int:
        return math.floor(Decimal(size) * ratio)

    return Request(
        vcpus=scaled(host.vcpus, host.cpu_ratio),
        ram_mib=scaled(host.ram_mib, host.ram_ratio),
        disk_gib=scaled(host.disk_gib, host.disk_ratio),
    )


def usage(session: Session, host_ids: list[str]) -> dict[str, Usage]:
    """What the VMs placed on each host hold (every VM not deleted counts)."""
    if not host_ids:
        return {}
    rows = session.execute(
        select(Vm.host_id, func.sum(Vm.vcpus), func.sum(Vm.ram_mib), func.sum(Vm.disk_gib))
        .where(Vm.host_id.in_(host_ids), Vm.vm_state != VmState.DELETED.value)
        .group_by(Vm.host_id)
    ).all()
    return {str(h): Usage(int(c or 0), int(r or 0), int(d or 0)) for h, c, r, d in rows}


def fits(host: Host, used: Usage, need: Request) -> bool:
    """Whether ``need`` fits on ``host`` next to ``used``."""
    top = limits(host)
    return (
        used.vcpus + need.vcpus <= top.vcpus
        and used.ram_mib + need.ram_mib <= top.ram_mib
        and used.disk_gib + need.disk_gib <= top.disk_gib
    )


def allowed(host: Host, offer: Offer, client_id: str) -> bool:
    """Whether the offer's hosting terms let this client's VM run on ``host``."""
    hosting = offer.catalogue.hosting
    offered = {site.id for site in hosting.sites}
    if not any(s.site in offered and hosting.allows(s.country) for s in host.sites):
        return False
    if host.dedicated_to is None:
        return True
    return host.dedicated_to == client_id and hosting.dedicated_infrastructure


def choose_host(session: Session, offer: Offer, client_id: str, need: Request) -> Host:
    """The host for a new VM, locked until the transaction ends; ``CapacityExhausted``
    when none qualifies."""
    hosts = list(
        session.execute(
            select(Host)
            .where(Host.state.in_([s.value for s in PLACEABLE]), Host.reachable.is_(True))
            .order_by(Host.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    eligible = [h for h in hosts if allowed(h, offer, client_id)]
    if not eligible:
        raise CapacityExhausted(
            f"no host may run offer {offer.id}'s VMs for this client "
            f"(sites: {', '.join(s.id for s in offer.catalogue.hosting.sites)})"
        )
    used = usage(session, [h.id for h in eligible])
    fitting = [h for h in eligible if fits(h, used.get(h.id, Usage()), need)]
    if not fitting:
        raise CapacityExhausted(
            f"no host has room for {need.vcpus} vCPU, {need.ram_mib} MiB, {need.disk_gib} GiB"
        )

    def preference(host: Host) -> tuple[int, float, str]:
        top = limits(host)
        mine = used.get(host.id, Usage())
        room = min(
            1 - (mine.vcpus + need.vcpus) / max(top.vcpus, 1),
            1 - (mine.ram_mib + need.ram_mib) / max(top.ram_mib, 1),
        )
        return (0 if host.dedicated_to == client_id else 1, -room, host.id)

    return min(fitting, key=preference)


def check_growth(session: Session, host: Host, vm: Vm, need: Request) -> None:
    """Refuse a resize that would not fit on the VM's host (``CapacityExhausted``)."""
    locked = session.execute(select(Host).where(Host.id == host.id).with_for_update())
    locked.scalar_one()
    used = usage(session, [host.id]).get(host.id, Usage())
    others = Usage(used.vcpus - vm.vcpus, used.ram_mib - vm.ram_mib, used.disk_gib - vm.disk_gib)
    if not fits(host, others, need):
        raise CapacityExhausted(
            f"the VM's host has no room for {need.vcpus} vCPU, {need.ram_mib} MiB, "
            f"{need.disk_gib} GiB"
        )
