"""A libvirt daemon of the test's own, which it may stop and start at will.

The system ``libvirtd`` serves every other test on this machine: it is never stopped
here. Instead the test runs a second, privileged ``libvirtd`` (QEMU as ``libvirt-qemu``
with dynamic ownership, as in production) inside a private mount namespace: fresh
``/run/libvirt``, ``/var/lib/libvirt``, ``/var/cache/libvirt``, ``/var/log/libvirt`` and
a copy of ``/etc/libvirt`` (no domains, no networks, no cgroup controllers) are bound
over the real ones for it alone, with its own ``virtlogd``, its own pid files and its
sockets in the test's directory. The system daemon's sockets and state are never
touched; the test connects with ``qemu:///system?socket=…``.

A holder process (``sleep infinity`` after the bind mounts) keeps the namespace alive
across restarts; ``virtlogd`` and each ``libvirtd`` are entered into it with ``nsenter``.
Needs root and util-linux's ``unshare``/``nsenter``; ``unavailable()`` says why not.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import libvirt

_BINDS = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
    "etc": "/etc/libvirt",
}


def unavailable() -> str | None:
    """Why a private daemon cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "a private privileged libvirtd needs root"
    for tool in ("unshare", "nsenter", "taskset", "libvirtd", "virtlogd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/etc/libvirt").is_dir():
        return "/etc/libvirt is missing (libvirt-daemon-system not installed)"
    return None


class PrivateLibvirt:
    """One private daemon under ``root`` (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.holder: subprocess.Popen[bytes] | None = None
        self.virtlogd: subprocess.Popen[bytes] | None = None
        self.libvirtd: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def socket(self) -> Path:
        return self.root / "sock" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.socket}"

    # -- life -----------------------------------------------------------------------

    def open(self, timeout_s: float = 60.0) -> None:
        """Lay out the directories, enter the namespace, start virtlogd and libvirtd."""
        r = self.root
        for name in (*_BINDS, "sock"):
            (r / name).mkdir(parents=True, exist_ok=True)
        shutil.copytree("/etc/libvirt", r / "etc", dirs_exist_ok=True, symlinks=True)
        for defined in (r / "etc" / "qemu").glob("*.xml"):
            defined.unlink()  # no domain of the system daemon's
        shutil.rmtree(r / "etc" / "qemu" / "networks", ignore_errors=True)
        (r / "etc" / "qemu" / "networks").mkdir()
        shutil.rmtree(r / "etc" / "storage", ignore_errors=True)
        with (r / "etc" / "qemu.conf").open("a") as conf:
            conf.write("\n# private test daemon: leave the machine's cgroups alone\n")
            conf.write("cgroup_controllers = [ ]\n")
        (r / "libvirtd.conf").write_text(f'unix_sock_dir = "{r / "sock"}"\n')
        caps = Path("/var/cache/libvirt/qemu/capabilities")
        if caps.is_dir():  # saves the daemon probing QEMU (seconds) at its first start
            shutil.copytree(caps, r / "cache" / "qemu" / "capabilities", dirs_exist_ok=True)
        binds = " && ".join(f"mount --bind {r / k} {v}" for k, v in _BINDS.items())
        ready = r / "ready"
        self.holder = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                f"{binds} && touch {ready} && exec sleep infinity",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(r / "holder.log").open("wb"),
        )
        self._wait(ready.exists, 10, "the private mount namespace")
        self.virtlogd = self._enter(["virtlogd", "-p", str(r / "virtlogd.pid")], "virtlogd")
        self._wait(lambda: (r / "run" / "virtlogd-sock").exists(), 10, "virtlogd")
        self.start(timeout_s)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start libvirtd and wait until it answers."""
        conf, pid = self.root / "libvirtd.conf", self.root / "libvirtd.pid"
        # Pinned to one CPU: libvirt keeps its QEMU capabilities cache only while the
        # host's CPUID reads the same, and on a virtual machine it differs from one vCPU
        # to the next (each start would spend seconds probing QEMU again). libvirt gives
        # QEMU itself every CPU whatever the daemon's affinity.
        argv = ["taskset", "-c", "0", "libvirtd", "-f", str(conf), "-p", str(pid)]
        self.libvirtd = self._enter(argv, "libvirtd")
        self._wait(self.answers, timeout_s, "the private libvirtd")

    def stop(self) -> None:
        """Stop libvirtd as a package upgrade does (SIGTERM); guests keep running."""
        daemon, self.libvirtd = self.libvirtd, None
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)

    def restart(self) -> float:
        """Stop and start libvirtd; the seconds it took."""
        began = time.monotonic()
        self.stop()
        self.start()
        self.restarts += 1
        return time.monotonic() - began

    def answers(self) -> bool:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return False
        try:
            conn.getVersion()
            return True
        except libvirt.libvirtError:
            return False
        finally:
            conn.close()

    def qemu_pid(self, name: str) -> int:
        """The pid of the QEMU process of domain ``name`` (pid file in the private run)."""
        return int((self.root / "run" / "qemu" / f"{name}.pid").read_text())

    def close(self) -> None:
        """Destroy every guest, stop the daemons, leave the namespace, remove the files."""
        if self.libvirtd is not None and self.answers():
            conn = libvirt.open(self.uri)
            try:
                for dom in conn.listAllDomains(0):
                    try:
                        dom.destroy()
                    except libvirt.libvirtError:
                        pass  # not running, or gone meanwhile
            finally:
                conn.close()
        for pid_file in (self.root / "run" / "qemu").glob("*.pid"):
            try:  # a guest the daemon no longer knew of
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.stop()
        for proc in (self.virtlogd, self.holder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------

    def _enter(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        assert self.holder is not None
        return subprocess.Popen(
            ["nsenter", "-t", str(self.holder.pid), "-m", "--", *argv],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / f"{name}.log").open("ab"),
        )

    def _wait(self, ready: object, timeout_s: float, what: str) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        logs = " | ".join(
            f"{p.name}: {p.read_text(errors='replace')[-400:]}" for p in self.root.glob("*.log")
        )
        raise RuntimeError(f"{what} did not come up in {timeout_s:.0f} s ({logs})")
