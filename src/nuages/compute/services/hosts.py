"""Hypervisor hosts: adding one (its size and acceleration read from it), listing them.

Adding a host takes two steps so no database transaction waits on the host: ``inspect``
connects, reads the capacity and runs the KVM/TCG probe (seconds); ``register`` writes
the row. Clients see only the hosts dedicated to them (000 §1); staff see all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.hypervisor import Accel, HostCapacity
from nuages.compute.models import Host
from nuages.compute.runtime import ComputeRuntime
from nuages.history import service as history
from nuages.kernel.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate
from nuages.kernel.validation import SAFE_NAME_PATTERN

_URI = re.compile(
    r"^(qemu(\+ssh|\+tls|\+unix)?|test)://[A-Za-z0-9.\-\[\]:@]*/[A-Za-z0-9._/\-]*(\?[A-Za-z0-9=&._/\-]*)?$"
)


@dataclass(frozen=True)
class HostFacts:
    """What a host says about itself when added."""

    capacity: HostCapacity
    accel: Accel


def check_uri(uri: str) -> str:
    """Refuse URIs that are not a libvirt QEMU (or test) URI in a safe alphabet."""
    if not _URI.match(uri):
        raise ValidationFailed(
            f"{uri!r} is not a libvirt URI such as qemu:///system or qemu+ssh://host/system"
        )
    return uri


def inspect(runtime: ComputeRuntime, uri: str, *, probe: bool = True) -> HostFacts:
    """Connect to the host, read its capacity and find whether KVM really works (no
    database). Without ``probe`` the host is taken as software-emulated (TCG)."""
    hv = runtime.hypervisor(check_uri(uri))
    capacity = hv.capacity()
    accel: Accel = hv.probe_acceleration() if probe else "tcg"
    return HostFacts(capacity=capacity, accel=accel)


def default_name(uri: str) -> str:
    """A host name derived from its URI (``qemu:///system`` → ``qemu-system``)."""
    return re.sub(r"[^a-z0-9]+", "-", uri.lower()).strip("-")[:63].strip("-") or "host"


def register(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    *,
    uri: str,
    site: str,
    country: str,
    facts: HostFacts,
    dedicated_to: str | None = None,
    name: str | None = None,
) -> Host:
    """Record a host with its size, the overcommit ratios in force and the probe's
    verdict."""
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("hosts are added by the provider")
    check_uri(uri)
    name = name or default_name(uri)
    if not re.match(SAFE_NAME_PATTERN, name):
        raise ValidationFailed(f"host name {name!r}: lower-case letters, digits, hyphens")
    if not re.match(SAFE_NAME_PATTERN, site):
        raise ValidationFailed(f"site {site!r}: lower-case letters, digits, hyphens")
    if not re.match(r"^[A-Z]{2}$", country):
        raise ValidationFailed(f"country {country!r}: two capital letters (ISO 3166)")
    if dedicated_to is not None and session.get(Client, dedicated_to) is None:
        raise NotFound(f"no client {dedicated_to}")
    clash = session.execute(select(Host.id).where(or_(Host.uri == uri, Host.name == name)))
    if clash.first():
        raise AlreadyExists(f"a host with this URI or the name {name} exists")
    cap = facts.capacity
    compute = runtime.compute
    host = Host(
        name=name,
        uri=uri,
        site=site,
        country=country,
        dedicated_to=dedicated_to,
        vcpus=cap.vcpus_total,
        ram_mib=cap.memory_mib_total,
        disk_gib=math.floor(cap.disk_gib_total),
        cpu_ratio=compute.cpu_overcommit,
        ram_ratio=compute.ram_overcommit,
        disk_ratio=compute.disk_overcommit,
        accel=facts.accel,
        enabled=True,
        reachable=True,
    )
    session.add(host)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="host",
        object_id=host.id,
        action="host.add",
        params={
            "uri": uri,
            "site": site,
            "country": country,
            "dedicated_to": dedicated_to,
            "vcpus": host.vcpus,
            "ram_mib": host.ram_mib,
            "disk_gib": host.disk_gib,
            "accel": host.accel,
        },
        client_id=dedicated_to,
    )
    return host


def _visible(actor: Principal, host: Host) -> bool:
    return actor.is_staff or (
        host.dedicated_to is not None and host.dedicated_to == actor.client_id
    )


def get_host(session: Session, actor: Principal, host_id: str) -> Host:
    """A host the caller may see, else 404."""
    actor.require(Scope.READ)
    host = session.get(Host, host_id)
    if host is None or not _visible(actor, host):
        raise NotFound("no such host")
    return host


def list_hosts(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Host], int]:
    """Every host for staff; a client's dedicated hosts for its users."""
    actor.require(Scope.READ)
    stmt = select(Host).order_by(Host.name, Host.id)
    if not actor.is_staff:
        if actor.client_id is None:
            stmt = stmt.where(Host.id.is_(None))
        else:
            stmt = stmt.where(Host.dedicated_to == actor.client_id)
    return paginate(session, stmt, page, per_page)
