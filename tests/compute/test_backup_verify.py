"""A copy's verification (issue 13): the SHA-256 is the file's whatever computes it,
and a copy that fails its check is removed even while its hash is being read."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import blake3
import pytest

from nuages.compute import disks


def test_sha256_of_is_the_files_sha256_by_openssl_or_hashlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "blob"
    data = os.urandom(9 << 20) + b"tail"  # more than two 4 MiB blocks, a short last one
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert disks.sha256_of(path) == expected
    monkeypatch.setattr(disks.shutil, "which", lambda _name: None)
    assert disks.sha256_of(path) == expected


def test_verify_copy_hashes_a_good_copy_and_drops_a_bad_one(tmp_path: Path) -> None:
    partial, dest = tmp_path / ".c.qcow2.partial", tmp_path / "c.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(partial), "64M"], check=True)
    found = disks.verify_copy(partial, dest)
    assert found.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert not partial.exists() and found.virtual_bytes == 64 << 20
    bad = tmp_path / ".d.qcow2.partial"
    bad.write_bytes(b"not a qcow2" * 1000)
    with pytest.raises(disks.DiskError):
        disks.verify_copy(bad, tmp_path / "d.qcow2")
    assert not bad.exists() and not (tmp_path / "d.qcow2").exists()


def test_blake3_of_is_the_files_blake3(tmp_path: Path) -> None:
    """Backups' checksum (issue 13 "its checksum"): the BLAKE3 of the file's bytes, the
    same as the reference implementation's over the whole file; an empty file too."""
    data = os.urandom(3 << 20) + b"tail"
    path = tmp_path / "f"
    path.write_bytes(data)
    assert disks.blake3_of(path) == blake3.blake3(data).hexdigest()
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert disks.blake3_of(empty) == blake3.blake3(b"").hexdigest()
    partial, dest = tmp_path / ".c.qcow2.partial", tmp_path / "c.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(partial), "64M"], check=True)
    found = disks.verify_copy(partial, dest, algorithm="blake3")
    assert found.checksum == f"blake3:{disks.blake3_of(found.path)}" and found.sha256 is None
