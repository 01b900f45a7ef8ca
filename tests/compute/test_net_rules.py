"""The firewall's typed rules and their two host renderings (issue 14), without a host:
nwfilter XML read back with ElementTree, nft scripts validated by ``nft -c`` (check mode:
parsed and checked by the kernel's rules, nothing applied)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from nuages.compute.drivers.libvirt import domxml
from nuages.compute.hypervisor import BridgeNet, DirectKernelBoot, DomainSpec
from nuages.compute.net import host, rules
from nuages.compute.net.rules import Direction, FirewallPolicy, Protocol, RateLimits, Rule, Verdict
from nuages.kernel.errors import ValidationFailed

VM = "3f0c8a52-8d4e-4c36-9a57-0d7f5b1e2a10"


def _ssh_from(cidr: str, action: Verdict = Verdict.ACCEPT, priority: int = 100) -> Rule:
    return Rule(Direction.IN, Protocol.TCP, action, cidr=cidr, port_from=22, priority=priority)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cidr": "10.0.0.300/32"}, "source"),
        ({"cidr": "10.0.0.1/24"}, "source"),  # host bits set: ambiguous, refused
        ({"port_from": 0}, "port"),
        ({"port_from": 70000}, "port"),
        ({"port_from": 90, "port_to": 80}, "port"),
        ({"protocol": Protocol.ICMP, "port_from": 22}, "port"),
        ({"priority": 5000}, "priority"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "direction": Direction.IN,
        "protocol": Protocol.TCP,
        "action": Verdict.ACCEPT,
        "cidr": "0.0.0.0/0",
    }
    values.update(kwargs)
    with pytest.raises(ValidationFailed) as refused:
        Rule(**values)  # type: ignore[arg-type]
    assert refused.value.detail.startswith(f"{field}:")


def test_ports_parse_single_and_ranges() -> None:
    assert rules.parse_ports("22") == (22, None)
    assert rules.parse_ports("8000-8100") == (8000, 8100)
    assert rules.parse_ports("25-25") == (25, None)
    assert rules.parse_ports(None) == (None, None)
    for bad in ("ssh", "1-", "0", "65536", "9-3"):
        with pytest.raises(ValidationFailed, match=r"^port:"):
            rules.parse_ports(bad)


def test_002_s3_6_verdict_follows_priority_then_default() -> None:
    """002 §3.6: the client chooses the ports and sources allowed in; first match by
    priority wins, else the offer's default."""
    policy = FirewallPolicy(
        vm_id=VM,
        rules=(
            _ssh_from("127.0.0.2/32", Verdict.DROP, priority=10),
            _ssh_from("127.0.0.0/8"),
        ),
        default_in=Verdict.DROP,
    )
    assert policy.verdict_in("127.0.0.1", 22) is Verdict.ACCEPT
    assert policy.verdict_in("127.0.0.2", 22) is Verdict.DROP
    assert policy.verdict_in("192.0.2.1", 22) is Verdict.DROP  # default
    assert policy.verdict_in("127.0.0.1", 80) is Verdict.DROP
    assert (
        FirewallPolicy(vm_id=VM, cut=True, default_in=Verdict.ACCEPT).verdict_in("127.0.0.1", 22)
        is Verdict.DROP
    )


def test_003_s7_4_smtp_dropped_unless_mail_server() -> None:
    """003 §7.4: e-mail only from servers declared mail servers (25, 465, 587)."""
    blocked = {(r.port_from, r.action) for r in FirewallPolicy(vm_id=VM).egress_blocks()}
    assert {(25, Verdict.DROP), (465, Verdict.DROP), (587, Verdict.DROP)} <= blocked
    mail = FirewallPolicy(vm_id=VM, mail_server=True, registered=frozenset(rules.REGISTERED_USES))
    assert mail.egress_blocks() == []


def test_003_s7_5_registered_uses_open_their_ports() -> None:
    """003 §7.5: IRC, proxies, video chat only once registered."""
    policy = FirewallPolicy(vm_id=VM, mail_server=True, registered=frozenset({"irc"}))
    ports = {r.port_from for r in policy.egress_blocks()}
    assert 6660 not in ports and 6697 not in ports  # IRC registered
    assert 3128 in ports and 1080 in ports  # proxies are not


def test_nwfilter_xml_orders_cut_egress_rules_default() -> None:
    policy = FirewallPolicy(
        vm_id=VM,
        rules=(_ssh_from("203.0.113.0/24"), Rule(Direction.IN, Protocol.ICMP, Verdict.ACCEPT)),
        cut=True,
    )
    root = ET.fromstring(rules.nwfilter_xml(policy))  # noqa: S314 - our own XML
    assert root.get("name") == f"nuages-vm-{VM}"
    found = [
        (r.get("action"), r.get("direction"), int(r.get("priority", "0")), r[0].tag, r[0].attrib)
        for r in root.iterfind("rule")
    ]
    assert found[0][:4] == ("drop", "inout", rules.PRIO_CUT, "all")
    assert (
        "drop",
        "out",
        rules.PRIO_EGRESS,
        "tcp",
        {"dstportstart": "25", "dstportend": "25"},
    ) in found
    assert (
        "accept",
        "in",
        100,
        "tcp",
        {"srcipaddr": "203.0.113.0", "srcipmask": "24", "dstportstart": "22", "dstportend": "22"},
    ) in found
    assert ("accept", "in", 100, "icmp", {}) in found
    assert found[-2:] == [
        ("drop", "in", rules.PRIO_DEFAULT, "all", {}),
        ("accept", "out", rules.PRIO_DEFAULT, "all", {}),
    ]
    # Redefining the same VM's filter replaces it: the UUID is the VM's.
    again = ET.fromstring(rules.nwfilter_xml(FirewallPolicy(vm_id=VM)))  # noqa: S314
    assert again.findtext("uuid") == root.findtext("uuid")


def test_000_s1_bridged_nic_carries_filter_bandwidth_and_link() -> None:
    """000 §1: a bandwidth allocation per VM (libvirt <bandwidth>, kB/s = Mbps × 125)."""
    spec = DomainSpec(
        name="n1",
        uuid=__import__("uuid").UUID(VM),
        vcpus=1,
        memory_mib=64,
        disk=None,
        boot=DirectKernelBoot(__import__("pathlib").Path("/k"), None, ""),
        network=BridgeNet(
            network="br0",
            mac="52:54:00:aa:bb:cc",
            filter=rules.filter_name(VM),
            bandwidth_mbps=100,
            link_up=False,
            target=rules.tap_name(VM),
        ),
    )
    iface = ET.fromstring(domxml.domain_xml(spec)).find("devices/interface")  # noqa: S314
    assert iface is not None
    assert iface.find("filterref").get("filter") == f"nuages-vm-{VM}"  # type: ignore[union-attr]
    assert iface.find("bandwidth/inbound").get("average") == "12500"  # type: ignore[union-attr]
    assert iface.find("bandwidth/outbound").get("average") == "12500"  # type: ignore[union-attr]
    assert iface.find("link").get("state") == "down"  # type: ignore[union-attr]
    assert iface.find("target").get("dev") == "nu3f0c8a528d4e"  # type: ignore[union-attr]


needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")


@needs_nft
def test_nft_scripts_pass_the_kernels_check() -> None:
    """Every script the host gets is valid nftables (``nft -c``: nothing applied)."""
    nft = host.Nft("nuages_check")
    policy = FirewallPolicy(
        vm_id=VM,
        rules=(
            _ssh_from("127.0.0.1/32"),
            _ssh_from("::1/128"),
            Rule(Direction.IN, Protocol.ANY, Verdict.DROP, cidr="10.0.0.0/8"),
        ),
        limits=RateLimits(udp_pps=100, icmp_pps=10),
    )
    script = rules.nft_script(nft.table, policy, {22: 42001})
    assert "ip saddr 127.0.0.1/32 tcp dport 42001 accept" in script
    assert "ip6 saddr ::1/128 tcp dport 42001 accept" in script
    assert script.rstrip().endswith("tcp dport 42001 drop")  # the offer's default
    nft.run(script, check_only=True)
    nft.run(rules.nft_remove_script(nft.table, VM), check_only=True)
    nft.run(rules.nft_limits_script(nft.table, policy, rules.tap_name(VM)), check_only=True)
    with pytest.raises(host.NftError):
        nft.run("add rule inet nowhere nochain tcp dport banana accept\n", check_only=True)
