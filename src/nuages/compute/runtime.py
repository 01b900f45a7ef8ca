"""What compute services run with: the driver chosen by settings, one connection per host,
where VM files live, and how long operations are executed.

Services never pick a driver or an executor with ``if``: they ask the runtime. The
driver is named by ``NUAGES_COMPUTE_DRIVER`` (libvirt, the only one today); operations
run on the huey queue (``queue``, the default), in a thread of this process after the
commit (``thread``: ``nuages up`` without a worker, and end-to-end tests), or only when
the caller runs them (``manual``: tests that drive the job function themselves).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import libvirt
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.drivers.libvirt.connection import Attempt, Link
from nuages.compute.hypervisor import LOOPBACK, Hypervisor, HypervisorError
from nuages.kernel import jobs
from nuages.kernel.db import Database, after_commit
from nuages.kernel.settings import Settings, get_settings

log = logging.getLogger("nuages.compute")

Executor = Literal["queue", "thread", "manual"]
_T = TypeVar("_T")


class ComputeSettings(BaseSettings):
    """Compute knobs, each an ``NUAGES_COMPUTE_<NAME>`` variable.

    Overcommit ratios are copied onto a host when it is added (changing them later
    affects new hosts only). SSH ports for user networking come from
    ``[ssh_port_first, ssh_port_last]`` on each host's 127.0.0.1.
    """

    model_config = SettingsConfigDict(env_prefix="NUAGES_COMPUTE_", extra="ignore")

    driver: Literal["libvirt"] = "libvirt"
    executor: Executor = "queue"
    cpu_overcommit: Decimal = Decimal("4")
    ram_overcommit: Decimal = Decimal("1")
    disk_overcommit: Decimal = Decimal("1")
    ssh_port_first: int = 42000
    ssh_port_last: int = 42999
    stop_timeout_s: float = 60.0
    # A snapshot's (or backup's) live copy running longer than this is aborted.
    copy_timeout_s: float = 3600.0
    # An operation running this long on another machine is taken as abandoned.
    operation_stale_s: int = 3600
    storage_pool: str | None = None
    # After a lost libvirt connection (daemon restart), how long a call waits for the
    # daemon to answer again before the host counts as unreachable.
    reconnect_s: float = 10.0
    # The host's nftables tables (inet and bridge) holding the VMs' firewall chains.
    nft_table: str = "nuages"


_DRIVERS: dict[str, Callable[..., Hypervisor]] = {"libvirt": LibvirtHypervisor}


@dataclass(frozen=True)
class VmFiles:
    """Where one VM's files live on its host: disk overlay, seed ISO, console log."""

    directory: Path
    disk: Path
    seed: Path
    console_log: Path

    def all(self) -> tuple[Path, ...]:
        """Every file, for clean-up."""
        return (self.disk, self.seed, self.console_log)

    def snapshot(self, snapshot_id: str) -> Path:
        """Where snapshot ``snapshot_id`` of this VM is kept (removed with the VM)."""
        return self.directory / "snapshots" / f"{snapshot_id}.qcow2"


class LibvirtDhcp:
    """Static DHCP host entries on a libvirt network (bridge mode), on one host.

    Only ever used with networks the operator defined; nuages never starts a network.
    The connection survives a daemon restart like the driver's (``Link``); adding and
    removing an entry check the entries first, so a retry is harmless.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._link = Link(uri)

    def _run(self, name: str, what: str, fn: Callable[[libvirt.virNetwork], _T]) -> _T:
        def call(conn: libvirt.virConnect, _attempt: Attempt) -> _T:
            try:
                net = conn.networkLookupByName(name)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                    raise HypervisorError(f"{self.uri}: no network {name!r}") from exc
                raise
            return fn(net)

        try:
            return self._link.run(call, what=what, safe=True)
        except libvirt.libvirtError as exc:
            raise HypervisorError(f"{self.uri}: {what}: {exc.get_error_message()}") from exc

    def hosts(self, network: str) -> list[tuple[str, str]]:
        """The (mac, ip) static entries of ``network``."""
        return self._run(network, "DHCP entries read", _dhcp_hosts)

    def add(self, network: str, mac: str, ip: str, name: str) -> None:
        """Give ``mac`` the address ``ip`` (idempotent)."""

        def add(net: libvirt.virNetwork) -> None:
            if (mac, ip) not in _dhcp_hosts(net):
                _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, mac, ip, name)

        self._run(network, f"DHCP entry for {mac}", add)

    def remove(self, network: str, mac: str, ip: str, name: str) -> None:
        """Remove the entry of ``mac`` (absent is not an error)."""

        def remove(net: libvirt.virNetwork) -> None:
            if (mac, ip) in _dhcp_hosts(net):
                _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, mac, ip, name)

        self._run(network, f"DHCP entry for {mac}", remove)

    def close(self) -> None:
        """Close the connection."""
        self._link.close()


def _dhcp_hosts(net: libvirt.virNetwork) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(net.XMLDesc(0))  # noqa: S314 - libvirt's XML
    return [(h.get("mac", ""), h.get("ip", "")) for h in root.iterfind("ip/dhcp/host")]


def _update(net: libvirt.virNetwork, command: int, mac: str, ip: str, name: str) -> None:
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if net.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    entry = f"<host mac='{mac}' name='{name}' ip='{ip}'/>"
    net.update(command, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, entry, flags)


class ComputeRuntime:
    """Drivers, files and executor for compute services, from the settings."""

    def __init__(
        self,
        settings: Settings,
        compute: ComputeSettings | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.compute = compute or ComputeSettings()
        self.database = database
        self._hypervisors: dict[str, Hypervisor] = {}
        self._dhcp: dict[str, LibvirtDhcp] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # uri → (when, why) of the last lost connection, cleared once reconnected: the
        # runtime hears of a restarted daemon from libvirt's close callback, before an
        # operation does.
        self.lost: dict[str, tuple[float, str]] = {}
        self.losses: dict[str, int] = {}  # uri → connections lost so far

    # -- drivers ----------------------------------------------------------------------

    def hypervisor(self, uri: str) -> Hypervisor:
        """The driver of the host at ``uri``; one connection per host, reused."""
        with self._lock:
            hv = self._hypervisors.get(uri)
            if hv is None:
                factory = _DRIVERS[self.compute.driver]
                hv = factory(
                    uri,
                    storage_pool=self.compute.storage_pool,
                    disk_dir=self.vm_root,
                    probe_dir=self.probe_dir,
                    listener=self._connection_lost,
                    reconnect_s=self.compute.reconnect_s,
                )
                self._hypervisors[uri] = hv
            return hv

    def _connection_lost(self, uri: str, reason: str) -> None:
        """The driver's listener: note the loss and reconnect in the background, so the
        next operation finds a live connection (and the log says when it came back)."""
        log.warning("lost the libvirt connection to %s: %s; reconnecting", uri, reason)
        with self._lock:
            first = uri not in self.lost
            self.losses[uri] = self.losses.get(uri, 0) + 1
            self.lost[uri] = (time.monotonic(), reason)
        if first:
            threading.Thread(
                target=self._reconnect, args=(uri,), name="nuages-reconnect", daemon=True
            ).start()

    def _reconnect(self, uri: str, give_up_s: float = 300.0) -> None:
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            with self._lock:
                hv = self._hypervisors.get(uri)
                since = self.lost.get(uri)
            if hv is None or since is None:
                return  # closed meanwhile
            try:
                hv.list_domains()
            except HypervisorError:
                time.sleep(1.0)
                continue
            with self._lock:
                self.lost.pop(uri, None)
            log.warning("reconnected to %s after %.1f s", uri, time.monotonic() - since[0])
            return

    def dhcp(self, uri: str) -> LibvirtDhcp:
        """Static DHCP entries on the host at ``uri`` (bridge mode)."""
        with self._lock:
            dhcp = self._dhcp.get(uri)
            if dhcp is None:
                dhcp = self._dhcp[uri] = LibvirtDhcp(uri)
            return dhcp

    def close(self) -> None:
        """Close every host connection (the next call reopens them)."""
        with self._lock:
            hvs, self._hypervisors = list(self._hypervisors.values()), {}
            dhcps, self._dhcp = list(self._dhcp.values()), {}
        for hv in hvs:
            close = getattr(hv, "close", None)
            if close is not None:
                close()
        for dhcp in dhcps:
            dhcp.close()

    @staticmethod
    def port_available(uri: str, port: int) -> bool:
        """Whether ``port`` can be forwarded on the host's loopback now.

        On this machine's QEMU the port is tried for real (another program may hold
        it); on other hosts, and on libvirt's simulated ones, the lease table decides.
        """
        parts = urlsplit(uri)
        if parts.netloc or not parts.scheme.startswith("qemu"):
            return True
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
        return True

    # -- files ------------------------------------------------------------------------

    @property
    def vm_root(self) -> Path:
        """The directory holding one directory per VM."""
        return self.settings.data_dir / "vms"

    @property
    def images_dir(self) -> Path:
        """The directory holding imported and built images."""
        return self.settings.data_dir / "images"

    @property
    def backups_dir(self) -> Path:
        """The directory holding VM backups."""
        return self.settings.data_dir / "backups"

    @property
    def probe_dir(self) -> Path:
        """Where the acceleration probe puts its guest's files."""
        return self.settings.data_dir / "probe"

    def qemu_paths(self) -> list[Path]:
        """Every directory QEMU opens files in (``reach``): disks and seeds, images,
        backups, the probe's files."""
        data = self.settings.data_dir
        return [data, self.vm_root, self.images_dir, self.backups_dir, self.probe_dir]

    def vm_files(self, vm_id: str) -> VmFiles:
        """The files of VM ``vm_id`` (not created here)."""
        directory = self.vm_root / vm_id
        return VmFiles(
            directory=directory,
            disk=directory / "disk.qcow2",
            seed=directory / "seed.iso",
            console_log=directory / "console.log",
        )

    def make_vm_dir(self, vm_id: str) -> VmFiles:
        """Create the VM's directory; QEMU's user must traverse it (files stay 0600)."""
        files = self.vm_files(vm_id)
        for path in (self.settings.data_dir, self.vm_root, files.directory):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.vm_root, files.directory):
            path.chmod(0o755)
        return files

    # -- executor ---------------------------------------------------------------------

    def dispatch(self, session: Session, operation_id: str) -> None:
        """Have the operation run once ``session`` commits (never if it rolls back)."""
        executor = self.compute.executor
        if executor == "queue":
            jobs.enqueue(session, "compute_operation", operation_id)
        elif executor == "thread":
            after_commit(session, lambda: self._run_in_thread(operation_id))
        # "manual": the caller runs ``operations.run_operation`` itself.

    def _run_in_thread(self, operation_id: str) -> None:
        from nuages.compute.services.operations import run_operation

        database = self.database
        if database is None:
            raise RuntimeError("the thread executor needs the runtime's database")
        thread = threading.Thread(
            target=run_operation,
            args=(database, self, operation_id),
            name=f"nuages-op-{operation_id[:8]}",
            daemon=True,
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait_idle(self, timeout_s: float = 300.0) -> None:
        """Wait for the operations running in this process's threads to end."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)


def runner_id() -> str:
    """This process, as written on the operations it runs (``host:pid``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


_process: ComputeRuntime | None = None
_process_lock = threading.Lock()


def set_runtime(runtime: ComputeRuntime | None) -> ComputeRuntime | None:
    """Hand this process its runtime (an app, a test); ``None`` goes back to the one made
    from the environment. Returns the one it replaces. Other slices never hold a runtime:
    what they ask of compute (``services/exported.py``) runs with this one."""
    global _process
    with _process_lock:
        previous, _process = _process, runtime
    return previous


def get_runtime() -> ComputeRuntime:
    """The process-wide runtime of jobs and the CLI: the one handed in, else made once
    from the environment."""
    global _process
    with _process_lock:
        if _process is None:
            _process = ComputeRuntime(get_settings(), database=jobs.get_database())
        return _process
