"""Libvirt domain XML built from a ``DomainSpec`` with ElementTree (no string templates).

Why user networking goes through ``qemu:commandline``: libvirt 9.0's ``<interface
type='user'>`` (slirp) can neither forward ports nor set ``restrict=on``; only the passt
backend forwards ports, and passt is not what we want to depend on. The pass-through
arguments give exactly ``-netdev user,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:22`` with a
virtio-net device, so the guest can reach nothing and only the loopback port reaches it.

libvirt's in-process test driver (``test:///default``) accepts this XML as is: it drops
the ``qemu:`` elements silently, so the same builder serves real and simulated hosts.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path
from uuid import UUID

from nuages.compute.hypervisor import (
    LOOPBACK,
    BridgeNet,
    DirectKernelBoot,
    DomainSpec,
    UserNet,
    check_resources,
)

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
USER_NETDEV_ID = "nuagesnet0"
# QEMU creates pass-through devices before libvirt's own, so the NIC needs a PCI slot
# libvirt never hands out: libvirt numbers slots upwards from 2, the NIC takes the last.
USER_NIC_PCI_ADDR = "0x1f"
# Machine type: i440fx ('pc') is what libvirt picks by default on x86 and boots a bit
# faster under TCG than q35; the seed ISO sits on its IDE controller.
MACHINE = "pc"

ET.register_namespace("qemu", QEMU_NS)


def domain_xml(spec: DomainSpec) -> str:
    """Return the libvirt domain XML for ``spec``."""
    root = ET.Element("domain", {"type": "kvm" if spec.accel == "kvm" else "qemu"})
    _text(root, "name", spec.name)
    _text(root, "uuid", str(spec.uuid))
    _text(root, "memory", str(spec.memory_mib), unit="MiB")
    _text(root, "currentMemory", str(spec.memory_mib), unit="MiB")
    _text(root, "vcpu", str(spec.vcpus), placement="static")

    os_el = ET.SubElement(root, "os")
    _text(os_el, "type", "hvm", arch="x86_64", machine=MACHINE)
    if isinstance(spec.boot, DirectKernelBoot):
        _text(os_el, "kernel", str(spec.boot.kernel))
        if spec.boot.initrd is not None:
            _text(os_el, "initrd", str(spec.boot.initrd))
        _text(os_el, "cmdline", spec.boot.cmdline)
    else:
        ET.SubElement(os_el, "boot", dev="hd")

    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")  # the power button is how shutdown/reboot reach the guest
    ET.SubElement(features, "apic")
    if spec.accel == "kvm":
        ET.SubElement(root, "cpu", mode="host-passthrough")
    ET.SubElement(root, "clock", offset="utc")
    _text(root, "on_poweroff", "destroy")
    _text(root, "on_reboot", "restart")
    _text(root, "on_crash", "destroy")

    devices = ET.SubElement(root, "devices")
    if spec.disk is not None:
        _disk(devices, spec.disk, spec.disk_format)
    if spec.seed_iso is not None:
        cdrom = ET.SubElement(devices, "disk", type="file", device="cdrom")
        ET.SubElement(cdrom, "driver", name="qemu", type="raw")
        ET.SubElement(cdrom, "source", file=str(spec.seed_iso))
        ET.SubElement(cdrom, "target", dev="hdc", bus="ide")
        ET.SubElement(cdrom, "readonly")
    if isinstance(spec.network, BridgeNet):
        iface = ET.SubElement(devices, "interface", type="network")
        ET.SubElement(iface, "source", network=spec.network.network)
        ET.SubElement(iface, "mac", address=spec.network.mac)
        ET.SubElement(iface, "model", type="virtio")
        _bridge_extras(iface, spec.network)
    # Serial console on a pty: the portal's console attaches to it later.
    serial = ET.SubElement(devices, "serial", type="pty")
    if spec.console_log is not None:
        ET.SubElement(serial, "log", file=str(spec.console_log), append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    if spec.graphics:
        # VNC on a socket in libvirt's own directory: no TCP port is opened, and only
        # libvirt (virDomainOpenGraphicsFD) hands the display to the console bridge.
        graphics = ET.SubElement(devices, "graphics", type="vnc")
        ET.SubElement(graphics, "listen", type="socket")
        video = ET.SubElement(devices, "video")
        ET.SubElement(video, "model", type="vga")
    # No USB controller: nothing uses it, and every emulated device costs boot time.
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="virtio")
    # Host entropy for the guest: without it, first-boot key generation waits for the
    # guest kernel's random pool (a second or more under TCG).
    rng = ET.SubElement(devices, "rng", model="virtio")
    _text(rng, "backend", "/dev/urandom", model="random")

    if isinstance(spec.network, UserNet):
        _user_net(root, spec.network, spec.uuid)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def user_netdev_arg(net: UserNet) -> str:
    """The ``-netdev`` value: isolated user networking, SSH forwarded from loopback only."""
    return f"user,id={USER_NETDEV_ID},restrict=on,hostfwd=tcp:{LOOPBACK}:{net.ssh_port}-:22"


def default_mac(uuid: UUID) -> str:
    """A stable locally administered MAC (QEMU's 52:54:00 prefix) derived from the UUID."""
    tail = hashlib.sha256(uuid.bytes).digest()[:3]
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


def with_resources(xml: str, vcpus: int, memory_mib: int) -> str:
    """Return ``xml`` (a domain definition) with new vCPU and memory sizes."""
    check_resources(vcpus, memory_mib)
    root = ET.fromstring(xml)  # noqa: S314 - the XML comes from libvirt, not from users
    for tag in ("memory", "currentMemory"):
        el = root.find(tag)
        if el is None:
            el = ET.SubElement(root, tag)
        el.text = str(memory_mib)
        el.set("unit", "MiB")
    vcpu = root.find("vcpu")
    if vcpu is None:
        vcpu = ET.SubElement(root, "vcpu", placement="static")
    vcpu.text = str(vcpus)
    # A 'current' attribute below the new maximum would survive and contradict it.
    vcpu.attrib.pop("current", None)
    # Explicit NUMA cells or per-vCPU lists would contradict the new sizes; the specs we
    # build have none, so a definition that has them was not made by nuages.
    cpu = root.find("cpu")
    if cpu is not None and cpu.find("numa") is not None:
        raise ValueError("cannot resize a domain with an explicit NUMA topology")
    return ET.tostring(root, encoding="unicode")


def backup_xml(domain_xml: str, disk: Path, target: Path, *, since: str | None = None) -> str:
    """A push-mode ``<domainbackup>`` copying the domain's disk whose source is ``disk``
    into the existing qcow2 ``target``; every other disk (the seed CD-ROM) is left out.
    ``since``: only what changed after that checkpoint (an incremental copy; ``target``
    then has the earlier copy as its backing file)."""
    backup = ET.Element("domainbackup", mode="push")
    if since is not None:
        ET.SubElement(backup, "incremental").text = since
    listed = ET.SubElement(backup, "disks")
    for name, chosen in _disk_names(domain_xml, disk):
        if chosen:
            item = ET.SubElement(listed, "disk", name=name, backup="yes", type="file")
            ET.SubElement(item, "target", file=str(target))
            ET.SubElement(item, "driver", type="qcow2")
        else:
            ET.SubElement(listed, "disk", name=name, backup="no")
    return ET.tostring(backup, encoding="unicode")


def checkpoint_xml(domain_xml: str, disk: Path, name: str) -> str:
    """A ``<domaincheckpoint>`` named ``name`` tracking the changes of ``disk`` only (a
    persistent dirty bitmap in its qcow2); the seed CD-ROM is left out."""
    root = ET.Element("domaincheckpoint")
    ET.SubElement(root, "name").text = name
    listed = ET.SubElement(root, "disks")
    for dev, chosen in _disk_names(domain_xml, disk):
        ET.SubElement(listed, "disk", name=dev, checkpoint="bitmap" if chosen else "no")
    return ET.tostring(root, encoding="unicode")


def _disk_names(domain_xml: str, disk: Path) -> list[tuple[str, bool]]:
    """Every disk's target name, True for the one whose source is ``disk``."""
    root = ET.fromstring(domain_xml)  # noqa: S314 - the XML comes from libvirt
    found: list[tuple[str, bool]] = []
    for el in root.iterfind("devices/disk"):
        dev = el.find("target")
        source = el.find("source")
        if dev is None or dev.get("dev") is None:
            continue
        chosen = (
            source is not None and source.get("file") == str(disk) and el.get("device") == "disk"
        )
        found.append((dev.get("dev", ""), chosen))
    if not any(chosen for _name, chosen in found):
        raise ValueError(f"the domain has no disk {disk}")
    return found


def _bridge_extras(iface: ET.Element, net: BridgeNet) -> None:
    """The firewall filter, bandwidth, link state and device name of a bridged NIC."""
    if net.target is not None:
        ET.SubElement(iface, "target", dev=net.target)
    if net.filter is not None:
        ET.SubElement(iface, "filterref", filter=net.filter)
    if net.bandwidth_mbps is not None:
        # libvirt counts kilobytes per second: 1 Mbps = 125 kB/s.
        rate = str(net.bandwidth_mbps * 125)
        bandwidth = ET.SubElement(iface, "bandwidth")
        ET.SubElement(bandwidth, "inbound", average=rate)
        ET.SubElement(bandwidth, "outbound", average=rate)
    if not net.link_up:
        ET.SubElement(iface, "link", state="down")


def _disk(devices: ET.Element, path: Path, disk_format: str) -> None:
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type=disk_format, discard="unmap")
    ET.SubElement(disk, "source", file=str(path))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")


def _user_net(root: ET.Element, net: UserNet, uuid: UUID) -> None:
    mac = net.mac or default_mac(uuid)
    cmdline = ET.SubElement(root, f"{{{QEMU_NS}}}commandline")
    for value in (
        "-netdev",
        user_netdev_arg(net),
        "-device",
        f"virtio-net-pci,netdev={USER_NETDEV_ID},mac={mac},bus=pci.0,addr={USER_NIC_PCI_ADDR},romfile=",
    ):
        ET.SubElement(cmdline, f"{{{QEMU_NS}}}arg", value=value)


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    el.text = text
    return el
