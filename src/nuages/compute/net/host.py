"""Where a VM's firewall takes effect on its host: nftables, libvirt nwfilter, the NIC's link.

- ``Nft``: runs ``nft -f -`` on this machine. Each script replaces one VM's chain in
  one transaction (``rules.nft_script``): a rule change takes effect for the next
  packet, without touching the guest; a script nft refuses changes nothing.
- ``NwFilters``: defines and removes the libvirt network filters of bridged NICs
  (``nwfilterDefineXML``; libvirt re-instantiates a redefined filter on every running
  NIC bound to it). Its connection survives a daemon restart like the driver's.
- ``set_link``: the NIC's link up or down (the network cut). A bridged NIC is a libvirt
  ``<interface>``: ``updateDeviceFlags`` with ``<link state=…>``, live and in the
  persistent definition. A user-networking NIC is passed to QEMU on its command line
  (``domxml``), so libvirt does not know it: the QEMU monitor's ``set_link`` on its
  netdev does it, and reconciliation puts it back after a guest restart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import libvirt

from nuages.compute.drivers.libvirt.connection import Attempt, Link
from nuages.compute.drivers.libvirt.domxml import USER_NETDEV_ID
from nuages.compute.hypervisor import HypervisorError
from nuages.compute.net import rules

_T = TypeVar("_T")


class NftError(HypervisorError):
    """nft refused a script (nothing of it was applied) or is missing."""

    slug = "nft-error"
    title = "The host's packet filter refused the rules"


def enforces_nft(uri: str) -> bool:
    """Whether this process can filter the host's forwarded ports: a QEMU host on this
    machine. libvirt's test driver forwards nothing; another host runs its own agent."""
    parts = urlsplit(uri)
    return not parts.netloc and parts.scheme.startswith("qemu")


class Nft:
    """nftables on this machine, in the ``inet``/``bridge`` tables named ``table``."""

    def __init__(self, table: str = "nuages", binary: str | None = None) -> None:
        self.table = table
        self.binary = binary or shutil.which("nft") or "/usr/sbin/nft"

    def run(self, script: str, *, check_only: bool = False) -> None:
        """Apply ``script`` atomically (``check_only``: parse and validate only)."""
        args = [self.binary, *(["-c"] if check_only else []), "-f", "-"]
        try:
            done = subprocess.run(
                args, input=script, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NftError(f"nft: {exc}") from exc
        if done.returncode != 0:
            raise NftError(f"nft refused the rules: {done.stderr.strip()[:400]}")

    def apply(self, policy: rules.FirewallPolicy, forwards: dict[int, int]) -> None:
        """Replace the VM's chain."""
        self.run(rules.nft_script(self.table, policy, forwards))

    def remove(self, vm_id: str) -> None:
        """Remove the VM's chain (absent is fine)."""
        self.run(rules.nft_remove_script(self.table, vm_id))

    def chain(self, vm_id: str) -> str:
        """The VM's chain as nft lists it ("" when absent)."""
        done = subprocess.run(
            [self.binary, "list", "chain", "inet", self.table, rules.chain_name(vm_id)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout if done.returncode == 0 else ""

    def drop_table(self) -> None:
        """Remove both tables (tests; an operator's clean-up)."""
        for family in ("inet", "bridge"):
            self.run(f"add table {family} {self.table}\ndelete table {family} {self.table}\n")


class NwFilters:
    """The libvirt network filters of one host."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._link = Link(uri)

    def _run(self, what: str, fn: Callable[[libvirt.virConnect], _T]) -> _T:
        def call(conn: libvirt.virConnect, _attempt: Attempt) -> _T:
            return fn(conn)

        try:
            return self._link.run(call, what=what, safe=True)
        except libvirt.libvirtError as exc:
            raise HypervisorError(f"{self.uri}: {what}: {exc.get_error_message()}") from exc

    def define(self, policy: rules.FirewallPolicy) -> None:
        """Define (or redefine in place) the VM's filter."""
        xml = rules.nwfilter_xml(policy)
        self._run("network filter definition", lambda conn: conn.nwfilterDefineXML(xml))

    def xml(self, vm_id: str) -> str | None:
        """The VM's filter as libvirt holds it (None when absent)."""

        def read(conn: libvirt.virConnect) -> str | None:
            try:
                return str(conn.nwfilterLookupByName(rules.filter_name(vm_id)).XMLDesc(0))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER:
                    return None
                raise

        return self._run("network filter read", read)

    def undefine(self, vm_id: str) -> None:
        """Remove the VM's filter (absent is fine)."""

        def remove(conn: libvirt.virConnect) -> None:
            try:
                conn.nwfilterLookupByName(rules.filter_name(vm_id)).undefine()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_NWFILTER:
                    raise

        self._run("network filter removal", remove)

    def bound_to(self, vm_id: str) -> list[str]:
        """The host devices (taps) the VM's filter is bound to now."""
        name = rules.filter_name(vm_id)

        def read(conn: libvirt.virConnect) -> list[str]:
            out = []
            for binding in conn.listAllNWFilterBindings(0):
                root = ET.fromstring(binding.XMLDesc(0))  # noqa: S314 - libvirt's XML
                ref = root.find("filterref")
                if ref is not None and ref.get("filter") == name:
                    out.append(binding.portDev())
            return out

        return self._run("network filter bindings", read)

    def close(self) -> None:
        self._link.close()


def set_link(conn: libvirt.virConnect, uuid: UUID, up: bool) -> bool:
    """Put the VM's NIC link up or down; False when the domain is not running (its
    definition then carries the state for a bridged NIC; reconciliation does the rest)."""
    dom = conn.lookupByUUID(uuid.bytes)
    state = "up" if up else "down"
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))  # noqa: S314
    iface = root.find("devices/interface")
    if iface is not None:
        link = iface.find("link")
        if link is None:
            link = ET.SubElement(iface, "link")
        link.set("state", state)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.updateDeviceFlags(ET.tostring(iface, encoding="unicode"), flags)
        return bool(dom.isActive())
    if not dom.isActive():
        return False
    import libvirt_qemu

    command = {"execute": "set_link", "arguments": {"name": USER_NETDEV_ID, "up": up}}
    reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(command), 0))
    if "error" in reply:
        raise HypervisorError(f"QEMU refused set_link: {reply['error'].get('desc', reply)}")
    return True
