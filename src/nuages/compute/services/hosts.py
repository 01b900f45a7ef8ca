"""Hypervisor hosts: adding one (its size and acceleration read from it), changing,
draining, disabling and removing it (staff), listing them.

One host row per machine (per libvirt URI), serving one or more sites (``host_sites``):
the machine's capacity, loopback port range and domain list are one, so a row per
(URI, site) would count its capacity twice, lease the same SSH port twice and report the
other rows' VMs as unknown domains. States are ``states.HostState``.

Adding a host takes two steps so no database transaction waits on the host: ``inspect``
connects, reads the capacity and runs the KVM/TCG probe (seconds); ``register`` writes
the row. Clients see only the hosts dedicated to them (000 §1); staff see all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute import reach, schemas
from nuages.compute.hypervisor import Accel, HostCapacity, HypervisorError, QemuCannotReach
from nuages.compute.models import Host, HostSite, PortLease, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services.reconcile import mark_unknown
from nuages.compute.states import HostState, VmState, check_host_transition
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
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
    """Connect to the host, check that QEMU's user there reaches the data directory
    (``reach``: else ``QemuCannotReach`` saying what to change, and nothing is
    recorded), read its capacity and find whether KVM really works (no database).
    Without ``probe`` the host is taken as software-emulated (TCG)."""
    hv = runtime.hypervisor(check_uri(uri))
    reach.require(hv, uri, runtime.qemu_paths())
    capacity = hv.capacity()
    accel: Accel = hv.probe_acceleration() if probe else "tcg"
    return HostFacts(capacity=capacity, accel=accel)


def reach_warnings(session: Session, runtime: ComputeRuntime) -> list[str]:
    """The start-up check of ``nuages up``: for every watched local QEMU host (else the
    configured ``NUAGES_LIBVIRT_URI``), whether QEMU's user there reaches the data
    directory; one plain sentence per problem, saying what to change (``reach``)."""
    uris = [
        h.uri
        for h in session.execute(
            select(Host).where(Host.state != HostState.DISABLED.value).order_by(Host.name)
        ).scalars()
    ] or [runtime.settings.libvirt_uri]
    out = []
    for uri in uris:
        if not reach.is_local_qemu(uri):
            continue
        try:
            reach.require(runtime.hypervisor(uri), uri, runtime.qemu_paths())
        except QemuCannotReach as exc:
            out.append(exc.detail)
        except HypervisorError as exc:
            out.append(f"could not check what QEMU reaches on {uri}: {exc.detail}")
    return out


def default_name(uri: str) -> str:
    """A host name derived from its URI (``qemu:///system`` → ``qemu-system``)."""
    return re.sub(r"[^a-z0-9]+", "-", uri.lower()).strip("-")[:63].strip("-") or "host"


SiteRef = tuple[str, str]  # (site id, country)


def _check_site(site: str, country: str) -> SiteRef:
    if not re.match(SAFE_NAME_PATTERN, site):
        raise ValidationFailed(f"site {site!r}: lower-case letters, digits, hyphens")
    if not re.match(r"^[A-Z]{2}$", country):
        raise ValidationFailed(f"country {country!r}: two capital letters (ISO 3166)")
    return site, country


def _staff(actor: Principal, scope: Scope, what: str) -> None:
    actor.require(scope)
    if not actor.is_staff:
        raise Forbidden(f"hosts are {what} by the provider")


def find_by_uri(session: Session, uri: str) -> Host | None:
    """The host reached at ``uri``, if one is registered (one row per machine)."""
    return session.execute(select(Host).where(Host.uri == uri)).scalar_one_or_none()


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
    more_sites: Sequence[SiteRef] = (),
) -> Host:
    """Record a host with its size, the overcommit ratios in force, the probe's verdict
    and the sites it serves (``site`` and ``more_sites``). A URI already registered is
    refused: add sites to that host instead (``add_sites``)."""
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("hosts are added by the provider")
    check_uri(uri)
    name = name or default_name(uri)
    if not re.match(SAFE_NAME_PATTERN, name):
        raise ValidationFailed(f"host name {name!r}: lower-case letters, digits, hyphens")
    sites = dict(_check_site(s, c) for s, c in [(site, country), *more_sites])
    if dedicated_to is not None and session.get(Client, dedicated_to) is None:
        raise NotFound(f"no client {dedicated_to}")
    same_uri = find_by_uri(session, uri)
    if same_uri is not None:
        raise AlreadyExists(
            f"host {same_uri.name} is {uri}; one machine is one host: add the site to it "
            f"(`nuages host set {same_uri.name} --add-site {site} --country {country}`)"
        )
    if session.execute(select(Host.id).where(Host.name == name)).first():
        raise AlreadyExists(f"a host named {name} exists")
    cap = facts.capacity
    compute = runtime.compute
    host = Host(
        name=name,
        uri=uri,
        dedicated_to=dedicated_to,
        vcpus=cap.vcpus_total,
        ram_mib=cap.memory_mib_total,
        disk_gib=math.floor(cap.disk_gib_total),
        cpu_ratio=compute.cpu_overcommit,
        ram_ratio=compute.ram_overcommit,
        disk_ratio=compute.disk_overcommit,
        accel=facts.accel,
        state=HostState.ACTIVE.value,
        reachable=True,
        sites=[HostSite(site=s, country=c) for s, c in sorted(sites.items())],
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
            "sites": [f"{s}/{c}" for s, c in sorted(sites.items())],
            "dedicated_to": dedicated_to,
            "vcpus": host.vcpus,
            "ram_mib": host.ram_mib,
            "disk_gib": host.disk_gib,
            "accel": host.accel,
        },
        client_id=dedicated_to,
    )
    return host


def _locked(session: Session, actor: Principal, host_id: str, scope: Scope, what: str) -> Host:
    """The host, visible to the caller (else 404), staff only (else 403), its row locked
    until the transaction ends (placement locks the same rows)."""
    get_host(session, actor, host_id)
    _staff(actor, scope, what)
    # populate_existing: the row and its sites as they are once the lock is held, not
    # as the visibility check read them (another change may have committed meanwhile).
    host = session.execute(
        select(Host)
        .where(Host.id == host_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if host is None:  # pragma: no cover - removed between the two reads
        raise NotFound("no such host")
    return host


def _live_vms(session: Session, host_id: str, other_than: str | None = None) -> int:
    stmt = select(func.count()).where(Vm.host_id == host_id, Vm.vm_state != VmState.DELETED.value)
    if other_than is not None:
        stmt = stmt.where(Vm.client_id != other_than)
    return int(session.execute(stmt).scalar_one())


def add_sites(session: Session, actor: Principal, host_id: str, sites: Sequence[SiteRef]) -> Host:
    """Have a host serve more sites (``update`` with ``add_sites`` only)."""
    return update(
        session,
        actor,
        host_id,
        schemas.HostUpdate(add_sites=[schemas.HostSiteIn(site=s, country=c) for s, c in sites]),
    )


def update(session: Session, actor: Principal, host_id: str, data: schemas.HostUpdate) -> Host:
    """Change a host (staff, admin scope): name, sites, dedication, overcommit ratios.

    A host keeps at least one site; a site already served is refused (409) rather than
    silently kept. Dedicating a host to a client is refused while another client's VM
    runs on it (000 §1: a dedicated host serves only its client).
    """
    host = _locked(session, actor, host_id, Scope.ADMIN, "changed")
    changes: dict[str, object] = {}
    if data.name is not None and data.name != host.name:
        if session.execute(select(Host.id).where(Host.name == data.name)).first():
            raise AlreadyExists(f"a host named {data.name} exists")
        changes["name"] = [host.name, data.name]
        host.name = data.name
    served = {s.site: s for s in host.sites}
    for gone in data.remove_sites:
        if gone not in served:
            raise ValidationFailed(f"remove_sites: host {host.name} does not serve {gone}")
    asked = [n.site for n in data.add_sites]
    if len(set(asked)) != len(asked):
        raise ValidationFailed("add_sites: a site is named twice")
    for new in data.add_sites:
        if new.site in served and new.site not in data.remove_sites:
            raise AlreadyExists(f"add_sites: host {host.name} already serves {new.site}")
    keep = [s for s in host.sites if s.site not in data.remove_sites]
    if not keep and not data.add_sites:
        raise ValidationFailed("remove_sites: a host serves at least one site")
    if data.add_sites or data.remove_sites:
        host.sites = keep
        session.flush()  # removed rows go first: a site removed and added again is unique
        for n in data.add_sites:
            host.sites.append(HostSite(site=n.site, country=n.country))
        session.flush()
        session.refresh(host, ["sites"])
        changes["sites"] = [f"{s.site}/{s.country}" for s in host.sites]
    if "dedicated_to" in data.model_fields_set and data.dedicated_to != host.dedicated_to:
        target = data.dedicated_to
        if target is not None:
            if session.get(Client, target) is None:
                raise NotFound("dedicated_to: no such client")
            if _live_vms(session, host.id, other_than=target):
                raise Conflict(f"dedicated_to: host {host.name} runs other clients' VMs (000 §1)")
        changes["dedicated_to"] = [host.dedicated_to, target]
        host.dedicated_to = target
    for field in ("cpu_ratio", "ram_ratio", "disk_ratio"):
        value = getattr(data, field)
        if value is not None and value != getattr(host, field):
            changes[field] = [str(getattr(host, field)), str(value)]
            setattr(host, field, value)
    if not changes:
        return host
    session.flush()
    session.refresh(host)  # ratios read back as the database keeps them (2 places)
    history.record(
        session,
        actor.actor,
        object_type="host",
        object_id=host.id,
        action="host.update",
        params=changes,
        client_id=host.dedicated_to,
    )
    return host


def set_state(session: Session, actor: Principal, host_id: str, target: HostState) -> Host:
    """Move a host to ``target`` (staff, admin scope) by compare-and-swap on its state
    (``HOST_TRANSITIONS``). Draining moves no VM; disabling marks its VMs' power state
    unknown, since no pass looks at it any more."""
    host = _locked(session, actor, host_id, Scope.ADMIN, "managed")
    before = host.state
    if before == target.value:
        raise InvalidTransition(f"host {host.name} is already {before}")
    check_host_transition(before, target)
    done = session.execute(
        sa_update(Host)
        .where(Host.id == host.id, Host.state == before)
        .values(state=target.value)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the host changed meanwhile; read it again")
    if target is HostState.DISABLED:
        mark_unknown(session, host.id)
    session.refresh(host)
    history.record(
        session,
        actor.actor,
        object_type="host",
        object_id=host.id,
        action=f"host.{_VERBS[target]}",
        params={"from": before, "to": target.value, "live_vms": _live_vms(session, host.id)},
        client_id=host.dedicated_to,
    )
    return host


_VERBS = {HostState.ACTIVE: "enable", HostState.DRAINING: "drain", HostState.DISABLED: "disable"}


@dataclass(frozen=True)
class Refreshed:
    """A host after ``refresh`` and what moved: ``{field: [before, after]}``."""

    host: Host
    changes: dict[str, list[int]]


def refresh(session: Session, actor: Principal, runtime: ComputeRuntime, host_id: str) -> Refreshed:
    """Read the host's size again from its hypervisor (staff, admin scope) and record
    it when it moved: its vCPUs, RAM and disk as ``register`` took them. A host keeps
    the size it had when added otherwise, e.g. one added before the driver counted the
    memory outside libvirt's NUMA cells (e03360a), or whose RAM or disks were changed
    since. VMs already placed stay where they are; placement uses the new size from now
    on, even when it is smaller than what is placed (the machine's size is a fact).
    Nothing is written when nothing moved; an unreachable host is an error and changes
    nothing. The acceleration is not probed again (a probe boots a guest)."""
    found = get_host(session, actor, host_id)
    _staff(actor, Scope.ADMIN, "refreshed")
    # Asked before the row lock: a remote host may take a moment to answer.
    cap = runtime.hypervisor(found.uri).capacity()
    host = _locked(session, actor, host_id, Scope.ADMIN, "refreshed")
    now = {
        "vcpus": cap.vcpus_total,
        "ram_mib": cap.memory_mib_total,
        "disk_gib": math.floor(cap.disk_gib_total),
    }
    changes = {k: [getattr(host, k), v] for k, v in now.items() if getattr(host, k) != v}
    if changes:
        for key, (_before, after) in changes.items():
            setattr(host, key, after)
        session.flush()
        history.record(
            session,
            actor.actor,
            object_type="host",
            object_id=host.id,
            action="host.refresh",
            params={"changes": changes, "live_vms": _live_vms(session, host.id)},
            client_id=host.dedicated_to,
        )
    return Refreshed(host, changes)


def remove(session: Session, actor: Principal, host_id: str) -> None:
    """Remove a host no VM is left on (staff, admin scope); 409 while one is.

    Deleted VMs that ran there forget it (their ``host_id`` is cleared; the history keeps
    where each was created), so the URI can be added again later.
    """
    host = _locked(session, actor, host_id, Scope.ADMIN, "removed")
    live = _live_vms(session, host.id)
    if live:
        raise Conflict(
            f"host {host.name} still has {live} VM(s); drain it and delete or move them first"
        )
    detached = session.execute(
        sa_update(Vm)
        .where(Vm.host_id == host.id)
        .values(host_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(delete(PortLease).where(PortLease.host_id == host.id))
    params = {
        "name": host.name,
        "uri": host.uri,
        "sites": host.site_ids,
        "state": host.state,
        "deleted_vms_detached": int(detached or 0),
    }
    client_id = host.dedicated_to
    session.delete(host)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="host",
        object_id=host_id,
        action="host.remove",
        params=params,
        client_id=client_id,
    )


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


def resolve(session: Session, actor: Principal, ref: str) -> Host:
    """The host named or identified by ``ref`` that the caller may see, else 404."""
    found = session.execute(
        select(Host.id).where(or_(Host.id == ref, Host.name == ref))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no host {ref!r}")
    return get_host(session, actor, found)


def offer_sites(registry: OfferRegistry) -> dict[str, str]:
    """Every site the loaded offers name, with its country (site id → country).

    A single-machine install serves all of them at once (``nuages host add URI
    --all-sites``). Two offers giving one site two countries is refused: the site
    would be ambiguous.
    """
    out: dict[str, str] = {}
    for offer in registry.offers.values():
        for site in offer.catalogue.hosting.sites:
            if out.setdefault(site.id, site.country) != site.country:
                raise ValidationFailed(
                    f"site {site.id} is in {out[site.id]} and {site.country} in the offers"
                )
    return dict(sorted(out.items()))
