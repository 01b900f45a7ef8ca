"""Benchmark: a full backup of a running VM's disk through nuages next to ``qemu-img
convert`` of the same disk, in the same run (issue 13).

A tiny guest boots on a 2 GiB overlay into which 1 GiB was written beforehand (past
the guest's file system, so the guest is undisturbed); nuages copies it live through the
driver (libvirt's backup API) and verifies it (``qemu-img check`` + SHA-256, what a
backup costs), and ``qemu-img convert -U`` copies the same running disk, once the
guest has booted (a TCG boot takes a core), alternated over ``ROUNDS`` rounds. Prints
each round, the medians' MiB/s and the ratios. Incremental backups are not implemented
yet: that line says so.

    .venv/bin/python bench/backup.py
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from nuages.compute import disks
from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.hypervisor import DirectKernelBoot, DomainSpec, UserNet
from nuages.compute.seed import SeedContent, build_seed_iso
from nuages.compute.tinyimage import build_tiny_image, load_tiny_image

MIB = 2**20
ROUNDS = 3  # alternated; medians reported
BOOT_S = 20.0  # the guest boots before any copy


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="nuages-bench-backup-"))
    work.chmod(0o755)
    image = load_tiny_image(work / "tiny") or build_tiny_image(work / "tiny")
    vm_id = uuid.uuid4()
    disk = work / "disk.qcow2"
    disks.create_overlay(image.disk, disk, size_gib=2)
    # 1 GiB of data in the second GiB, past the base's 1 GiB file system.
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1G 1G", str(disk)],
        check=True,
        capture_output=True,
    )
    seed = build_seed_iso(work / "seed.iso", SeedContent(instance_id=str(vm_id), hostname="bench"))
    hv = LibvirtHypervisor("qemu:///system")
    spec = DomainSpec(
        name=f"nuages-bench-{vm_id.hex[:8]}",
        uuid=vm_id,
        vcpus=1,
        memory_mib=256,
        disk=disk,
        seed_iso=seed,
        boot=DirectKernelBoot(image.kernel, image.initrd, image.cmdline),
        network=UserNet(ssh_port=_port()),
    )
    hv.create(spec)
    rounds: list[tuple[float, float, float]] = []
    try:
        # The tiny guest boots under TCG for ~10 s, taking a core: let it settle so
        # neither copy runs beside a boot, then alternate the two copies.
        time.sleep(BOOT_S)
        used = disks.info(disk, "qcow2").actual_size
        for n in range(ROUNDS):
            convert_dest = work / f"convert-{n}.qcow2"
            started = time.monotonic()
            subprocess.run(
                [
                    "qemu-img",
                    "convert",
                    "-U",
                    "-f",
                    "qcow2",
                    "-O",
                    "qcow2",
                    str(disk),
                    str(convert_dest),
                ],
                check=True,
            )
            convert_s = time.monotonic() - started
            convert_dest.unlink()
            dest = work / f"backup-{n}.qcow2"
            partial = disks.partial_of(dest)
            t0 = time.monotonic()
            disks.create_target(partial, disks.info(disk, "qcow2").virtual_size)
            hv.copy_disk(vm_id, disk, partial, 3600)
            copied = time.monotonic()
            found = disks.verify_copy(partial, dest)
            nuages_s = time.monotonic() - t0
            dest.unlink()
            rounds.append((nuages_s, copied - t0, convert_s))
            print(
                f"round {n + 1}: nuages {nuages_s:.1f} s (copy {copied - t0:.1f} s), "
                f"convert {convert_s:.1f} s"
            )
    finally:
        hv.undefine(vm_id)
        hv.close()
    mib = used / MIB
    nuages_s = statistics.median(r[0] for r in rounds)
    copy_s = statistics.median(r[1] for r in rounds)
    convert_s = statistics.median(r[2] for r in rounds)
    print(
        f"disk: 2 GiB virtual, {mib:.0f} MiB allocated; "
        f"backup file {found.size_bytes / MIB:.0f} MiB; medians of {ROUNDS} rounds"
    )
    print(
        f"nuages live backup: {nuages_s:.1f} s (copy {copy_s:.1f} s, then check + SHA-256), "
        f"{mib / nuages_s:.0f} MiB/s"
    )
    print(f"qemu-img convert:                 {convert_s:.1f} s, {mib / convert_s:.0f} MiB/s")
    print(f"ratio nuages / convert (throughput): {convert_s / nuages_s:.2f} (goal >= 0.8)")
    print(f"ratio of the copy alone (no verify):  {convert_s / copy_s:.2f}")
    print("incremental: not implemented (full copies only)")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
