"""A VM's firewall as typed values, and the two host-side forms it takes (issue 14).

Pure: no database, no libvirt, no subprocess. ``FirewallPolicy`` is what a VM's host
enforces: the client's rules (002 §3.6 "choix des ports autorisés et des IP autorisées
en entrée"), the offer's default policy, the provider's egress rules (SMTP only from
servers declared mail servers, 003 §7.4; IRC, proxies and video chat only when
registered, 003 §7.5), the UDP/ICMP rate limits (004 annexe 1) and the network cut
(000 §6, §11.1; 003 §7.3).

Two renderings of one policy:

- ``nwfilter_xml``: a libvirt network filter for a bridged NIC (the production path),
  built with ElementTree and referenced from the interface's ``<filterref>``;
- ``nft_script``: an ``nft -f`` script replacing, in one transaction, the chain of one VM
  in the host's ``inet`` table, for guests on QEMU user networking whose only way in is
  a port forwarded from the host's loopback (``hostfwd``). nftables evaluates every
  base chain of a hook: a chain that accepts lets the others decide, a drop is final, so
  one base chain per VM that only matches the VM's forwarded ports leaves the rest of
  the host alone.
"""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import StrEnum

from nuages.kernel.errors import ValidationFailed


class Direction(StrEnum):
    IN = "in"  # to the VM
    OUT = "out"  # from the VM


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"
    ANY = "any"


class Verdict(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"


# 003 §7.4: e-mail leaves only servers declared as mail servers.
SMTP_PORTS = (25, 465, 587)
# 003 §7.5: uses that need prior registration, and the ports they are known by.
REGISTERED_USES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "irc": (("tcp", 6660, 6669), ("tcp", 6697, 6697), ("tcp", 7000, 7000)),
    "proxy": (("tcp", 1080, 1080), ("tcp", 3128, 3128), ("tcp", 9050, 9051)),
    "video": (("udp", 3478, 3478), ("tcp", 3478, 3478), ("udp", 10000, 20000)),
}
# Priorities of the rules the platform adds around the client's (nwfilter: lower first).
PRIO_CUT = -900
PRIO_EGRESS = -500
PRIO_DEFAULT = 900


@dataclass(frozen=True)
class Rule:
    """One firewall rule: traffic in ``direction`` of ``protocol`` to ports
    ``port_from``-``port_to`` (None: every port; icmp/any have none) from ``cidr``
    (inbound: the remote source; outbound: the remote destination) gets ``action``.
    Lower ``priority`` is evaluated first."""

    direction: Direction
    protocol: Protocol
    action: Verdict
    cidr: str = "0.0.0.0/0"
    port_from: int | None = None
    port_to: int | None = None
    priority: int = 100

    def __post_init__(self) -> None:
        check_rule(self)

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr, strict=False)

    def covers_port(self, port: int) -> bool:
        """Whether the rule applies to traffic to ``port``."""
        if self.port_from is None:
            return True
        return self.port_from <= port <= (self.port_to or self.port_from)


def parse_cidr(value: str, field_name: str = "source") -> str:
    """``value`` as a normalised network (``10.0.0.1`` → ``10.0.0.1/32``); host bits
    set are refused so that ``10.0.0.1/24`` does not silently mean ``10.0.0.0/24``."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise ValidationFailed(f"{field_name}: {value!r} is not an IP network ({exc})") from exc


def check_rule(rule: Rule) -> None:
    """Raise ``ValidationFailed`` (naming the field) unless ``rule`` is coherent."""
    for name, enum in (("direction", Direction), ("protocol", Protocol), ("action", Verdict)):
        value = getattr(rule, name)
        if value not in set(enum):
            raise ValidationFailed(f"{name}: {value!r} is not one of {', '.join(enum)}")
    parse_cidr(rule.cidr)
    if not -1000 <= rule.priority <= 1000:
        raise ValidationFailed(f"priority: {rule.priority} is outside -1000..1000")
    if rule.port_from is None:
        if rule.port_to is not None:
            raise ValidationFailed("port: a range needs its first port")
        return
    if rule.protocol not in (Protocol.TCP, Protocol.UDP):
        raise ValidationFailed(f"port: {rule.protocol} traffic has no ports")
    last = rule.port_to if rule.port_to is not None else rule.port_from
    for value in (rule.port_from, last):
        if not 1 <= value <= 65535:
            raise ValidationFailed(f"port: {value} is outside 1-65535")
    if last < rule.port_from:
        raise ValidationFailed(f"port: the range {rule.port_from}-{last} ends before it starts")


def parse_ports(value: str | int | None) -> tuple[int | None, int | None]:
    """``"22"`` → (22, None); ``"8000-8100"`` → (8000, 8100); None/"" → every port."""
    if value is None or value == "":
        return None, None
    text = str(value).strip()
    first, dash, last = text.partition("-")
    try:
        a = int(first)
        b = int(last) if dash else None
    except ValueError as exc:
        raise ValidationFailed(f"port: {value!r} is neither a port nor a range a-b") from exc
    for port in (a, b):
        if port is not None and not 1 <= port <= 65535:
            raise ValidationFailed(f"port: {port} is outside 1-65535")
    if b is not None and b < a:
        raise ValidationFailed(f"port: the range {a}-{b} ends before it starts")
    return a, (None if b == a else b)


@dataclass(frozen=True)
class RateLimits:
    """Packets per second a VM may send of each kind (004 annexe 1); None: unlimited."""

    udp_pps: int | None = None
    icmp_pps: int | None = None


@dataclass(frozen=True)
class FirewallPolicy:
    """Everything the host enforces for one VM."""

    vm_id: str
    rules: tuple[Rule, ...] = ()
    default_in: Verdict = Verdict.DROP
    default_out: Verdict = Verdict.ACCEPT
    mail_server: bool = False
    registered: frozenset[str] = frozenset()
    limits: RateLimits = field(default_factory=RateLimits)
    cut: bool = False

    def ordered(self) -> list[Rule]:
        """The client's rules in evaluation order (priority, then as given)."""
        return sorted(self.rules, key=lambda r: r.priority)

    def egress_blocks(self) -> list[Rule]:
        """The provider's outbound drops: SMTP unless a mail server (003 §7.4), each
        registered-only use unless registered (003 §7.5)."""
        out: list[Rule] = []
        if not self.mail_server:
            for port in SMTP_PORTS:
                out.append(_block(Protocol.TCP, port, port))
        for use, ports in sorted(REGISTERED_USES.items()):
            if use in self.registered:
                continue
            for proto, a, b in ports:
                out.append(_block(Protocol(proto), a, None if a == b else b))
        return out

    def verdict_in(self, source: str, port: int, protocol: Protocol = Protocol.TCP) -> Verdict:
        """What this policy decides for inbound traffic from ``source`` to ``port``
        (the reference the two renderings are tested against)."""
        if self.cut:
            return Verdict.DROP
        address = ipaddress.ip_address(source)
        for rule in self.ordered():
            if rule.direction is not Direction.IN:
                continue
            if rule.protocol not in (Protocol.ANY, protocol):
                continue
            if address.version != rule.network.version or address not in rule.network:
                continue
            if rule.covers_port(port):
                return rule.action
        return self.default_in


def _block(protocol: Protocol, first: int, last: int | None) -> Rule:
    return Rule(
        direction=Direction.OUT,
        protocol=protocol,
        action=Verdict.DROP,
        port_from=first,
        port_to=last,
        priority=PRIO_EGRESS,
    )


# ---------------------------------------------------------------- libvirt nwfilter


def filter_name(vm_id: str) -> str:
    """The libvirt filter of a VM (unique per VM, stable)."""
    return f"nuages-vm-{vm_id}"


def nwfilter_xml(policy: FirewallPolicy) -> str:
    """The ``<filter>`` of ``policy`` for a bridged NIC.

    libvirt evaluates rules by priority (lower first) and its tcp/udp rules are
    stateful (replies of an accepted connection pass). Order: the cut (drop all), the
    provider's egress drops, the client's rules, the default policies. The UUID is
    derived from the VM id, so defining the filter again replaces it in place."""
    root = ET.Element("filter", name=filter_name(policy.vm_id), chain="root")
    uuid = uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"nuages:nwfilter:{policy.vm_id}")
    ET.SubElement(root, "uuid").text = str(uuid)
    if policy.cut:
        ET.SubElement(
            ET.SubElement(root, "rule", action="drop", direction="inout", priority=str(PRIO_CUT)),
            "all",
        )
    for rule in policy.egress_blocks():
        _nwrule(root, rule)
    for rule in policy.ordered():
        _nwrule(root, rule)
    for direction, verdict in (("in", policy.default_in), ("out", policy.default_out)):
        el = ET.SubElement(
            root, "rule", action=verdict.value, direction=direction, priority=str(PRIO_DEFAULT)
        )
        ET.SubElement(el, "all")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _nwrule(root: ET.Element, rule: Rule) -> None:
    el = ET.SubElement(
        root,
        "rule",
        action=rule.action.value,
        direction=rule.direction.value,
        priority=str(rule.priority),
    )
    net = rule.network
    v6 = net.version == 6
    tag = {
        Protocol.TCP: "tcp-ipv6" if v6 else "tcp",
        Protocol.UDP: "udp-ipv6" if v6 else "udp",
        Protocol.ICMP: "icmpv6" if v6 else "icmp",
        Protocol.ANY: "all-ipv6" if v6 else "all",
    }[rule.protocol]
    attrs: dict[str, str] = {}
    if net.prefixlen:
        # direction in: the remote end is the packet's source; out: its destination.
        side = "src" if rule.direction is Direction.IN else "dst"
        attrs[f"{side}ipaddr"] = str(net.network_address)
        attrs[f"{side}ipmask"] = str(net.prefixlen)
    if rule.port_from is not None:
        attrs["dstportstart"] = str(rule.port_from)
        attrs["dstportend"] = str(rule.port_to or rule.port_from)
    ET.SubElement(el, tag, attrs)


# ---------------------------------------------------------------- nftables (user networking)


def chain_name(vm_id: str) -> str:
    """The VM's chain in the host's table (nft names: letters, digits, underscore)."""
    return "vm_" + vm_id.replace("-", "")


def _nft_saddr(rule: Rule) -> str:
    net = rule.network
    if net.prefixlen == 0:
        return "ip6 saddr ::/0 " if net.version == 6 else ""
    return f"{'ip6' if net.version == 6 else 'ip'} saddr {net} "


def nft_script(
    table: str, policy: FirewallPolicy, forwards: dict[int, int], *, priority: int = -10
) -> str:
    """Replace the VM's chain in ``inet <table>`` in one ``nft -f`` transaction.

    ``forwards`` maps a guest TCP port to the host port QEMU forwards to it
    (``hostfwd``): only those reach the guest, so only they are filtered, by the rules
    that cover the guest port, in order, then the offer's default. A cut drops them all.
    The chain is a base chain on ``input`` at ``priority`` that matches nothing else.
    """
    chain = chain_name(policy.vm_id)
    lines = [
        f"add table inet {table}",
        f"add chain inet {table} {chain} "
        f"{{ type filter hook input priority {priority}; policy accept; }}",
        f"flush chain inet {table} {chain}",
    ]
    for guest_port, host_port in sorted(forwards.items()):
        match = f"tcp dport {host_port}"
        if not policy.cut:
            for rule in policy.ordered():
                if rule.direction is not Direction.IN:
                    continue
                if rule.protocol not in (Protocol.TCP, Protocol.ANY):
                    continue
                if not rule.covers_port(guest_port):
                    continue
                lines.append(
                    f"add rule inet {table} {chain} {_nft_saddr(rule)}{match} {rule.action}"
                )
        final = Verdict.DROP if policy.cut else policy.default_in
        lines.append(f"add rule inet {table} {chain} {match} {final}")
    return "\n".join(lines) + "\n"


def nft_remove_script(table: str, vm_id: str) -> str:
    """Remove the VM's chain (absent is fine: it is added empty first, in the same
    transaction, since nftables 1.0.6 has no ``destroy``)."""
    chain = chain_name(vm_id)
    return (
        f"add table inet {table}\n"
        f"add chain inet {table} {chain} "
        "{ type filter hook input priority -10; policy accept; }\n"
        f"flush chain inet {table} {chain}\n"
        f"delete chain inet {table} {chain}\n"
    )


def nft_limits_script(table: str, policy: FirewallPolicy, device: str) -> str:
    """UDP/ICMP rate limits of a bridged NIC (004 annexe 1), in the ``bridge`` family:
    packets the tap ``device`` sends over the limit are dropped. Matched by name, so the
    script loads before the device exists."""
    chain = "lim_" + policy.vm_id.replace("-", "")
    lines = [
        f"add table bridge {table}",
        f"add chain bridge {table} {chain} "
        "{ type filter hook forward priority 0; policy accept; }",
        f"flush chain bridge {table} {chain}",
    ]
    if policy.limits.udp_pps:
        lines.append(
            f'add rule bridge {table} {chain} iifname "{device}" meta l4proto udp '
            f"limit rate over {policy.limits.udp_pps}/second drop"
        )
    if policy.limits.icmp_pps:
        lines.append(
            f'add rule bridge {table} {chain} iifname "{device}" '
            "meta l4proto { icmp, ipv6-icmp } "
            f"limit rate over {policy.limits.icmp_pps}/second drop"
        )
    return "\n".join(lines) + "\n"


def tap_name(vm_id: str) -> str:
    """The host-side device of a VM's bridged NIC (≤ 15 characters; libvirt keeps names
    not starting with ``vnet``)."""
    return "nu" + vm_id.replace("-", "")[:12]
