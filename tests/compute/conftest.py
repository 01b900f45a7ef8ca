"""Fixtures of the compute tests: libvirt's test driver, the real QEMU host, the tiny guest.

Files a real guest uses live under a directory the QEMU process (user ``libvirt-qemu``
on ``qemu:///system``) can traverse: pytest's own ``tmp_path`` sits below a 0700
directory, so it cannot be used for them.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nuages.compute import disks
from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.hypervisor import DirectKernelBoot, DomainSpec, UserNet
from nuages.compute.seed import SeedContent, build_seed_iso
from nuages.compute.tinyimage import (
    TinyImage,
    build_tiny_image,
    installed_kernel_version,
    load_tiny_image,
)

SYSTEM_URI = "qemu:///system"


@pytest.fixture
def test_hypervisor() -> Iterator[LibvirtHypervisor]:
    """The driver over libvirt's in-process test driver.

    ``test:///default`` state is shared by every open connection of the process and
    reset when the last one closes; this fixture holds the only connection, so each
    test starts from libvirt's default state (one running domain named ``test``).
    """
    hv = LibvirtHypervisor("test:///default", storage_pool="default-pool")
    yield hv
    hv.close()


@pytest.fixture(scope="session")
def guest_workdir() -> Iterator[Path]:
    """A session directory the QEMU process can traverse (0755), removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="nuages-test-vm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def system_hypervisor() -> Iterator[LibvirtHypervisor]:
    """The driver over the machine's real libvirt (QEMU)."""
    try:
        libvirt.open(SYSTEM_URI).close()
    except libvirt.libvirtError as exc:
        message = f"libvirtd unreachable at {SYSTEM_URI} (start: virtlogd -d; libvirtd -d): {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    hv = LibvirtHypervisor(SYSTEM_URI)
    yield hv
    hv.close()


@pytest.fixture(scope="session")
def tiny_image(guest_workdir: Path) -> TinyImage:
    """The tiny guest image, built once per session for the installed kernel."""
    version = installed_kernel_version()
    dest = guest_workdir / f"tiny-{version}"
    return load_tiny_image(dest, kernel_version=version) or build_tiny_image(
        dest, kernel_version=version
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssh_banner(port: int, timeout_s: float = 1.0) -> bool:
    """True if something speaking SSH answers on 127.0.0.1:port right now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_ssh(port: int, timeout_s: float = 90.0) -> float:
    """Wait until SSH answers on 127.0.0.1:port; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if ssh_banner(port):
            return time.monotonic() - start
        time.sleep(0.2)
    raise TimeoutError(f"no SSH on 127.0.0.1:{port} after {timeout_s:.0f} s")


@dataclass
class SSHKey:
    """An ed25519 key pair made for one test."""

    private: paramiko.Ed25519Key
    public_line: str


@pytest.fixture
def ssh_key() -> SSHKey:
    """A fresh ed25519 key pair."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return SSHKey(
        private=paramiko.Ed25519Key.from_private_key(io.StringIO(pem)),
        public_line=public.decode() + " nuages-test",
    )


def ssh_run(port: int, key: SSHKey, command: str) -> str:
    """Run ``command`` as root in the guest behind 127.0.0.1:port; return its stdout."""
    client = paramiko.SSHClient()
    # The guest generated its host key at first boot: nothing to compare it with.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    client.connect(
        "127.0.0.1",
        port=port,
        username="root",
        pkey=key.private,
        timeout=15,
        allow_agent=False,
        look_for_keys=False,
    )
    try:
        _stdin, stdout, stderr = client.exec_command(command, timeout=30)
        out: str = stdout.read().decode()
        status = stdout.channel.recv_exit_status()
        if status != 0:
            raise AssertionError(f"{command!r} exited {status}: {stderr.read().decode()}")
        return out
    finally:
        client.close()


@dataclass
class Guest:
    """One tiny guest's files and spec, made by the ``make_guest`` fixture."""

    spec: DomainSpec
    port: int
    overlay: Path
    seed: Path
    console_log: Path

    def console(self) -> str:
        """The serial console log so far."""
        try:
            return self.console_log.read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def make_guest(
    system_hypervisor: LibvirtHypervisor, tiny_image: TinyImage, guest_workdir: Path
) -> Iterator[Callable[..., Guest]]:
    """Factory of tiny-guest specs (overlay + seed ready); every domain it names is
    destroyed and undefined, and its files deleted, when the test ends."""
    made: list[Guest] = []

    def make(key: SSHKey, *, disk_gib: int | None = None, user_data: str | None = None) -> Guest:
        vm_id = uuid.uuid4()
        name = f"nuages-test-{vm_id.hex[:10]}"
        overlay = guest_workdir / f"{name}.qcow2"
        disks.create_overlay(tiny_image.disk, overlay, size_gib=disk_gib)
        seed = build_seed_iso(
            guest_workdir / f"{name}-seed.iso",
            SeedContent(
                instance_id=str(vm_id),
                hostname=name,
                ssh_authorized_keys=[key.public_line],
                user_data=user_data,
            ),
        )
        port = free_port()
        log = guest_workdir / f"{name}.console.log"
        spec = DomainSpec(
            name=name,
            uuid=vm_id,
            vcpus=1,
            memory_mib=256,
            disk=overlay,
            seed_iso=seed,
            boot=DirectKernelBoot(tiny_image.kernel, tiny_image.initrd, tiny_image.cmdline),
            network=UserNet(ssh_port=port),
            console_log=log,
        )
        guest = Guest(spec=spec, port=port, overlay=overlay, seed=seed, console_log=log)
        made.append(guest)
        return guest

    yield make

    conn = libvirt.open(SYSTEM_URI)
    try:
        for guest in made:
            try:
                dom = conn.lookupByUUID(guest.spec.uuid.bytes)
            except libvirt.libvirtError:
                dom = None
            if dom is not None:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            for path in (guest.overlay, guest.seed, guest.console_log):
                path.unlink(missing_ok=True)
    finally:
        conn.close()
