"""Backup chains on real qcow2 files (issue 13): an increment is checked against its
parent, a chain is read whole, and a restore writes the chain's content into a fresh
overlay of the image, zeros included."""

from __future__ import annotations

from pathlib import Path

import pytest

from nuages.compute import disks, qemu_img
from tests.compute.test_snapshots import qemu_io

MIB = 2**20


def _reads(disk: Path, byte: int, offset: str, length: str = "64k") -> bool:
    done = qemu_io(disk, f"read -P {byte} {offset} {length}")
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


@pytest.fixture
def chain(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An image (0x11 over its first MiB), a VM disk on it that wrote 0xaa at 0 and
    zeroed 64k-128k (over the image's data), its full copy, and an increment on that
    copy holding 0xbb at 1 MiB (the clusters the guest changed since)."""
    base = tmp_path / "base.qcow2"
    qemu_img.run("create", "-q", "-f", "qcow2", str(base), "4M")
    assert qemu_io(base, "write -P 0x11 0 1M").returncode == 0
    vm_disk = tmp_path / "disk.qcow2"
    disks.create_overlay(base, vm_disk, base_format="qcow2")
    assert qemu_io(vm_disk, "write -P 0xaa 0 64k").returncode == 0
    assert qemu_io(vm_disk, "write -z 64k 64k").returncode == 0
    target = tmp_path / "target"
    target.mkdir()
    full = target / "full.qcow2"
    disks.copy_standalone(vm_disk, full)
    inc = target / "inc.qcow2"
    disks.create_increment_target(inc, full, disks.info(full, "qcow2").virtual_size)
    assert qemu_io(inc, "write -P 0xbb 1M 64k").returncode == 0
    return base, full, inc


def test_increment_is_checked_against_its_parent(chain: tuple[Path, Path, Path]) -> None:
    """An increment is backed by exactly its parent, named relatively (the target may be
    mounted elsewhere); the chain reads top first down to the standalone full copy."""
    base, full, inc = chain
    found = disks.check_increment(inc, full)
    assert found.backing_file is not None and found.backing_file.resolve() == full.resolve()
    assert "full.qcow2" == disks.info(inc, "qcow2").backing_file.name  # type: ignore[union-attr]
    assert [c.path for c in disks.check_chain(inc)] == [inc, full]
    with pytest.raises(disks.UnsafeDisk):
        disks.check_increment(inc, base)


def test_a_chain_reaching_outside_its_directory_is_refused(
    tmp_path: Path, chain: tuple[Path, Path, Path]
) -> None:
    """A backup whose backing file lies outside its directory (the image, another
    client's file) is never read back."""
    base, _full, _inc = chain
    rogue = tmp_path / "target" / "rogue.qcow2"
    qemu_img.run("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(rogue))
    with pytest.raises(disks.UnsafeDisk, match="outside its chain"):
        disks.check_chain(rogue)


def test_regression_restore_of_an_increment_holds_its_whole_chain(
    tmp_path: Path, chain: tuple[Path, Path, Path]
) -> None:
    """Restoring used ``qemu-img convert -B image``, which copies only the clusters the
    source's top file holds: an increment restored lost what its full copy held (0xaa
    at 0 read the image's 0x11), and a full copy's zeros over the image's data read
    that data back. Now the restored disk is an overlay of the image holding exactly
    the chain's content (0xaa, zeros, the image's 0x11, the increment's 0xbb)."""
    base, full, inc = chain
    for source in (inc, full):
        dest = tmp_path / f"restored-{source.stem}.qcow2"
        disks.restore_overlay(source, base, dest, base_format="qcow2", size_gib=1)
        assert _reads(dest, 0xAA, "0")
        assert _reads(dest, 0x00, "64k")
        assert _reads(dest, 0x11, "128k", "896k")
        assert _reads(dest, 0xBB, "1M") == (source == inc)
        found = disks.check_overlay(dest, base, "qcow2")
        assert found.virtual_size == disks.GIB
    (inc.parent / "full.qcow2").unlink()  # the restored disks depend on no backup file
    assert _reads(tmp_path / "restored-inc.qcow2", 0xBB, "1M")
