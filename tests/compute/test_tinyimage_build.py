"""The tiny image's parts, checked without booting: initramfs, root disk, key parser."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from nuages.compute.seed import cloud_config
from nuages.compute.tinyimage import (
    MODULES,
    TinyImage,
    build_probe_initramfs,
    installed_kernel_version,
    module_load_order,
)
from nuages.compute.tinyimage import guest as guest_files


def cpio_listing(initrd: Path) -> list[str]:
    """Entry names as the system's own ``cpio`` reads them (an independent reader)."""
    done = subprocess.run(
        ["cpio", "-it", "--quiet"],
        input=gzip.decompress(initrd.read_bytes()),
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().split()


def debugfs_cat(disk: Path, path: str, tmp_path: Path) -> bytes:
    raw = tmp_path / "root.raw"
    if not raw.exists():
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)], check=True)
    done = subprocess.run(
        ["debugfs", "-R", f"cat {path}", str(raw)], capture_output=True, check=True
    )
    return done.stdout


def test_module_order_puts_dependencies_first() -> None:
    modules_dir = Path("/lib/modules") / installed_kernel_version()
    order = [Path(p).name for p in module_load_order(modules_dir, MODULES)]
    assert len(order) == len(set(order))
    for before, after in [
        ("jbd2.ko", "ext4.ko"),
        ("mbcache.ko", "ext4.ko"),
        ("virtio.ko", "virtio_blk.ko"),
        ("virtio_ring.ko", "virtio_pci.ko"),
        ("cdrom.ko", "isofs.ko"),
        ("scsi_mod.ko", "sr_mod.ko"),
        ("libata.ko", "ata_piix.ko"),
    ]:
        assert order.index(before) < order.index(after), (before, after)
    assert "crc32c_generic.ko" in order  # ext4 cannot ask for it on demand


def test_initramfs_holds_init_busybox_console_and_modules(tiny_image: TinyImage) -> None:
    names = cpio_listing(tiny_image.initrd)
    assert {"init", "bin/busybox", "dev/console", "etc/modules.order"} <= set(names)
    assert any(n.endswith("/ext4.ko") for n in names)
    assert any(n.endswith("/virtio_net.ko") for n in names)


def test_probe_initramfs_prints_marker_and_powers_off(tmp_path: Path) -> None:
    initrd = build_probe_initramfs(tmp_path / "probe.gz")
    assert set(cpio_listing(initrd)) >= {"init", "bin/busybox", "dev/console"}
    assert guest_files.PROBE_MARKER in guest_files.PROBE_INIT
    assert "poweroff -f" in guest_files.PROBE_INIT


@pytest.mark.skipif(shutil.which("debugfs") is None, reason="e2fsprogs' debugfs missing")
def test_root_disk_layout(tiny_image: TinyImage, tmp_path: Path) -> None:
    assert tiny_image.metadata["boot_mode"] == "direct-kernel"
    assert tiny_image.metadata["min_disk_gib"] >= 1
    inittab = debugfs_cat(tiny_image.disk, "/etc/inittab", tmp_path)
    assert inittab.decode() == guest_files.INITTAB
    passwd = debugfs_cat(tiny_image.disk, "/etc/passwd", tmp_path)
    assert passwd.startswith(b"root:x:0:0:")
    # dropbear and its loader are really in the image (not just named in inittab).
    assert debugfs_cat(tiny_image.disk, "/usr/sbin/dropbear", tmp_path).startswith(b"\x7fELF")
    loader = debugfs_cat(tiny_image.disk, "/lib64/ld-linux-x86-64.so.2", tmp_path)
    assert loader.startswith(b"\x7fELF")


def run_keys_awk(text: str, tmp_path: Path) -> list[str]:
    """Run the guest's key parser with the host's busybox awk (the guest's own awk)."""
    program = tmp_path / "keys.awk"
    program.write_text(guest_files.KEYS_AWK)
    done = subprocess.run(
        ["busybox", "awk", "-f", str(program)],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_guest_key_parser_reads_generated_cloud_config(tmp_path: Path) -> None:
    keys = ["ssh-ed25519 AAAAC3Nza1 a@b", "ssh-rsa AAAAB3Nza2 c@d"]
    lines = run_keys_awk(cloud_config("h", keys), tmp_path)
    assert lines == [f'"{k}"' for k in keys]  # the guest strips the quotes after awk


def test_guest_key_parser_reads_nested_user_lists(tmp_path: Path) -> None:
    text = (
        "#cloud-config\n"
        "users:\n"
        "  - name: admin\n"
        "    ssh_authorized_keys:\n"
        "      - ssh-ed25519 AAAAkey1 one\n"
        "      # a comment\n"
        "      - ssh-ed25519 AAAAkey2 two\n"
        "  - name: other\n"
        "    shell: /bin/sh\n"
        "packages:\n"
        "  - curl\n"
    )
    assert run_keys_awk(text, tmp_path) == ["ssh-ed25519 AAAAkey1 one", "ssh-ed25519 AAAAkey2 two"]
