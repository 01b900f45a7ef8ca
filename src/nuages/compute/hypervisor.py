"""The hypervisor driver interface and the typed values that cross it.

Services talk to a host only through ``Hypervisor``; the implementation (libvirt today)
is chosen by configuration. Hypervisor ids and objects never leave a driver: callers name
a domain by the UUID the platform chose for it (the VM id) and read back plain values.

Three rules every implementation keeps, in the style of OpenStack Nova's virt drivers:

- the hypervisor is the authority on power state; ``status`` and ``list_domains`` report
  what it says, never what the caller expects;
- an operation that raises leaves no half-made domain behind (stated per method);
- disk files belong to ``nuages.compute.disks``: a driver never creates or deletes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple, Protocol
from uuid import UUID

from nuages.kernel.errors import AlreadyExists, NotFound, NuagesError, ValidationFailed

Accel = Literal["kvm", "tcg"]
DiskFormat = Literal["qcow2", "raw"]

# Domain names end up in file names (/run/libvirt/qemu/<name>.pid, logs) and shell
# command lines of operators, hence a conservative alphabet.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# User networking forwards guest ports to this address only: traffic stays on loopback.
LOOPBACK = "127.0.0.1"


class HypervisorError(NuagesError):
    """The hypervisor refused or failed an operation for a reason the caller cannot fix."""

    status = 502
    slug = "hypervisor-error"
    title = "The hypervisor failed"


class StaleCheckpoint(HypervisorError):
    """An incremental copy was refused before it began: the checkpoint it starts from is
    unknown to libvirt or its bitmap is gone from the disk (the disk was replaced)."""


class HostUnreachable(HypervisorError):
    """The host's hypervisor cannot be reached (daemon down, network cut, bad URI)."""

    status = 503
    slug = "host-unreachable"
    title = "The host cannot be reached"


class QemuCannotReach(HypervisorError):
    """A directory or file QEMU must open is out of reach of the user QEMU runs as."""

    status = 409
    slug = "qemu-cannot-reach"
    title = "QEMU cannot reach the data directory"


class DomainNotFound(NotFound):
    """No domain with this UUID exists on the host."""

    slug = "domain-not-found"
    title = "No such domain on the host"


class DomainExists(AlreadyExists):
    """A domain with the same UUID or name is already defined on the host."""

    slug = "domain-exists"
    title = "The domain already exists"


class PowerState(StrEnum):
    """What the hypervisor says a domain is doing (the authority on power state)."""

    RUNNING = "running"
    PAUSED = "paused"  # vCPUs stopped, memory and disks kept (pause/resume)
    SHUTTING_DOWN = "shutting_down"  # a graceful shutdown is in progress
    SHUTOFF = "shutoff"
    CRASHED = "crashed"  # the guest panicked or the QEMU process died unexpectedly
    GUEST_SUSPENDED = "guest_suspended"  # the guest put itself to sleep (S3/S4)
    UNKNOWN = "unknown"

    @property
    def is_active(self) -> bool:
        """True when a QEMU process exists for the domain (it holds memory on the host)."""
        return self in {
            PowerState.RUNNING,
            PowerState.PAUSED,
            PowerState.SHUTTING_DOWN,
            PowerState.GUEST_SUSPENDED,
        }


class StopReason(StrEnum):
    """Why a shut-off domain stopped, as the hypervisor reports it (libvirt's
    ``VIR_DOMAIN_SHUTOFF_*`` reasons). Reconciliation names an outage's cause from it:
    only a guest powering itself off is the client's act (002 §6)."""

    SHUTDOWN = "shutdown"  # the guest powered itself off (ACPI, ``poweroff``)
    DESTROYED = "destroyed"  # forced off from the host side (``virsh destroy``)
    FAILED = "failed"  # the domain failed to start
    SAVED = "saved"  # its memory was saved to a file
    MIGRATED = "migrated"  # it moved to another host
    SNAPSHOT = "snapshot"  # a snapshot was restored into a shut-off domain
    DAEMON = "daemon"  # the hypervisor daemon stopped it (e.g. at its own shutdown)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DirectKernelBoot:
    """Boot a kernel and initrd given by the host, with a kernel command line."""

    kernel: Path
    initrd: Path | None
    cmdline: str

    def __post_init__(self) -> None:
        _require_absolute(self.kernel, "kernel")
        if self.initrd is not None:
            _require_absolute(self.initrd, "initrd")


@dataclass(frozen=True)
class DiskBoot:
    """Boot from the disk through the firmware (BIOS), as full cloud images expect."""


Boot = DirectKernelBoot | DiskBoot


@dataclass(frozen=True)
class UserNet:
    """QEMU user networking, isolated: the guest reaches nothing, SSH is forwarded.

    The guest's port 22 is forwarded to ``127.0.0.1:ssh_port`` on the host and the
    network is ``restrict=on``: no packet from the guest leaves QEMU.
    """

    ssh_port: int
    mac: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.ssh_port <= 65535:
            raise ValidationFailed(f"SSH port {self.ssh_port} is outside 1-65535")
        if self.mac is not None:
            _require_mac(self.mac)


@dataclass(frozen=True)
class BridgeNet:
    """A NIC on a libvirt network (bridge) of the host, with a fixed MAC address.

    Issue 14: ``filter`` names the libvirt network filter the NIC is bound to (the VM's
    firewall, defined before the domain starts), ``bandwidth_mbps`` the flavour's
    allocation (000 §1, libvirt ``<bandwidth>`` both ways), ``link_up`` False for a
    network cut, ``target`` the host-side device name (the UDP/ICMP limits match it).
    """

    network: str
    mac: str
    filter: str | None = None
    bandwidth_mbps: int | None = None
    link_up: bool = True
    target: str | None = None

    def __post_init__(self) -> None:
        if not _NETWORK_NAME.match(self.network):
            raise ValidationFailed(f"network name {self.network!r} has unsafe characters")
        _require_mac(self.mac)
        for value in (self.filter, self.target):
            if value is not None and not _NETWORK_NAME.match(value):
                raise ValidationFailed(f"NIC name {value!r} has unsafe characters")
        if self.bandwidth_mbps is not None and self.bandwidth_mbps < 1:
            raise ValidationFailed(f"bandwidth {self.bandwidth_mbps} Mbps must be positive")


Network = UserNet | BridgeNet


@dataclass(frozen=True)
class DomainSpec:
    """Everything a driver needs to define and start one domain.

    ``uuid`` is chosen by the platform (it is the VM id) and is how every later call
    names the domain. ``disk`` must already exist (see ``nuages.compute.disks``) and be
    readable by the hypervisor's process; so must ``seed_iso`` and boot files.
    """

    name: str
    uuid: UUID
    vcpus: int
    memory_mib: int
    disk: Path | None  # None only for diskless guests (the acceleration probe)
    boot: Boot
    disk_format: DiskFormat = "qcow2"
    seed_iso: Path | None = None
    network: Network | None = None
    accel: Accel = "tcg"
    console_log: Path | None = None  # a copy of the serial console, kept by virtlogd
    # A VGA display served by VNC on a UNIX socket only libvirt reaches (issue 14.3):
    # the browser console reaches it through ``open_console(uuid, "vnc")``.
    graphics: bool = False

    MIN_MEMORY_MIB: ClassVar[int] = 32

    def __post_init__(self) -> None:
        check_domain_name(self.name)
        check_resources(self.vcpus, self.memory_mib)
        if self.disk is not None:
            _require_absolute(self.disk, "disk")
        if self.seed_iso is not None:
            _require_absolute(self.seed_iso, "seed ISO")
        if self.console_log is not None:
            _require_absolute(self.console_log, "console log")
        if self.accel not in ("kvm", "tcg"):
            raise ValidationFailed(f"acceleration {self.accel!r} is neither kvm nor tcg")
        if self.disk_format not in ("qcow2", "raw"):
            raise ValidationFailed(f"disk format {self.disk_format!r} is neither qcow2 nor raw")


@dataclass(frozen=True)
class DomainStatus:
    """A domain as the hypervisor reports it now."""

    name: str
    uuid: UUID
    power_state: PowerState
    vcpus: int
    memory_mib: int
    # Set when ``power_state`` is SHUTOFF: why it stopped (None otherwise).
    stop_reason: StopReason | None = None


@dataclass(frozen=True)
class CpuTime:
    """A domain's cumulative CPU time, read at host time ``host_ns``: two readings give
    its CPU use between them, ``Δcpu_ns / (Δhost_ns × vcpus)``."""

    cpu_ns: int
    host_ns: int
    vcpus: int


class DomainStats(NamedTuple):
    """One domain's cumulative counters as one bulk read reported them (issue 14.4).

    Counters are cumulative since the domain's QEMU process started (they restart from
    zero when it does); ``host_ns`` is the host's clock at the read, so two readings give
    rates. A counter the hypervisor did not report is None (not zero: nobody knows).
    ``uuid`` is the domain's UUID as libvirt writes it (lowercase text, the platform's VM
    id). A named tuple, immutable: 5,000 are made a pass, and the collector slices the
    counters (``cpu_ns`` … ``memory_used_bytes``, in its table's column order) at once.
    """

    uuid: str
    power_state: PowerState
    host_ns: int
    vcpus: int | None = None
    cpu_ns: int | None = None
    disk_read_bytes: int | None = None
    disk_write_bytes: int | None = None
    disk_read_ops: int | None = None
    disk_write_ops: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None
    memory_bytes: int | None = None  # what the guest holds (balloon current)
    memory_used_bytes: int | None = None  # what it uses: guest view, else host RSS


ConsoleKind = Literal["serial", "vnc"]


class ConsoleChannel(Protocol):
    """A byte stream to a domain's serial console or VNC display (issue 14.3).

    ``start`` hands every chunk read to ``on_data`` and, once, the reason the stream
    ended to ``on_close``; both may be called from another thread. ``send`` never
    blocks for long; ``close`` is idempotent and releases the console.
    """

    def start(self, on_data: Callable[[bytes], None], on_close: Callable[[str], None]) -> None:
        """Begin delivering what the domain writes."""
        ...

    def send(self, data: bytes) -> None:
        """Write ``data`` to the domain (keyboard input, RFB client messages)."""
        ...

    def close(self) -> None:
        """End the stream (idempotent)."""
        ...


@dataclass(frozen=True)
class QemuUser:
    """The user and group QEMU processes run as on a host (libvirt's configuration)."""

    uid: int
    gid: int


@dataclass(frozen=True)
class HostCapacity:
    """The size of a host and what is left of it.

    ``vcpus_allocated`` and ``memory_mib_allocated`` sum the domains that are active
    now; how far to overcommit is the scheduler's policy, not the driver's.
    ``disk_gib_*`` describe the storage holding the VM disks.
    """

    vcpus_total: int
    vcpus_allocated: int
    memory_mib_total: int
    memory_mib_free: int
    memory_mib_allocated: int
    disk_gib_total: float
    disk_gib_free: float


class Hypervisor(Protocol):
    """One host's hypervisor, named by domain UUIDs.

    Every method may raise ``HostUnreachable`` when the host cannot be reached and
    ``HypervisorError`` when the hypervisor fails for another reason. Methods naming a
    domain raise ``DomainNotFound`` when no domain has that UUID, and
    ``InvalidTransition`` when the domain's power state does not allow the operation.

    A connection lost under a call (the daemon restarted) is repaired by the driver and
    the call run once more when that is safe (reads, and actions checked against the
    domain's state first); ``HostUnreachable`` then means the host stayed away, or that
    an action which must not be repeated may or may not have happened (issue #18).
    """

    def create(self, spec: DomainSpec) -> DomainStatus:
        """Define the domain persistently and start it.

        Pre: no domain with ``spec.uuid`` or ``spec.name`` exists (else ``DomainExists``).
        Post: the domain is defined and active; its status is returned.
        If this raises, nothing of the domain remains defined (disk files are untouched).
        """
        ...

    def start(self, uuid: UUID) -> DomainStatus:
        """Start a defined, shut-off (or crashed) domain.

        Post: the domain is active. Raises ``InvalidTransition`` if it already is.
        """
        ...

    def shutdown(self, uuid: UUID, timeout_s: float) -> DomainStatus:
        """Ask the guest to power off (ACPI); destroy it if still up after ``timeout_s``.

        Post: the domain is shut off (still defined). Already shut off is not an error.
        """
        ...

    def destroy(self, uuid: UUID) -> DomainStatus:
        """Stop the domain at once, like pulling the power cord.

        Post: the domain is shut off (still defined). Already shut off is not an error.
        """
        ...

    def reboot(self, uuid: UUID) -> DomainStatus:
        """Ask the guest to reboot (ACPI); the domain stays active throughout.

        Pre: the domain is running (else ``InvalidTransition``).
        """
        ...

    def pause(self, uuid: UUID) -> DomainStatus:
        """Stop the domain's vCPUs; memory and disks are kept, the guest does not notice.

        Pre: the domain is running. Post: it is paused. Pausing a paused domain is not
        an error.
        """
        ...

    def resume(self, uuid: UUID) -> DomainStatus:
        """Let a paused domain run again from where it stopped.

        Pre: the domain is paused. Post: it is running. Resuming a running domain is not
        an error.
        """
        ...

    def undefine(self, uuid: UUID) -> None:
        """Remove the domain from the host, destroying it first if it is active.

        Post: no domain with this UUID exists. Disk files are NOT touched (``disks``
        deletes them). Undefining an unknown UUID raises ``DomainNotFound``.
        """
        ...

    def set_resources(self, uuid: UUID, vcpus: int, memory_mib: int) -> DomainStatus:
        """Change the number of vCPUs and the memory of a shut-off domain.

        Pre: the domain is shut off (else ``InvalidTransition``). Post: its definition
        holds the new values, applied at next start. If this raises, the definition is
        unchanged.
        """
        ...

    def status(self, uuid: UUID) -> DomainStatus:
        """Report one domain as the hypervisor sees it now."""
        ...

    def cpu_time(self, uuid: UUID) -> CpuTime:
        """The domain's cumulative CPU time now (``DomainNotFound`` if absent). Read-only."""
        ...

    def list_domains(self) -> list[DomainStatus]:
        """Report every domain of the host, active or not, in one bulk query.

        Domains the platform did not create (e.g. the ``test`` domain of libvirt's test
        driver) are listed too; callers ignore UUIDs they do not know.
        """
        ...

    def capacity(self) -> HostCapacity:
        """Report the host's size and what its active domains use."""
        ...

    def domain_stats(self) -> list[DomainStats]:
        """Every domain's counters (CPU time, memory, disk and network I/O) from ONE
        bulk query of the host (``virConnectGetAllDomainStats``). Read-only."""
        ...

    def open_console(self, uuid: UUID, kind: ConsoleKind) -> ConsoleChannel:
        """Open the domain's serial console (``serial``) or VNC display (``vnc``).

        Pre: the domain is active (else ``InvalidTransition``); for ``vnc`` it has a
        VNC display (else ``InvalidTransition``). A serial console already open
        elsewhere is taken over. Post: the channel is open, not started.
        """
        ...

    def copy_disk(
        self,
        uuid: UUID,
        disk: Path,
        target: Path,
        timeout_s: float,
        progress: Callable[[int, int], None] | None = None,
        *,
        checkpoint: str | None = None,
        since: str | None = None,
    ) -> None:
        """Copy the disk file ``disk`` of the running domain, as it is when the call
        starts, into the existing empty qcow2 ``target`` while the guest runs on;
        ``progress`` is told (bytes done, bytes in all) as the hypervisor reports them.
        ``checkpoint``: also start tracking the disk's changes from that instant under
        this name. ``since``: copy only what changed after the checkpoint of that name
        (``target`` then has the copy taken at that checkpoint as its backing file).

        Pre: the domain is active (else ``InvalidTransition``: copy the file itself) and
        ``target`` exists with the disk's virtual size. Post: ``target`` holds the copy.
        Raises ``HypervisorError`` when the copy failed or outlasted ``timeout_s`` (the
        copy is then aborted; ``target``'s content means nothing); its subclass
        ``StaleCheckpoint`` when ``since`` cannot be used (nothing was copied).
        """
        ...

    def abort_disk_copy(self, uuid: UUID) -> bool:
        """Stop a disk copy still running on the domain (its caller died); True if one
        was running."""
        ...

    def checkpoints(self, uuid: UUID) -> list[str]:
        """The names of the domain's checkpoints (none on drivers without them)."""
        ...

    def drop_checkpoints(self, uuid: UUID, keep: str | None = None) -> list[str]:
        """Delete every checkpoint of the domain but ``keep`` (all with None: its disk
        is about to be replaced, which loses their bitmaps); returns the names."""
        ...

    def qemu_user(self) -> QemuUser | None:
        """The user QEMU runs as on the host, as libvirt's configuration sets it
        (qemu.conf ``user``/``group``; the daemon's user in session mode). None when
        the host runs no QEMU (libvirt's test driver). Read-only."""
        ...

    def probe_acceleration(self) -> Accel:
        """Find out whether hardware acceleration really works on this host.

        Boots a tiny guest under KVM with a deadline; returns ``"kvm"`` only if it ran
        to completion, else ``"tcg"``. Leaves no domain behind. Persisting the verdict
        is the caller's job (it takes seconds).
        """
        ...


def check_domain_name(name: str) -> None:
    """Raise ``ValidationFailed`` unless ``name`` uses the safe alphabet (≤ 64 chars)."""
    if not _SAFE_NAME.match(name):
        raise ValidationFailed(
            f"domain name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def check_resources(vcpus: int, memory_mib: int) -> None:
    """Raise ``ValidationFailed`` unless the vCPU count and memory size are sane."""
    if vcpus < 1:
        raise ValidationFailed(f"a domain needs at least one vCPU, not {vcpus}")
    if memory_mib < DomainSpec.MIN_MEMORY_MIB:
        raise ValidationFailed(
            f"a domain needs at least {DomainSpec.MIN_MEMORY_MIB} MiB, not {memory_mib}"
        )


def _require_absolute(path: Path, what: str) -> None:
    # The hypervisor resolves paths in its own working directory (or on another host):
    # a relative path would silently point elsewhere.
    if not path.is_absolute():
        raise ValidationFailed(f"{what} path {path} must be absolute")


def _require_mac(mac: str) -> None:
    if not _MAC.match(mac):
        raise ValidationFailed(f"MAC address {mac!r} must be six lower-case hex pairs")
