"""Does KVM really work here? Boot a tiny guest under KVM and see whether it finishes.

``/dev/kvm`` existing proves little: on some hosts (nested clouds without VMX/SVM
exposed) it answers ioctls but guests hang in the kernel forever. So the probe boots the
host's kernel with a busybox initramfs whose ``/init`` prints a marker on the serial
console and powers off, as a transient ``<domain type='kvm'>``, and gives it a deadline.
The marker in the console log is the only evidence accepted for "kvm".
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from nuages.compute.drivers.libvirt import domxml
from nuages.compute.hypervisor import Accel, DirectKernelBoot, DomainSpec
from nuages.compute.tinyimage import build_probe_initramfs, guest, installed_kernel_version

_POLL_S = 0.2


def kvm_offered(conn: libvirt.virConnect) -> bool:
    """True when the host's capabilities list a ``kvm`` domain type for x86_64."""
    caps = ET.fromstring(conn.getCapabilities())  # noqa: S314 - libvirt's own XML
    for arch in caps.iterfind("guest/arch"):
        if arch.get("name") == "x86_64" and arch.find("domain[@type='kvm']") is not None:
            return True
    return False


def probe_kvm(
    conn: libvirt.virConnect, *, timeout_s: float = 20.0, work_dir: Path | None = None
) -> Accel:
    """Return ``"kvm"`` if a tiny guest boots to user space under KVM in ``timeout_s``."""
    if not kvm_offered(conn):
        return "tcg"
    return "kvm" if boot_probe_guest(conn, "kvm", timeout_s, work_dir) else "tcg"


def boot_probe_guest(
    conn: libvirt.virConnect, accel: Accel, timeout_s: float, work_dir: Path | None = None
) -> bool:
    """Boot the probe guest under ``accel``; True if it reached user space in time.

    Leaves nothing behind: the guest is transient and destroyed on timeout, and the
    files live in a temporary directory under ``work_dir`` (default: the system's
    temporary directory), which must be traversable by the hypervisor's user.
    """
    parent = work_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="nuages-probe-", dir=parent))
    try:
        # The QEMU process runs as another user: it must reach and read these files.
        tmp.chmod(0o755)
        version = installed_kernel_version()
        kernel = tmp / "vmlinuz"
        shutil.copyfile(Path("/boot") / f"vmlinuz-{version}", kernel)
        kernel.chmod(0o644)
        initrd = build_probe_initramfs(tmp / "initrd.gz")
        log = tmp / "console.log"
        probe_id = uuidlib.uuid4()
        spec = DomainSpec(
            name=f"nuages-probe-{probe_id.hex[:12]}",
            uuid=probe_id,
            vcpus=1,
            memory_mib=128,
            disk=None,
            boot=DirectKernelBoot(kernel=kernel, initrd=initrd, cmdline="console=ttyS0 quiet"),
            accel=accel,
            console_log=log,
        )
        return _boot_and_watch(conn, spec, log, timeout_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _boot_and_watch(
    conn: libvirt.virConnect, spec: DomainSpec, log: Path, timeout_s: float
) -> bool:
    try:
        dom = conn.createXML(domxml.domain_xml(spec), 0)
    except libvirt.libvirtError:
        return False  # QEMU refused the accelerator outright
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if _marker_seen(log):
                return True
            if not _alive(dom):
                # Powered off: the console log is complete now.
                return _marker_seen(log)
            time.sleep(_POLL_S)
        return False
    finally:
        if _alive(dom):
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass  # it powered off on its own meanwhile


def _marker_seen(log: Path) -> bool:
    try:
        return guest.PROBE_MARKER.encode() in log.read_bytes()
    except OSError:
        return False


def _alive(dom: libvirt.virDomain) -> bool:
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError:
        return False  # a transient domain disappears when it stops
