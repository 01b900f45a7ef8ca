"""From the database to the host: a VM's ``FirewallPolicy`` and where it takes effect.

``plan_for`` reads everything (rules, the VM's standing, its offer's ``[network]`` terms
and flavour, its wiring) into a ``HostPlan``, a plain value; ``apply`` puts it on the host
with no transaction open: nftables for the ports forwarded to a user-networking guest,
the libvirt filter for a bridged NIC, the NIC's link for a cut. Services call
``apply_after_commit`` (nothing reaches the host for a change that rolled back);
operations call ``apply`` after a domain starts (a restarted QEMU has its link up
again), and reconciliation calls ``reapply_host`` on every pass (a libvirtd restart, a
host reboot, a failed apply: the host converges on what the database says).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Host, IpAddress, IpPool, PortLease, Vm
from nuages.compute.net import host as nethost
from nuages.compute.net import rules
from nuages.compute.net.models import FirewallRule, VmNetwork
from nuages.compute.runtime import ComputeRuntime
from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import parse_version
from nuages.kernel.db import Database, after_commit
from nuages.kernel.errors import NuagesError
from nuages.terms.schema import Offer
from nuages.terms.schema_network import NetworkTerms

log = logging.getLogger("nuages.compute.net")
ENFORCED = ("active", "removal_pending")
SSH = 22


@dataclass(frozen=True)
class HostPlan:
    """One VM's policy and the host facts needed to enforce it."""

    uri: str
    policy: rules.FirewallPolicy
    forwards: dict[int, int] = field(default_factory=dict)  # guest port → host port
    bridged: bool = False
    bandwidth_mbps: int | None = None

    @property
    def uuid(self) -> UUID:
        return UUID(self.policy.vm_id)


def offer_of(session: Session, vm: Vm) -> Offer | None:
    """The terms the VM's contract accepted (its stored version)."""
    contract = session.get(Contract, vm.contract_id)
    if contract is None:
        return None
    version = session.get(OfferVersion, contract.offer_hash)
    if version is None:
        return None
    return parse_version(version.content_hash, version.content)


def terms_of(offer: Offer | None) -> NetworkTerms:
    """The offer's ``[network]`` terms (the permissive defaults when it has none)."""
    found = offer.network if offer is not None else None
    return found if found is not None else NetworkTerms()


def standing(session: Session, vm_id: str) -> VmNetwork:
    """The VM's network row, made (not flushed) on first use."""
    row = session.get(VmNetwork, vm_id)
    if row is None:
        row = VmNetwork(vm_id=vm_id, mail_server=False, firewall_server=False, registered="")
        session.add(row)
    return row


def rule_of(row: FirewallRule) -> rules.Rule:
    return rules.Rule(
        direction=rules.Direction(row.direction),
        protocol=rules.Protocol(row.protocol),
        action=rules.Verdict(row.action),
        cidr=row.cidr,
        port_from=row.port_from,
        port_to=row.port_to,
        priority=row.priority,
    )


def policy_for(session: Session, vm: Vm, offer: Offer | None = None) -> rules.FirewallPolicy:
    """The policy of ``vm`` from its rules, its standing and its offer's terms."""
    terms = terms_of(offer if offer is not None else offer_of(session, vm))
    net = session.get(VmNetwork, vm.id)
    found = session.execute(
        select(FirewallRule)
        .where(FirewallRule.vm_id == vm.id, FirewallRule.state.in_(ENFORCED))
        .order_by(FirewallRule.priority, FirewallRule.created_at, FirewallRule.id)
    ).scalars()
    registered = frozenset(filter(None, (net.registered if net else "").split(",")))
    # Uses the offer does not make registered-only are free: mark them registered.
    free = frozenset(rules.REGISTERED_USES) - frozenset(terms.registration_required)
    return rules.FirewallPolicy(
        vm_id=vm.id,
        rules=tuple(rule_of(r) for r in found),
        default_in=rules.Verdict(terms.firewall_default_in),
        mail_server=(net.mail_server if net else False) or not terms.smtp_only_from_mail_servers,
        registered=registered | free,
        limits=rules.RateLimits(udp_pps=terms.udp_pps_limit, icmp_pps=terms.icmp_pps_limit),
        cut=bool(net is not None and net.cut_at is not None),
    )


def plan_for(session: Session, vm: Vm, offer: Offer | None = None) -> HostPlan | None:
    """Everything ``apply`` needs for ``vm`` (None when it has no host yet)."""
    host = session.get(Host, vm.host_id) if vm.host_id else None
    if host is None:
        return None
    offer = offer if offer is not None else offer_of(session, vm)
    port = session.execute(select(PortLease.port).where(PortLease.vm_id == vm.id)).scalar()
    bridged = (
        session.execute(
            select(IpAddress.id)
            .join(IpPool, IpPool.id == IpAddress.pool_id)
            .where(IpAddress.vm_id == vm.id)
        ).first()
        is not None
    )
    bandwidth = None
    if offer is not None:
        flavour = next((f for f in offer.catalogue.flavours if f.id == vm.flavour_id), None)
        bandwidth = flavour.bandwidth_mbps if flavour is not None else None
    return HostPlan(
        uri=host.uri,
        policy=policy_for(session, vm, offer),
        forwards={SSH: port} if port is not None and not bridged else {},
        bridged=bridged,
        bandwidth_mbps=bandwidth,
    )


def apply(runtime: ComputeRuntime, plan: HostPlan, *, link: bool | None = None) -> None:
    """Put ``plan`` on its host. Raises ``NuagesError`` when the host refused a part.

    The NIC's link is put down when the VM is cut; it is put up only when ``link`` is
    True (a cut lifted): a link event makes the guest renew its network, so a VM that
    was never cut is not disturbed. ``link=False``: leave the link alone."""
    if plan.bridged and not plan.uri.startswith("test:"):
        runtime_filters(runtime, plan.uri).define(plan.policy)
    if nethost.enforces_nft(plan.uri):
        nft = runtime_nft(runtime)
        if plan.forwards:
            nft.apply(plan.policy, plan.forwards)
        if plan.bridged:
            limits = rules.nft_limits_script(
                nft.table, plan.policy, rules.tap_name(plan.policy.vm_id)
            )
            nft.run(limits)
    wanted: bool | None = None
    if link is not False and plan.policy.cut:
        wanted = False
    elif link is True:
        wanted = True
    if wanted is not None and not plan.uri.startswith("test:"):
        conn = runtime.hypervisor(plan.uri).link.get()  # type: ignore[attr-defined]
        try:
            nethost.set_link(conn, plan.uuid, up=wanted)
        except Exception as exc:  # a domain not defined yet, or stopped: reconciled later
            if isinstance(exc, NuagesError):
                raise
            log.info("link of %s not set now: %s", plan.policy.vm_id, exc)


def apply_quietly(runtime: ComputeRuntime, plan: HostPlan, *, link: bool | None = None) -> bool:
    """``apply``, a failure logged (reconciliation retries it); True when applied."""
    try:
        apply(runtime, plan, link=link)
    except NuagesError as exc:
        log.warning("network rules of %s not applied yet: %s", plan.policy.vm_id, exc)
        return False
    return True


def _apply_logged(runtime: ComputeRuntime, plan: HostPlan, link: bool | None) -> None:
    apply_quietly(runtime, plan, link=link)


def apply_after_commit(
    session: Session, runtime: ComputeRuntime, vm: Vm, *, link_up: bool = False
) -> None:
    """Have the VM's current policy applied once ``session`` commits (``link_up``: a
    cut was lifted, put the link up again)."""
    session.flush()
    plan = plan_for(session, vm)
    if plan is not None:
        link = True if link_up else None
        after_commit(session, lambda: _apply_logged(runtime, plan, link))


def forget(runtime: ComputeRuntime, uri: str, vm_id: str) -> None:
    """Remove what ``apply`` left on the host for a deleted VM (never raises)."""
    try:
        if nethost.enforces_nft(uri):
            runtime_nft(runtime).remove(vm_id)
        if not uri.startswith("test:"):
            runtime_filters(runtime, uri).undefine(vm_id)
    except NuagesError as exc:
        log.warning("network rules of %s not removed: %s", vm_id, exc)


def reapply(database: Database, runtime: ComputeRuntime, hosts: list[tuple[str, str]]) -> int:
    """Reconciliation: make the reachable hosts hold what the database says.

    Cut VMs are re-applied on every pass (a guest restarted by hand, or by libvirt,
    comes back with its link up); every VM of a host the first time this process sees
    it and after each lost connection (a libvirtd restart, a host reboot that emptied
    nftables). libvirt's test driver is left alone (nothing to enforce). Returns how
    many VMs were applied."""
    synced: dict[str, int] = runtime.__dict__.setdefault("_nuages_net_synced", {})
    done = 0
    for host_id, uri in hosts:
        if uri.startswith("test:"):
            continue
        losses = runtime.losses.get(uri, 0)
        everything = synced.get(uri) != losses
        with database.unit(readonly=True) as session:
            stmt = select(Vm).where(
                Vm.host_id == host_id, Vm.vm_state.notin_(("deleted", "error", "building"))
            )
            if not everything:
                stmt = stmt.join(VmNetwork, VmNetwork.vm_id == Vm.id).where(
                    VmNetwork.cut_at.is_not(None)
                )
            plans = [p for vm in session.execute(stmt).scalars() if (p := plan_for(session, vm))]
        ok = all([apply_quietly(runtime, plan) for plan in plans])
        done += len(plans)
        if ok:
            synced[uri] = losses
    return done


# One nft runner and one filter connection per host, kept on the runtime.
def runtime_nft(runtime: ComputeRuntime) -> nethost.Nft:
    found = getattr(runtime, "_nuages_nft", None)
    if found is None:
        found = nethost.Nft(runtime.compute.nft_table)
        runtime._nuages_nft = found  # type: ignore[attr-defined]
    return found


def runtime_filters(runtime: ComputeRuntime, uri: str) -> nethost.NwFilters:
    cache: dict[str, nethost.NwFilters] | None = getattr(runtime, "_nuages_filters", None)
    if cache is None:
        cache = {}
        runtime._nuages_filters = cache  # type: ignore[attr-defined]
    if uri not in cache:
        cache[uri] = nethost.NwFilters(uri)
    return cache[uri]
