"""qcow2 overlays with qemu-img: create on a base, write, reinstall, grow, delete.

Guest writes are made with ``qemu-io`` (from qemu-utils), so no boot is needed.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from nuages.compute import disks
from nuages.kernel.errors import Conflict, NotFound, ValidationFailed

GIB = 1024**3


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
    return path


def qemu_io(disk: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", command, str(disk)], capture_output=True, text=True
    )


def pattern_present(disk: Path) -> bool:
    # 'read -P' verifies the pattern and reports "Pattern verification failed" otherwise.
    out = qemu_io(disk, "read -P 0xab 0 64k")
    return "verification failed" not in out.stdout + out.stderr


def test_overlay_on_base_is_private_and_thin(base: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "vm.qcow2"
    got = disks.create_overlay(base, overlay)
    assert got.backing_file == base.resolve()
    assert got.format == "qcow2"
    assert got.virtual_size == 1 * GIB
    assert got.actual_size < 1024 * 1024
    assert stat.S_IMODE(overlay.stat().st_mode) == 0o600
    with pytest.raises(Conflict):
        disks.create_overlay(base, overlay)
    with pytest.raises(NotFound):
        disks.create_overlay(tmp_path / "missing.qcow2", tmp_path / "other.qcow2")


def test_reinstall_drops_guest_writes_and_keeps_size(base: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "vm.qcow2"
    disks.create_overlay(base, overlay, size_gib=3)
    assert qemu_io(overlay, "write -P 0xab 0 64k").returncode == 0
    assert pattern_present(overlay)
    assert not pattern_present(base)  # writes land in the overlay only

    again = disks.reinstall(base, overlay)
    assert not pattern_present(overlay)
    assert again.virtual_size == 3 * GIB
    assert again.backing_file == base.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.qcow2", "vm.qcow2"]


def test_resize_grows_and_refuses_to_shrink(base: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "vm.qcow2"
    disks.create_overlay(base, overlay)
    assert disks.resize(overlay, 5).virtual_size == 5 * GIB
    assert disks.resize(overlay, 5).virtual_size == 5 * GIB  # same size: nothing to do
    with pytest.raises(ValidationFailed):
        disks.resize(overlay, 2)
    with pytest.raises(ValidationFailed):
        disks.create_overlay(base, tmp_path / "small.qcow2", size_gib=0)


def test_delete(base: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "vm.qcow2"
    disks.create_overlay(base, overlay)
    assert disks.delete(overlay) is True
    assert disks.delete(overlay) is False
    assert base.exists()


def test_standalone_copy_reports_its_progress(base: Path, tmp_path: Path) -> None:
    """Issue #19: a copy told to report gives (done, total) bytes that only grow, end at
    the disk's size, and the copy is the same as a quiet one."""
    overlay = tmp_path / "vm.qcow2"
    disks.create_overlay(base, overlay)
    assert qemu_io(overlay, "write -P 0xab 0 64M").returncode == 0
    seen: list[tuple[int, int]] = []
    disks.copy_standalone(overlay, tmp_path / "copy.qcow2", lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (GIB, GIB)
    assert {t for _, t in seen} == {GIB}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert (
        "verification failed" not in qemu_io(tmp_path / "copy.qcow2", "read -P 0xab 0 64k").stdout
    )


def test_standalone_copy_with_progress_fails_clearly(base: Path, tmp_path: Path) -> None:
    """A copy that qemu-img cannot write says why, as the quiet copy does."""
    nowhere = tmp_path / "missing-dir" / "copy.qcow2"
    with pytest.raises(disks.DiskError, match=r"qemu-img convert failed: .*missing-dir"):
        disks.copy_standalone(base, nowhere, lambda d, t: None)
