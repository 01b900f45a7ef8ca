"""The tiny guest: a Debian kernel, a home-made initramfs and a small ext4 root disk.

Built only from Debian packages already on the machine (``linux-image-amd64``,
``busybox-static``, ``dropbear-bin``, ``e2fsprogs``, ``qemu-utils``), without root
privileges and without downloading anything. It boots by direct kernel boot:

- the initramfs (gzip'd newc cpio, written in Python) holds the static busybox and the
  kernel modules Debian builds as ``=m`` (virtio, ext4, iso9660, IDE CD-ROM, ACPI button),
  loads them with ``insmod`` in dependency order, mounts ``/dev/vda`` and switch_roots;
- the root disk (``mke2fs -t ext4 -d``, then ``qemu-img convert -O qcow2``) holds busybox,
  dropbear and its libraries, ``resize2fs``, and a busybox-init boot script that reads the
  NoCloud seed (hostname, root's SSH keys, a user-data script), brings eth0 up by DHCP and
  serves SSH on port 22 with key authentication only.

VM disks are qcow2 overlays on the base disk (``nuages.compute.disks``).
"""

from __future__ import annotations

import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nuages.compute.tinyimage import guest
from nuages.compute.tinyimage.cpio import CpioArchive

BUILDER_VERSION = 5
BUSYBOX = Path("/bin/busybox")
DROPBEAR_BINARIES = (Path("/usr/sbin/dropbear"), Path("/usr/bin/dropbearkey"))
EXTRA_BINARIES = (Path("/sbin/resize2fs"),)
# Debian builds these as modules (see NOTES.md); their dependencies come from modules.dep.
# crc32c_generic: ext4 asks the crypto API for crc32c, and without modprobe in the
# initramfs the kernel cannot load it on demand.
MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_balloon",
    "crc32c_generic",
    "ext4",
    "isofs",
    "ata_piix",
    "sr_mod",
    "button",
    "evdev",
    "virtio_rng",
)
# 'quiet': every console character costs an emulated UART exit under TCG; the guest's
# own log lines say what matters.
CMDLINE = "console=ttyS0,115200 root=/dev/vda rootfstype=ext4 rw quiet"
DISK_GIB = 1
MANIFEST = "manifest.json"


class ImageBuildError(RuntimeError):
    """A tool or an input the builder needs is missing or failed."""


@dataclass(frozen=True)
class TinyImage:
    """The files of a built tiny image and what a platform needs to know about it."""

    kernel: Path
    initrd: Path
    disk: Path
    metadata: dict[str, Any] = field(hash=False)

    @property
    def cmdline(self) -> str:
        """The kernel command line to boot it with."""
        return str(self.metadata["cmdline"])


def installed_kernel_version() -> str:
    """The newest kernel version with both ``/boot/vmlinuz-*`` and its modules."""
    versions = [
        p.name.removeprefix("vmlinuz-")
        for p in Path("/boot").glob("vmlinuz-*")
        if (Path("/lib/modules") / p.name.removeprefix("vmlinuz-") / "modules.dep").exists()
    ]
    if not versions:
        raise ImageBuildError("no kernel in /boot with modules in /lib/modules")
    return max(versions, key=_natural_key)


def build_tiny_image(
    dest_dir: Path, *, kernel_version: str | None = None, disk_gib: int = DISK_GIB
) -> TinyImage:
    """Build the tiny image into ``dest_dir`` (created 0755) and return its files.

    Everything is world-readable and ``dest_dir`` traversable, because the hypervisor's
    process (``libvirt-qemu`` on ``qemu:///system``) must read the kernel, the initrd
    and the base disk. The caller must make sure ``dest_dir``'s parents are traversable.
    """
    version = kernel_version or installed_kernel_version()
    modules_dir = Path("/lib/modules") / version
    kernel_src = Path("/boot") / f"vmlinuz-{version}"
    for needed in (kernel_src, modules_dir / "modules.dep", BUSYBOX, *DROPBEAR_BINARIES):
        if not needed.exists():
            raise ImageBuildError(f"{needed} is missing; install the Debian packages")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest_dir.chmod(0o755)

    kernel = extract_vmlinux(kernel_src, dest_dir / f"vmlinux-{version}")
    if kernel is None:
        kernel = dest_dir / f"vmlinuz-{version}"
        shutil.copyfile(kernel_src, kernel)
    initrd = dest_dir / f"initrd-{version}.gz"
    build_initramfs(initrd, modules_dir)
    disk = dest_dir / "root.qcow2"
    build_root_disk(disk, disk_gib)
    for path in (kernel, initrd, disk):
        path.chmod(0o644)

    metadata: dict[str, Any] = {
        "os_name": f"nuages tiny (Debian kernel {version}, busybox, dropbear)",
        "boot_mode": "direct-kernel",
        "min_disk_gib": disk_gib,
        "cmdline": CMDLINE,
        "kernel_version": version,
        "kernel_format": "elf" if kernel.name.startswith("vmlinux") else "bzimage",
        "login_user": "root",
        "builder_version": BUILDER_VERSION,
    }
    manifest = {"kernel": kernel.name, "initrd": initrd.name, "disk": disk.name, **metadata}
    (dest_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return TinyImage(kernel=kernel, initrd=initrd, disk=disk, metadata=metadata)


def load_tiny_image(dest_dir: Path, *, kernel_version: str | None = None) -> TinyImage | None:
    """The image already built in ``dest_dir`` if it is complete and current, else None."""
    try:
        manifest = json.loads((dest_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    version = kernel_version or installed_kernel_version()
    if manifest.get("builder_version") != BUILDER_VERSION:
        return None
    if manifest.get("kernel_version") != version:
        return None
    files = {k: dest_dir / manifest[k] for k in ("kernel", "initrd", "disk")}
    if not all(p.exists() for p in files.values()):
        return None
    metadata = {k: v for k, v in manifest.items() if k not in files}
    return TinyImage(metadata=metadata, **files)


def extract_vmlinux(bzimage: Path, dest: Path) -> Path | None:
    """Write the uncompressed ELF kernel held in ``bzimage`` to ``dest``; None if the
    payload's compression is not one Python reads (then boot the bzImage itself).

    Why: QEMU boots an ELF kernel with a PVH note directly, skipping the real-mode setup
    and the in-guest decompression, which under TCG take about 3 s of a 10 s boot.
    """
    data = bzimage.read_bytes()
    decompressors: list[tuple[bytes, Any]] = [
        (b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)),
        (b"\x1f\x8b\x08", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
    ]
    for magic, make in decompressors:
        start = data.find(magic)
        if start < 0:
            continue
        try:
            elf = make().decompress(data[start:])
        except (lzma.LZMAError, zlib.error):
            continue
        if elf.startswith(b"\x7fELF"):
            dest.write_bytes(elf)
            return dest
    return None


def build_initramfs(dest: Path, modules_dir: Path) -> Path:
    """Write the boot initramfs: busybox, the modules in load order, and ``/init``."""
    archive = CpioArchive()
    for d in ("dev", "proc", "sys", "newroot", "etc"):
        archive.add_dir(d)
    archive.add_char_device("dev/console", 5, 1)
    archive.add_host_file("bin/busybox", BUSYBOX, 0o755)
    order = module_load_order(modules_dir, MODULES)
    for rel in order:
        archive.add_host_file(f"lib/modules/{rel}", modules_dir / rel, 0o644)
    archive.add_file("etc/modules.order", "".join(f"{rel}\n" for rel in order).encode())
    archive.add_file("init", guest.INITRAMFS_INIT.encode(), 0o755)
    archive.write_gzip(dest)
    return dest


def build_probe_initramfs(dest: Path) -> Path:
    """Write the acceleration probe's initramfs: busybox and an ``/init`` that prints
    ``guest.PROBE_MARKER`` on the console and powers off."""
    archive = CpioArchive()
    archive.add_dir("dev")
    archive.add_char_device("dev/console", 5, 1)
    archive.add_host_file("bin/busybox", BUSYBOX, 0o755)
    archive.add_file("init", guest.PROBE_INIT.encode(), 0o755)
    archive.write_gzip(dest)
    dest.chmod(0o644)
    return dest


def module_load_order(modules_dir: Path, names: tuple[str, ...]) -> list[str]:
    """Paths (relative to ``modules_dir``) of ``names`` and their dependencies, each
    after everything it depends on, read from ``modules.dep``."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        module, _, rest = line.partition(":")
        deps[module] = rest.split()
        by_name[_module_name(module)] = module
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        for dep in deps.get(module, []):
            visit(dep)
        order.append(module)

    for name in names:
        found = by_name.get(name.replace("-", "_"))
        if found is None:
            # Built into this kernel (=y): nothing to load.
            continue
        visit(found)
    return order


def build_root_disk(dest: Path, size_gib: int) -> Path:
    """Build the ext4 root file system as a qcow2 image, without root privileges."""
    with tempfile.TemporaryDirectory(prefix="nuages-tiny-", dir=dest.parent) as tmp:
        root = Path(tmp) / "root"
        populate_root(root)
        raw = Path(tmp) / "root.raw"
        _run(
            [
                "mke2fs",
                "-q",
                "-F",
                "-t",
                "ext4",
                "-L",
                "nuages-root",
                "-E",
                "root_owner=0:0",
                "-d",
                str(root),
                str(raw),
                f"{size_gib}G",
            ]
        )
        partial = dest.with_name(f".{dest.name}.partial")
        _run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(partial)])
        partial.replace(dest)
    return dest


def populate_root(root: Path) -> None:
    """Lay out the root file system of the guest in the directory ``root``."""
    for d in (
        "bin", "sbin", "usr/bin", "usr/sbin", "etc/dropbear", "etc/nuages-tiny",
        "etc/acpi/PWRF", "proc", "sys", "dev", "run", "tmp", "root", "home",
        "var/lib/nuages-tiny", "var/log", "mnt",
    ):  # fmt: skip
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "root").chmod(0o700)
    (root / "tmp").chmod(0o1777)

    shutil.copyfile(BUSYBOX, root / "bin/busybox")
    (root / "bin/busybox").chmod(0o755)
    applets = _run([str(BUSYBOX), "--list-full"]).split()
    for applet in applets:
        link = root / applet
        if applet == "bin/busybox" or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")

    for binary in (*DROPBEAR_BINARIES, *EXTRA_BINARIES):
        _copy_into(root, binary, binary, 0o755)
        for lib in shared_libraries(binary):
            _copy_into(root, lib, lib, 0o755)

    files = {
        "etc/inittab": (guest.INITTAB, 0o644),
        "etc/nuages-tiny/rcS": (guest.RCS, 0o755),
        "etc/nuages-tiny/rc.shutdown": (guest.RC_SHUTDOWN, 0o755),
        "etc/nuages-tiny/console-shell": (guest.CONSOLE_SHELL, 0o755),
        "etc/nuages-tiny/keys.awk": (guest.KEYS_AWK, 0o644),
        "etc/nuages-tiny/udhcpc.script": (guest.UDHCPC_SCRIPT, 0o755),
        "etc/acpi/PWRF/00000080": (guest.ACPI_POWER_BUTTON, 0o755),
        "etc/passwd": (guest.USERS_FILE, 0o644),
        "etc/shadow": (guest.ETC_SHADOW, 0o600),
        "etc/group": (guest.GROUP, 0o644),
        "etc/shells": (guest.SHELLS, 0o644),
        "etc/profile": (guest.PROFILE, 0o644),
        "etc/hosts": (guest.HOSTS, 0o644),
        "etc/hostname": ("nuages-tiny\n", 0o644),
        "etc/os-release": (guest.OS_RELEASE, 0o644),
    }
    for rel, (text, mode) in files.items():
        path = root / rel
        path.write_text(text)
        path.chmod(mode)


def shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the dynamic loader) ``binary`` needs, per ``ldd``."""
    libs: list[Path] = []
    for line in _run(["ldd", str(binary)]).splitlines():
        # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            libs.append(Path(match.group(1)))
    return libs


def _copy_into(root: Path, source: Path, path_in_guest: Path, mode: int) -> None:
    # Copy to the path the binary asks for (e.g. /lib64/ld-linux-x86-64.so.2), as a real
    # file: the guest has no merged-/usr symlinks.
    target = root / path_in_guest.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def _module_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("-", "_")


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{args[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(f"{' '.join(args)} failed: {exc.stderr.strip()}") from exc
    return done.stdout
