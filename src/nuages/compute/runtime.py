"""What compute services run with: the driver chosen by settings, one connection per host,
where VM files live, and how long operations are executed.

Services never pick a driver or an executor with ``if``: they ask the runtime. The
driver is named by ``NUAGES_COMPUTE_DRIVER`` (libvirt, the only one today); operations
run on the huey queue (``queue``, the default), in a thread of this process after the
commit (``thread``: ``nuages up`` without a worker, and end-to-end tests), or only when
the caller runs them (``manual``: tests that drive the job function themselves).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import libvirt
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.hypervisor import LOOPBACK, HostUnreachable, Hypervisor, HypervisorError
from nuages.kernel.db import Database, after_commit
from nuages.kernel.settings import Settings, get_settings

log = logging.getLogger("nuages.compute")

Executor = Literal["queue", "thread", "manual"]


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
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    def _network(self, name: str) -> libvirt.virNetwork:
        with self._lock:
            if self._conn is None:
                try:
                    self._conn = libvirt.open(self.uri)
                except libvirt.libvirtError as exc:
                    raise HostUnreachable(f"cannot reach {self.uri}: {exc}") from exc
            conn = self._conn
        try:
            return conn.networkLookupByName(name)
        except libvirt.libvirtError as exc:
            raise HypervisorError(f"{self.uri}: no network {name!r}") from exc

    def hosts(self, network: str) -> list[tuple[str, str]]:
        """The (mac, ip) static entries of ``network``."""
        import xml.etree.ElementTree as ET

        root = ET.fromstring(self._network(network).XMLDesc(0))  # noqa: S314 - libvirt's XML
        return [(h.get("mac", ""), h.get("ip", "")) for h in root.iterfind("ip/dhcp/host")]

    def add(self, network: str, mac: str, ip: str, name: str) -> None:
        """Give ``mac`` the address ``ip`` (idempotent)."""
        if (mac, ip) in self.hosts(network):
            return
        self._update(network, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, mac, ip, name)

    def remove(self, network: str, mac: str, ip: str, name: str) -> None:
        """Remove the entry of ``mac`` (absent is not an error)."""
        if (mac, ip) not in self.hosts(network):
            return
        self._update(network, libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, mac, ip, name)

    def _update(self, network: str, command: int, mac: str, ip: str, name: str) -> None:
        net = self._network(network)
        flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        if net.isActive():
            flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
        entry = f"<host mac='{mac}' name='{name}' ip='{ip}'/>"
        try:
            net.update(command, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, entry, flags)
        except libvirt.libvirtError as exc:
            raise HypervisorError(f"{self.uri}: DHCP entry for {mac}: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass


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
                    probe_dir=self.settings.data_dir / "probe",
                )
                self._hypervisors[uri] = hv
            return hv

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
            from nuages.jobs import tasks
            from nuages.jobs.queue import enqueue

            enqueue(session, tasks.compute_operation, operation_id)
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


@functools.cache
def get_runtime() -> ComputeRuntime:
    """The process-wide runtime of jobs and the CLI, from the environment."""
    from nuages.jobs.runtime import get_database

    return ComputeRuntime(get_settings(), database=get_database())
