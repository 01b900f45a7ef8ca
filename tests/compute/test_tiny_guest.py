"""Real guests: the tiny image booted by QEMU through the driver on ``qemu:///system``.

SSH goes to 127.0.0.1 only (user networking with ``restrict=on`` and a forwarded port).
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from nuages.compute import disks
from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.drivers.libvirt.probe import boot_probe_guest
from nuages.compute.hypervisor import DomainNotFound, HypervisorError, PowerState
from nuages.compute.tinyimage import TinyImage
from tests.compute.conftest import (
    Guest,
    SSHKey,
    ssh_banner,
    ssh_run,
    wait_for_ssh,
)

pytestmark = pytest.mark.vm


def boot_id(guest: Guest, key: SSHKey) -> str:
    return ssh_run(guest.port, key, "cat /proc/sys/kernel/random/boot_id").strip()


def wait_for_new_boot(guest: Guest, key: SSHKey, old_boot: str, timeout_s: float = 90) -> str:
    """Wait until the guest answers SSH from a boot other than ``old_boot``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ssh_banner(guest.port):
            try:
                current = boot_id(guest, key)
            except Exception:  # the guest may go down mid-session
                current = old_boot
            if current != old_boot:
                return current
        time.sleep(0.5)
    raise TimeoutError(f"{guest.spec.name} did not reboot in {timeout_s:.0f} s")


def wait_inactive(hv: LibvirtHypervisor, vm_id: uuid.UUID, timeout_s: float = 30) -> PowerState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = hv.status(vm_id).power_state
        if not state.is_active:
            return state
        time.sleep(0.2)
    raise TimeoutError(f"{vm_id} still active after {timeout_s:.0f} s")


def test_guest_lifecycle_over_ssh(
    system_hypervisor: LibvirtHypervisor,
    make_guest: Callable[..., Guest],
    ssh_key: SSHKey,
    tiny_image: TinyImage,
) -> None:
    hv = system_hypervisor
    guest = make_guest(ssh_key, disk_gib=2)
    vm_id = guest.spec.uuid

    assert hv.create(guest.spec).power_state is PowerState.RUNNING
    wait_for_ssh(guest.port)
    assert ssh_run(guest.port, ssh_key, "echo hello") == "hello\n"
    assert ssh_run(guest.port, ssh_key, "hostname").strip() == guest.spec.name
    # The overlay is 2 GiB on a 1 GiB base: the guest grew its file system to fill it.
    root_kib = int(ssh_run(guest.port, ssh_key, "df -k / | awk 'NR==2 {print $2}'"))
    assert root_kib > 1.5 * 1024 * 1024

    # restrict=on: the guest cannot open a connection even to the host's own loopback
    # (10.0.2.2 is the host as seen from user networking).
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        host_port = listener.getsockname()[1]
        out = ssh_run(guest.port, ssh_key, f"nc -w 2 10.0.2.2 {host_port} </dev/null; echo rc=$?")
        assert out.strip().endswith("rc=1")
        with pytest.raises(TimeoutError):
            listener.accept()

    # No sync: the graceful (ACPI) reboot must flush the write itself.
    ssh_run(guest.port, ssh_key, "echo persisted > /root/witness")
    first_boot = boot_id(guest, ssh_key)

    assert hv.pause(vm_id).power_state is PowerState.PAUSED
    assert not ssh_banner(guest.port, timeout_s=2)  # vCPUs frozen: nobody answers
    assert hv.resume(vm_id).power_state is PowerState.RUNNING
    assert boot_id(guest, ssh_key) == first_boot  # same boot, memory kept

    assert hv.reboot(vm_id).power_state is PowerState.RUNNING
    wait_for_new_boot(guest, ssh_key, first_boot)
    assert ssh_run(guest.port, ssh_key, "cat /root/witness") == "persisted\n"

    assert hv.shutdown(vm_id, timeout_s=60).power_state is PowerState.SHUTOFF
    # Both the reboot and the shutdown went through the guest's own clean power-off.
    assert guest.console().count("root file system read-only") == 2

    resized = hv.set_resources(vm_id, 2, 320)
    assert (resized.vcpus, resized.memory_mib) == (2, 320)
    disks.reinstall(tiny_image.disk, guest.overlay)
    assert hv.start(vm_id).power_state is PowerState.RUNNING
    wait_for_ssh(guest.port)
    assert ssh_run(guest.port, ssh_key, "cat /root/witness 2>/dev/null || echo gone") == "gone\n"
    assert ssh_run(guest.port, ssh_key, "nproc").strip() == "2"
    mem_kib = int(ssh_run(guest.port, ssh_key, "awk '/MemTotal/ {print $2}' /proc/meminfo"))
    assert 256 * 1024 < mem_kib <= 320 * 1024

    assert hv.destroy(vm_id).power_state is PowerState.SHUTOFF
    hv.undefine(vm_id)
    assert vm_id not in {d.uuid for d in hv.list_domains()}
    with pytest.raises(DomainNotFound):
        hv.status(vm_id)
    assert guest.overlay.exists()  # the driver never deletes disks


def test_user_data_script_runs_once_per_instance(
    system_hypervisor: LibvirtHypervisor, make_guest: Callable[..., Guest], ssh_key: SSHKey
) -> None:
    hv = system_hypervisor
    script = (
        "#!/bin/sh\n"
        "mkdir -p /root/.ssh\n"
        f"echo '{ssh_key.public_line}' > /root/.ssh/authorized_keys\n"
        "echo ran >> /root/script-runs\n"
    )
    guest = make_guest(ssh_key, user_data=script)
    hv.create(guest.spec)
    wait_for_ssh(guest.port)
    assert ssh_run(guest.port, ssh_key, "cat /root/script-runs") == "ran\n"
    first_boot = boot_id(guest, ssh_key)
    hv.reboot(guest.spec.uuid)
    wait_for_new_boot(guest, ssh_key, first_boot)
    assert ssh_run(guest.port, ssh_key, "cat /root/script-runs") == "ran\n"


def test_killed_qemu_is_reported_crashed(
    system_hypervisor: LibvirtHypervisor, make_guest: Callable[..., Guest], ssh_key: SSHKey
) -> None:
    hv = system_hypervisor
    guest = make_guest(ssh_key)
    hv.create(guest.spec)
    pid = int(Path(f"/run/libvirt/qemu/{guest.spec.name}.pid").read_text())
    assert f"guest={guest.spec.name}" in Path(f"/proc/{pid}/cmdline").read_text()
    os.kill(pid, signal.SIGKILL)

    assert wait_inactive(hv, guest.spec.uuid) is PowerState.CRASHED
    listed = {d.uuid: d for d in hv.list_domains()}
    assert listed[guest.spec.uuid].power_state is PowerState.CRASHED
    assert hv.start(guest.spec.uuid).power_state is PowerState.RUNNING  # recoverable


def test_failed_create_leaves_nothing_defined(
    system_hypervisor: LibvirtHypervisor, make_guest: Callable[..., Guest], ssh_key: SSHKey
) -> None:
    hv = system_hypervisor
    guest = make_guest(ssh_key)
    guest.overlay.unlink()  # QEMU cannot start without its disk
    with pytest.raises(HypervisorError):
        hv.create(guest.spec)
    listed = hv.list_domains()
    assert guest.spec.uuid not in {d.uuid for d in listed}
    assert guest.spec.name not in {d.name for d in listed}


def test_acceleration_probe(system_hypervisor: LibvirtHypervisor, guest_workdir: Path) -> None:
    hv = system_hypervisor
    # The probe's detector must see a guest that works (under TCG, which works here)...
    conn = hv._connection()
    assert boot_probe_guest(conn, "tcg", timeout_s=60, work_dir=guest_workdir)
    # ...and its verdict on KVM must match what the CPU offers.
    verdict = hv.probe_acceleration()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    if " vmx" not in cpuinfo and " svm" not in cpuinfo:
        assert verdict == "tcg"
    else:
        assert verdict in ("kvm", "tcg")
    assert not [d for d in hv.list_domains() if d.name.startswith("nuages-probe-")]
