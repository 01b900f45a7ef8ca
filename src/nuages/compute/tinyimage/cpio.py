"""A writer of ``newc`` cpio archives, the format the Linux kernel unpacks as initramfs.

Written in Python rather than calling ``cpio`` because an initramfs needs entries an
unprivileged builder cannot create on disk (``/dev/console``, files owned by root): here
ownership and device numbers are simply bytes in a header.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field
from pathlib import Path

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


@dataclass
class CpioArchive:
    """An in-memory list of initramfs entries, all owned by root."""

    _chunks: list[bytes] = field(default_factory=list)
    _next_ino: int = 1
    _dirs: set[str] = field(default_factory=set)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        """Add a directory (and its missing parents)."""
        path = _clean(path)
        if path in self._dirs or not path:
            return
        parent = path.rpartition("/")[0]
        if parent:
            self.add_dir(parent)
        self._dirs.add(path)
        self._entry(path, stat.S_IFDIR | mode, b"", nlink=2)

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file with ``data`` as its content."""
        path = _clean(path)
        self._parent(path)
        self._entry(path, stat.S_IFREG | mode, data)

    def add_host_file(self, path: str, source: Path, mode: int | None = None) -> None:
        """Add a copy of the host file ``source`` (its mode kept unless given)."""
        data = source.read_bytes()
        self.add_file(path, data, mode if mode is not None else source.stat().st_mode & 0o7777)

    def add_symlink(self, path: str, target: str) -> None:
        """Add a symbolic link ``path`` -> ``target``."""
        path = _clean(path)
        self._parent(path)
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def add_char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node (e.g. ``/dev/console`` = 5, 1)."""
        path = _clean(path)
        self._parent(path)
        self._entry(path, stat.S_IFCHR | mode, b"", rdev=(major, minor))

    def to_bytes(self) -> bytes:
        """The archive, terminated by the trailer entry (uncompressed)."""
        trailer = _header_and_name(_TRAILER, 0, 0, 0, 1, (0, 0), 0)
        return b"".join([*self._chunks, trailer])

    def write_gzip(self, dest: Path) -> None:
        """Write the archive gzip-compressed (what the kernel expects from an initrd)."""
        # mtime=0 keeps the output identical for identical inputs.
        dest.write_bytes(gzip.compress(self.to_bytes(), compresslevel=6, mtime=0))

    def _parent(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent:
            self.add_dir(parent)

    def _entry(
        self, path: str, mode: int, data: bytes, nlink: int = 1, rdev: tuple[int, int] = (0, 0)
    ) -> None:
        ino = self._next_ino
        self._next_ino += 1
        self._chunks.append(_header_and_name(path, ino, mode, len(data), nlink, rdev, 0))
        self._chunks.append(data + b"\0" * (-len(data) % 4))


def _header_and_name(
    name: str, ino: int, mode: int, size: int, nlink: int, rdev: tuple[int, int], mtime: int
) -> bytes:
    raw_name = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], len(raw_name), 0]
    header = _MAGIC + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + raw_name
    return out + b"\0" * (-len(out) % 4)


def _clean(path: str) -> str:
    # Entries are relative to the archive root ("bin/busybox", not "/bin/busybox").
    return path.strip("/")
