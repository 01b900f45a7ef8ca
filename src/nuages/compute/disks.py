"""VM disks as qcow2 overlays on base images, handled with ``qemu-img``.

A VM's disk is a thin qcow2 file whose backing file is the read-only base image: creation
is instant and costs only what the guest writes. Reinstalling is recreating the overlay
(the guest's writes are dropped, the base is untouched); growing is ``qemu-img resize``
while the domain is shut off (the guest grows its file system at boot).

The hypervisor driver never touches these files; services call this module around the
driver's calls (create the overlay before ``create``, delete it after ``undefine``).

A qcow2 file can make QEMU open other host files: a backing file, or an external data
file (``data_file=/etc/shadow,data_file_raw=on`` hands that file to the guest as its
disk). So (issue 17.4): formats are always stated, never probed, once a file is ours
(``-f``/``-F`` on every call, the format in the domain XML); an imported image must be a
standalone qcow2 using only known features and is rewritten by ``qemu-img convert`` into
a fresh file (``import_qcow2``); and every disk nuages attaches is checked first
(``check_overlay``): a qcow2 whose only outside reference is nuages' own base image, in
the format nuages registered, the base itself standalone (``check_standalone``).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nuages.kernel.errors import Conflict, NotFound, ValidationFailed

GIB = 1024**3
# Overlays hold a client's data: readable by their owner only. libvirt's dynamic
# ownership hands them to the QEMU user while the domain runs.
OVERLAY_MODE = 0o600


# qcow2 features (``format-specific.data`` of ``qemu-img info``) a disk may use; any
# other one (an external data file, encryption, a feature newer than this list) is
# refused rather than guessed about.
QCOW2_KNOWN = frozenset(
    {"compat", "compression-type", "lazy-refcounts", "refcount-bits", "corrupt", "extended-l2",
     "bitmaps"}
)  # fmt: skip
# qemu-img reading a crafted file must not hang a job (a data file may name a FIFO).
QEMU_IMG_TIMEOUT_S = 120


class DiskError(RuntimeError):
    """``qemu-img`` failed on a disk for a reason that is not the caller's input."""


class UnsafeDisk(ValidationFailed):
    """A disk file would make QEMU read something besides itself (and nuages' base)."""

    slug = "unsafe-disk"
    title = "The disk file refers to other files"


@dataclass(frozen=True)
class DiskInfo:
    """What ``qemu-img info`` says about a disk file."""

    path: Path
    format: str
    virtual_size: int  # bytes the guest sees
    actual_size: int  # bytes used on the host
    backing_file: Path | None
    backing_format: str | None = None
    # Everything else qemu-img says: qcow2 features, an external data file, encryption.
    features: dict[str, object] = field(default_factory=dict)
    encrypted: bool = False

    @property
    def data_file(self) -> str | None:
        """The external data file a qcow2 keeps its guest data in, if any."""
        value = self.features.get("data-file")
        return str(value) if value is not None else None

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
    base_size = info(base, base_format).virtual_size
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
        found = check_overlay(dest, base, base_format)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return found


def reinstall(base: Path, dest: Path, *, base_format: str = "qcow2") -> DiskInfo:
    """Recreate ``dest`` as a fresh overlay on ``base``, keeping its virtual size.

    Everything the guest wrote is gone. The domain must be shut off.
    """
    size = info(dest, "qcow2").virtual_size if dest.exists() else None
    fresh = dest.with_name(f".{dest.name}.reinstall")
    fresh.unlink(missing_ok=True)
    size_gib = -(-size // GIB) if size is not None else None
    create_overlay(base, fresh, size_gib=size_gib, base_format=base_format)
    # Renaming over the old file makes the swap atomic: no moment without a disk.
    fresh.replace(dest)
    return info(dest, "qcow2")


def resize(disk: Path, size_gib: int) -> DiskInfo:
    """Grow ``disk`` to ``size_gib`` GiB. Shrinking is refused (it loses data).

    The domain must be shut off; the guest grows its file system at next boot.
    """
    current = info(disk, "qcow2")  # VM disks are qcow2 overlays, never probed
    if size_gib * GIB < current.virtual_size:
        raise ValidationFailed(
            f"disk {disk} is {current.virtual_gib:.1f} GiB; shrinking to {size_gib} GiB "
            "would lose data"
        )
    if size_gib * GIB > current.virtual_size:
        _qemu_img("resize", "-q", "-f", "qcow2", str(disk), f"{size_gib}G")
    return info(disk, "qcow2")


def delete(disk: Path) -> bool:
    """Delete the disk file; True if it existed. Never call it on a base image in use."""
    try:
        disk.unlink()
    except FileNotFoundError:
        return False
    return True


def info(disk: Path, fmt: str | None = None) -> DiskInfo:
    """Read a disk file's format, sizes, backing file and features.

    ``fmt`` states the format (``-f``): give it for every file nuages owns, so that a
    raw disk whose bytes look like a qcow2 header is never read as one. Only a file
    being imported is probed (``fmt=None``).
    """
    if not disk.exists():
        raise NotFound(f"disk {disk} does not exist")
    # -U: read even while a running QEMU holds the image lock.
    args = ["info", "-U", "--output=json"] + (["-f", fmt] if fmt else []) + [str(disk)]
    data = json.loads(_qemu_img(*args))
    backing = data.get("full-backing-filename") or data.get("backing-filename")
    specific = data.get("format-specific") or {}
    return DiskInfo(
        path=disk,
        format=str(data["format"]),
        virtual_size=int(data["virtual-size"]),
        actual_size=int(data.get("actual-size", 0)),
        backing_file=Path(backing) if backing else None,
        backing_format=data.get("backing-filename-format"),
        features=dict(specific.get("data") or {}) if specific.get("type") == "qcow2" else {},
        encrypted=bool(data.get("encrypted", False)),
    )


def _refuse_outside_references(found: DiskInfo, what: str) -> None:
    """Refuse a data file, encryption, a corrupt image and unknown qcow2 features."""
    if found.data_file is not None:
        raise UnsafeDisk(f"{what} keeps its data in another file ({found.data_file}); refused")
    if found.encrypted or "encrypt" in found.features:
        raise UnsafeDisk(f"{what} is encrypted; import an unencrypted image")
    unknown = sorted(set(found.features) - QCOW2_KNOWN)
    if unknown:
        raise UnsafeDisk(f"{what} uses qcow2 features nuages does not accept: {unknown}")
    if found.features.get("corrupt"):
        raise UnsafeDisk(f"{what} is marked corrupt")


def check_standalone(disk: Path, fmt: str) -> DiskInfo:
    """A base image: ``fmt`` as stated, no backing file, no data file, known features."""
    found = info(disk, fmt)
    if found.format != fmt:  # pragma: no cover - qemu-img honours -f
        raise UnsafeDisk(f"{disk} is {found.format}, registered as {fmt}")
    if found.backing_file is not None:
        raise UnsafeDisk(f"{disk} has a backing file ({found.backing_file}); refused")
    _refuse_outside_references(found, str(disk))
    return found


def check_overlay(disk: Path, base: Path, base_format: str) -> DiskInfo:
    """A VM disk before it is attached: a qcow2 whose backing file is exactly nuages'
    base image in its registered format, nothing else outside itself; the base
    standalone. Raises ``UnsafeDisk`` otherwise."""
    found = info(disk, "qcow2")
    expected = base.resolve()
    if found.backing_file is None or found.backing_file.resolve() != expected:
        raise UnsafeDisk(
            f"VM disk {disk} is backed by {found.backing_file}, not the image {expected}"
        )
    if found.backing_format != base_format:
        raise UnsafeDisk(
            f"VM disk {disk} reads its base as {found.backing_format}, not {base_format}"
        )
    _refuse_outside_references(found, f"VM disk {disk}")
    check_standalone(base, base_format)
    return found


def import_qcow2(source: Path, dest: Path) -> DiskInfo:
    """Rewrite a qcow2 someone gave us into a fresh standalone qcow2 at ``dest``.

    ``source`` must be a qcow2 (probed: it is not ours yet) without backing file, data
    file, encryption or unknown features; ``qemu-img convert`` then writes only its
    guest-visible data into ``dest`` (nothing of the source's header survives), checked
    again. If this raises, ``dest`` does not exist.
    """
    try:
        probed = info(source)
    except DiskError as exc:
        raise ValidationFailed(f"{source} cannot be read as a disk image: {exc}") from None
    if probed.format != "qcow2":
        raise ValidationFailed(f"{source} is {probed.format}; import a qcow2 cloud image")
    try:
        check_standalone(source, "qcow2")
    except DiskError as exc:
        raise ValidationFailed(f"{source}: {exc}") from None
    if dest.exists():
        raise Conflict(f"{dest} exists")
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _qemu_img("convert", "-q", "-f", "qcow2", "-O", "qcow2", str(source), str(partial))
        check_standalone(partial, "qcow2")
        partial.chmod(0o644)
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return info(dest, "qcow2")


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(
            ["qemu-img", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=QEMU_IMG_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise DiskError(f"qemu-img {args[0]} took over {QEMU_IMG_TIMEOUT_S} s") from exc
    except FileNotFoundError as exc:
        raise DiskError("qemu-img is not installed (Debian package qemu-utils)") from exc
    except subprocess.CalledProcessError as exc:
        raise DiskError(f"qemu-img {args[0]} failed: {exc.stderr.strip()}") from exc
    return done.stdout
