"""Firewalls nuages cannot enforce from here: user-networking guests on another machine.

A QEMU user-networking guest is reached only through the ports forwarded to it, and its
firewall is nftables on the host for those ports (``host.Nft``), run by this process on
this machine. A ``qemu+ssh://`` host is another machine: nuages has no agent there, so
its user-networking guests' rules would be stored and never enforced. Rather than
pretend, a rule change (client's or staff's approval) on such a VM is refused with a 409
naming the host, and ``nuages doctor`` lists the VMs already there with a policy that is
not "everything open" (docs/network.md, "Remote hosts", says what the operator does:
bridged networking, whose nwfilter libvirt applies over the same connection, or the
forwarded ports filtered on that host by its own means).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Host, PortLease, Vm
from nuages.compute.net import enforce
from nuages.compute.net import host as nethost
from nuages.compute.net import rules as rules_
from nuages.compute.net.models import FirewallRule
from nuages.compute.states import VmState
from nuages.kernel.errors import Conflict


class FirewallNotEnforceable(Conflict):
    """The VM's host cannot enforce this firewall from here."""

    slug = "firewall-not-enforceable"
    title = "The host cannot enforce this VM's firewall"


def remote_qemu(uri: str) -> bool:
    """A QEMU host on another machine (``qemu+ssh://host/system`` and the like)."""
    return urlsplit(uri).scheme.startswith("qemu") and not nethost.enforces_nft(uri)


def refuse_if_unenforced(session: Session, vm: Vm) -> None:
    """Refuse a firewall change of a user-networking guest on a remote QEMU host."""
    plan = enforce.plan_for(session, vm)
    if plan is None or plan.bridged or not plan.forwards or not remote_qemu(plan.uri):
        return
    raise FirewallNotEnforceable(
        f"this VM uses QEMU user networking on {plan.uri}, another machine: its firewall "
        "is nftables on the host itself, which nuages cannot run there, so the rule would "
        "not be enforced; give the VM a bridged address (nwfilter), or see docs/network.md "
        '"Remote hosts"',
        host=plan.uri,
    )


@dataclass(frozen=True)
class Unenforced:
    vm_id: str
    name: str
    host: str
    rules: int


def unenforced(session: Session) -> list[Unenforced]:
    """Live user-networking guests on remote QEMU hosts whose firewall is not all open
    (rules, or an offer's default ``drop``): what they were promised is not enforced."""
    found = session.execute(
        select(Vm, Host.uri)
        .join(Host, Host.id == Vm.host_id)
        .join(PortLease, PortLease.vm_id == Vm.id)
        .where(Vm.vm_state.notin_((VmState.DELETED.value, VmState.ERROR.value)))
        .order_by(Vm.created_at, Vm.id)
    ).all()
    out = []
    for vm, uri in found:
        if not remote_qemu(uri):
            continue
        plan = enforce.plan_for(session, vm)
        if plan is None or plan.bridged:
            continue
        rules = len(
            session.execute(select(FirewallRule.id).where(FirewallRule.vm_id == vm.id)).all()
        )
        if rules or plan.policy.default_in != rules_.Verdict.ACCEPT:
            out.append(Unenforced(vm.id, vm.name, uri, rules))
    return out
