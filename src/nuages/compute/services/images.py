"""The image catalogue: the tiny guest built on the machine, imported cloud images.

Image files live under ``data_dir/images`` and are never changed once registered: VM
disks are qcow2 overlays on them (``nuages.compute.disks``). An imported image is
rewritten into a fresh standalone qcow2 first, and refused if it refers to any other
file (issue 17.4).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute import disks
from nuages.compute.models import Image
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.tinyimage import TinyImage, build_tiny_image, installed_kernel_version
from nuages.compute.tinyimage import load_tiny_image as _load_tiny
from nuages.history import service as history
from nuages.kernel.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate
from nuages.kernel.validation import SAFE_NAME_PATTERN

BOOT_MODES = ("direct-kernel", "disk")


def check_free_name(session: Session, name: str) -> None:
    """Refuse an unsafe or taken image name."""
    if not re.match(SAFE_NAME_PATTERN, name):
        raise ValidationFailed(f"image name {name!r}: lower-case letters, digits, hyphens")
    if session.execute(select(Image.id).where(Image.name == name)).first():
        raise AlreadyExists(f"an image named {name} exists")


def _staff(actor: Principal) -> None:
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("images are registered by the provider")


def register_image(
    session: Session,
    actor: Principal,
    *,
    name: str,
    os: str,
    boot_mode: str,
    base: Path,
    kernel: Path | None = None,
    initrd: Path | None = None,
    cmdline: str = "",
    client_id: str | None = None,
) -> Image:
    """Record an image whose files exist; its size and minimum disk are read from the
    base disk."""
    _staff(actor)
    check_free_name(session, name)
    if boot_mode not in BOOT_MODES:
        raise ValidationFailed(f"boot mode {boot_mode!r} is neither direct-kernel nor disk")
    if boot_mode == "direct-kernel" and kernel is None:
        raise ValidationFailed("a direct-kernel image needs a kernel")
    for path in (base, kernel, initrd):
        if path is not None and not (path.is_absolute() and path.is_file()):
            raise ValidationFailed(f"{path} is not an absolute path to a file")
    if client_id is not None and session.get(Client, client_id) is None:
        raise NotFound("no such client")
    try:
        probed = disks.info(base)
        if probed.format not in ("qcow2", "raw"):
            raise ValidationFailed(f"{base} is {probed.format}, not qcow2 or raw")
        # From here on the format is stated, never probed again (issue 17.4).
        info = disks.check_standalone(base, probed.format)
    except disks.DiskError as exc:
        raise ValidationFailed(f"{base}: {exc}") from None
    image = Image(
        name=name,
        os=os,
        boot_mode=boot_mode,
        disk_format=info.format,
        base_path=str(base),
        kernel_path=str(kernel) if kernel else None,
        initrd_path=str(initrd) if initrd else None,
        cmdline=cmdline,
        min_disk_gib=max(1, math.ceil(info.virtual_size / disks.GIB)),
        size_bytes=info.virtual_size,
        client_id=client_id,
    )
    session.add(image)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="image",
        object_id=image.id,
        action="image.register",
        params={"name": name, "os": os, "boot_mode": boot_mode, "base": str(base)},
        client_id=client_id,
    )
    return image


def build_tiny(runtime: ComputeRuntime, kernel_version: str | None = None) -> TinyImage:
    """Build (or reuse) the tiny guest under ``data_dir/images`` (no database)."""
    version = kernel_version or installed_kernel_version()
    for path in (runtime.settings.data_dir, runtime.images_dir):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)  # QEMU's user reads the files below
    dest = runtime.images_dir / f"tiny-{version}"
    return _load_tiny(dest, kernel_version=version) or build_tiny_image(
        dest, kernel_version=version
    )


def register_tiny(
    session: Session, actor: Principal, tiny: TinyImage, name: str = "nuages-tiny"
) -> Image:
    """Record a built tiny image (direct kernel boot)."""
    return register_image(
        session,
        actor,
        name=name,
        os="nuages-tiny",
        boot_mode="direct-kernel",
        base=tiny.disk,
        kernel=tiny.kernel,
        initrd=tiny.initrd,
        cmdline=tiny.cmdline,
    )


def copy_cloud_image(runtime: ComputeRuntime, source: Path, name: str) -> Path:
    """Rewrite a qcow2 cloud image into a fresh standalone qcow2 under
    ``data_dir/images`` (no database); the platform then owns the file, read-only.

    Refused (issue 17.4): anything but qcow2, a backing file of any kind, an external
    data file (it would hand a host file to the guest), encryption, qcow2 features
    nuages does not know (``disks.import_qcow2``).
    """
    if not re.match(SAFE_NAME_PATTERN, name):
        raise ValidationFailed(f"image name {name!r}: lower-case letters, digits, hyphens")
    for path in (runtime.settings.data_dir, runtime.images_dir):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
    dest = runtime.images_dir / f"{name}.qcow2"
    if dest.exists():
        raise AlreadyExists(f"{dest} exists")
    try:
        disks.import_qcow2(source, dest)
    except disks.DiskError as exc:
        raise ValidationFailed(f"{source}: {exc}") from None
    return dest


def _visible(actor: Principal, image: Image) -> bool:
    return actor.is_staff or image.client_id is None or image.client_id == actor.client_id


def get_image(session: Session, actor: Principal, image_id: str) -> Image:
    """An image the caller may use, else 404."""
    actor.require(Scope.READ)
    image = session.get(Image, image_id)
    if image is None or not _visible(actor, image):
        raise NotFound("no such image")
    return image


def list_images(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Image], int]:
    """The public catalogue plus the client's own images."""
    actor.require(Scope.READ)
    stmt = select(Image).where(Image.active.is_(True)).order_by(Image.name, Image.id)
    if not actor.is_staff:
        stmt = stmt.where(or_(Image.client_id.is_(None), Image.client_id == actor.client_id))
    return paginate(session, stmt, page, per_page)


def find_for_vm(session: Session, client_id: str, ref: str) -> Image:
    """The active image named or identified by ``ref`` that ``client_id`` may use."""
    image = session.execute(
        select(Image).where(or_(Image.id == ref, Image.name == ref), Image.active.is_(True))
    ).scalar_one_or_none()
    if image is None or image.client_id not in (None, client_id):
        raise ValidationFailed(f"image: no image {ref!r}")
    return image
