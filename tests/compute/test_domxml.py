"""Domain XML: isolated user networking on loopback only, the devices we promise."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nuages.compute.drivers.libvirt.domxml import QEMU_NS, domain_xml, with_resources
from nuages.compute.hypervisor import (
    BridgeNet,
    DirectKernelBoot,
    DiskBoot,
    DomainSpec,
    UserNet,
)
from nuages.kernel.errors import ValidationFailed

VM_ID = uuid.UUID("0c7e7d53-6a5e-4a38-9c4e-5d1f4a0b9f11")


def spec(**over: object) -> DomainSpec:
    base: dict[str, object] = {
        "name": "vm-1",
        "uuid": VM_ID,
        "vcpus": 2,
        "memory_mib": 512,
        "disk": Path("/srv/nuages/vm-1.qcow2"),
        "boot": DirectKernelBoot(Path("/srv/k/vmlinux"), Path("/srv/k/initrd.gz"), "quiet"),
        "seed_iso": Path("/srv/nuages/vm-1-seed.iso"),
        "network": UserNet(ssh_port=2222),
    }
    base.update(over)
    return DomainSpec(**base)  # type: ignore[arg-type]


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 - our own output


def qemu_args(root: ET.Element) -> list[str]:
    return [
        str(arg.get("value")) for arg in root.iterfind(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")
    ]


def test_user_net_is_restricted_and_forwards_ssh_from_loopback_only() -> None:
    root = parse(domain_xml(spec()))
    args = qemu_args(root)
    netdev = args[args.index("-netdev") + 1]
    options = netdev.split(",")
    assert options[0] == "user"
    assert "restrict=on" in options
    forwards = [o for o in options if o.startswith("hostfwd=")]
    assert forwards == ["hostfwd=tcp:127.0.0.1:2222-:22"]
    # No libvirt-managed NIC: the only guest network is the restricted one.
    assert root.find("devices/interface") is None
    device = args[args.index("-device") + 1]
    assert device.startswith("virtio-net-pci,netdev=nuagesnet0,")


def test_no_address_but_loopback_anywhere_in_the_xml() -> None:
    xml = domain_xml(spec())
    addresses = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", xml))
    assert addresses == {"127.0.0.1"}


def test_tcg_domain_type_unless_kvm_asked() -> None:
    assert parse(domain_xml(spec())).get("type") == "qemu"
    kvm = parse(domain_xml(spec(accel="kvm")))
    assert kvm.get("type") == "kvm"
    assert kvm.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]


def test_disk_seed_and_console_devices() -> None:
    root = parse(domain_xml(spec(console_log=Path("/srv/nuages/vm-1.log"))))
    assert root.findtext("uuid") == str(VM_ID)
    assert root.findtext("memory") == "512"
    assert root.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert root.findtext("vcpu") == "2"
    disk, cdrom = root.findall("devices/disk")
    assert disk.get("device") == "disk"
    assert disk.find("target").get("bus") == "virtio"  # type: ignore[union-attr]
    assert disk.find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert disk.find("source").get("file") == "/srv/nuages/vm-1.qcow2"  # type: ignore[union-attr]
    assert cdrom.get("device") == "cdrom"
    assert cdrom.find("readonly") is not None
    assert cdrom.find("source").get("file") == "/srv/nuages/vm-1-seed.iso"  # type: ignore[union-attr]
    serial = root.find("devices/serial")
    assert serial is not None and serial.get("type") == "pty"
    assert serial.find("log").get("file") == "/srv/nuages/vm-1.log"  # type: ignore[union-attr]
    assert root.find("devices/console").get("type") == "pty"  # type: ignore[union-attr]
    assert root.find("features/acpi") is not None  # graceful shutdown needs it


def test_direct_kernel_boot_and_bios_boot() -> None:
    direct = parse(domain_xml(spec()))
    assert direct.findtext("os/kernel") == "/srv/k/vmlinux"
    assert direct.findtext("os/initrd") == "/srv/k/initrd.gz"
    assert direct.findtext("os/cmdline") == "quiet"
    bios = parse(domain_xml(spec(boot=DiskBoot())))
    assert bios.find("os/kernel") is None
    assert bios.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]


def test_bridge_net_is_a_libvirt_interface_without_passthrough() -> None:
    root = parse(domain_xml(spec(network=BridgeNet("clients", "52:54:00:aa:bb:cc"))))
    iface = root.find("devices/interface")
    assert iface is not None and iface.get("type") == "network"
    assert iface.find("source").get("network") == "clients"  # type: ignore[union-attr]
    assert iface.find("mac").get("address") == "52:54:00:aa:bb:cc"  # type: ignore[union-attr]
    assert iface.find("model").get("type") == "virtio"  # type: ignore[union-attr]
    assert qemu_args(root) == []


def test_no_network_means_no_nic_at_all() -> None:
    root = parse(domain_xml(spec(network=None)))
    assert root.find("devices/interface") is None
    assert qemu_args(root) == []


def test_with_resources_rewrites_sizes_only() -> None:
    before = domain_xml(spec())
    after = parse(with_resources(before, 4, 2048))
    assert after.findtext("vcpu") == "4"
    assert after.findtext("memory") == "2048"
    assert after.findtext("currentMemory") == "2048"
    assert qemu_args(after) == qemu_args(parse(before))  # pass-through kept


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "vm 1"},
        {"name": "../etc"},
        {"name": "-x"},
        {"name": "x" * 65},
        {"vcpus": 0},
        {"memory_mib": 8},
        {"disk": Path("relative.qcow2")},
        {"accel": "xen"},
        {"disk_format": "vmdk"},
    ],
)
def test_spec_refuses_unsafe_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        spec(**bad)


@pytest.mark.parametrize("port", [0, 65536])
def test_user_net_port_range(port: int) -> None:
    with pytest.raises(ValidationFailed):
        UserNet(ssh_port=port)


def test_bridge_net_refuses_bad_mac() -> None:
    with pytest.raises(ValidationFailed):
        BridgeNet("clients", "52:54:00:AA:BB")


def test_graphics_is_vnc_on_a_socket_only() -> None:
    """Issue 14.3: a VM with graphics gets VNC on a UNIX socket (no TCP port to reach
    from the network) and a VGA card; without, neither."""
    import uuid as _uuid
    import xml.etree.ElementTree as ET
    from pathlib import Path as _Path

    from nuages.compute.drivers.libvirt import domxml
    from nuages.compute.hypervisor import DiskBoot, DomainSpec

    spec = DomainSpec(
        name="g", uuid=_uuid.uuid4(), vcpus=1, memory_mib=64, disk=_Path("/d.qcow2"),
        boot=DiskBoot(), graphics=True,
    )  # fmt: skip
    root = ET.fromstring(domxml.domain_xml(spec))  # noqa: S314 - our own XML
    (graphics,) = root.iterfind("devices/graphics")
    assert graphics.get("type") == "vnc" and graphics.get("port") is None
    assert [el.get("type") for el in graphics.iterfind("listen")] == ["socket"]
    assert root.find("devices/video/model") is not None
    plain_xml = domxml.domain_xml(DomainSpec(**{**spec.__dict__, "graphics": False}))
    plain = ET.fromstring(plain_xml)  # noqa: S314 - our own XML
    assert plain.find("devices/graphics") is None
