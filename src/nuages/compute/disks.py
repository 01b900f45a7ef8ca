"""VM disks as qcow2 overlays on base images, handled with ``qemu-img``.

A VM's disk is a thin qcow2 file whose backing file is the read-only base image: creation
is instant and costs only what the guest writes. Reinstalling is recreating the overlay
(the guest's writes are dropped, the base is untouched); growing is ``qemu-img resize``
while the domain is shut off (the guest grows its file system at boot).

The hypervisor driver never touches these files; services call this module around the
driver's calls (create the overlay before ``create``, delete it after ``undefine``).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nuages.kernel.errors import Conflict, NotFound, ValidationFailed

GIB = 1024**3
# Overlays hold a client's data: readable by their owner only. libvirt's dynamic
# ownership hands them to the QEMU user while the domain runs.
OVERLAY_MODE = 0o600


class DiskError(RuntimeError):
    """``qemu-img`` failed on a disk for a reason that is not the caller's input."""


@dataclass(frozen=True)
class DiskInfo:
    """What ``qemu-img info`` says about a disk file."""

    path: Path
    format: str
    virtual_size: int  # bytes the guest sees
    actual_size: int  # bytes used on the host
    backing_file: Path | None

    @property
    def virtual_gib(self) -> float:
        """The size the guest sees, in GiB."""
        return self.virtual_size / GIB


def create_overlay(
    base: Path, dest: Path, *, size_gib: int | None = None, base_format: str = "qcow2"
) -> DiskInfo:
    """Create the qcow2 overlay ``dest`` on ``base``, optionally larger than the base.

    Raises ``Conflict`` if ``dest`` exists (reinstall with ``reinstall``), ``NotFound``
    if ``base`` does not. If this raises, ``dest`` does not exist.
    """
    if dest.exists():
        raise Conflict(f"disk {dest} already exists")
    if not base.exists():
        raise NotFound(f"base image {base} does not exist")
    base_size = info(base).virtual_size
    if size_gib is not None and size_gib * GIB < base_size:
        raise ValidationFailed(
            f"a {size_gib} GiB disk cannot hold the {base_size / GIB:.1f} GiB base image"
        )
    args = ["create", "-q", "-f", "qcow2", "-b", str(base.resolve()), "-F", base_format]
    args.append(str(dest))
    if size_gib is not None:
        args.append(f"{size_gib}G")
    try:
        _qemu_img(*args)
        dest.chmod(OVERLAY_MODE)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return info(dest)


def reinstall(base: Path, dest: Path, *, base_format: str = "qcow2") -> DiskInfo:
    """Recreate ``dest`` as a fresh overlay on ``base``, keeping its virtual size.

    Everything the guest wrote is gone. The domain must be shut off.
    """
    size = info(dest).virtual_size if dest.exists() else None
    fresh = dest.with_name(f".{dest.name}.reinstall")
    fresh.unlink(missing_ok=True)
    size_gib = -(-size // GIB) if size is not None else None
    create_overlay(base, fresh, size_gib=size_gib, base_format=base_format)
    # Renaming over the old file makes the swap atomic: no moment without a disk.
    fresh.replace(dest)
    return info(dest)


def resize(disk: Path, size_gib: int) -> DiskInfo:
    """Grow ``disk`` to ``size_gib`` GiB. Shrinking is refused (it loses data).

    The domain must be shut off; the guest grows its file system at next boot.
    """
    current = info(disk)
    if size_gib * GIB < current.virtual_size:
        raise ValidationFailed(
            f"disk {disk} is {current.virtual_gib:.1f} GiB; shrinking to {size_gib} GiB "
            "would lose data"
        )
    if size_gib * GIB > current.virtual_size:
        _qemu_img("resize", "-q", "-f", current.format, str(disk), f"{size_gib}G")
    return info(disk)


def delete(disk: Path) -> bool:
    """Delete the disk file; True if it existed. Never call it on a base image in use."""
    try:
        disk.unlink()
    except FileNotFoundError:
        return False
    return True


def info(disk: Path) -> DiskInfo:
    """Read a disk file's format, sizes and backing file."""
    if not disk.exists():
        raise NotFound(f"disk {disk} does not exist")
    # -U: read even while a running QEMU holds the image lock.
    data = json.loads(_qemu_img("info", "-U", "--output=json", str(disk)))
    backing = data.get("full-backing-filename") or data.get("backing-filename")
    return DiskInfo(
        path=disk,
        format=str(data["format"]),
        virtual_size=int(data["virtual-size"]),
        actual_size=int(data.get("actual-size", 0)),
        backing_file=Path(backing) if backing else None,
    )


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise DiskError("qemu-img is not installed (Debian package qemu-utils)") from exc
    except subprocess.CalledProcessError as exc:
        raise DiskError(f"qemu-img {args[0]} failed: {exc.stderr.strip()}") from exc
    return done.stdout
