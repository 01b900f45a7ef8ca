"""Benchmark: full and incremental backups of a running VM's disk through nuages next to
``qemu-img convert`` of the same disk, in the same run (issue 13).

A tiny guest boots on a 2 GiB overlay into which 1 GiB was written beforehand (past
the guest's file system, so the guest is undisturbed). Each round, alternating which
goes first:

- ``qemu-img convert -U`` copies the running disk (the baseline);
- nuages takes a **full** backup as the worker does: libvirt's backup API starting a
  checkpoint, then ``qemu-img check`` + BLAKE3 checksum (what a backup costs);
- 100 MiB more are written through QEMU (the HMP ``qemu-io`` command, so the disk's
  dirty bitmap sees them, as it sees a guest's writes);
- nuages takes the **incremental** backup since that checkpoint: a qcow2 on the full
  one's file holding the changed clusters, verified the same way.

Every copy starts after ``sync`` (no earlier copy's writes still going to the disk);
each ends with its file on the disk (convert flushes on close, nuages fsyncs the
backup before it counts). Prints each round, the medians' MiB/s and the ratios.
Goals: full >= 0.8x convert, incremental >= 5x faster than the full one.

    .venv/bin/python bench/backup.py
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt_qemu

from nuages.compute import disks
from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.hypervisor import DirectKernelBoot, DomainSpec, UserNet
from nuages.compute.seed import SeedContent, build_seed_iso
from nuages.compute.services.work import BLAKE3
from nuages.compute.tinyimage import build_tiny_image, load_tiny_image

MIB = 2**20
ROUNDS = 5  # alternated; medians reported
BOOT_S = 20.0  # the guest boots before any copy
MORE_MIB = 100


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_through_qemu(hv: LibvirtHypervisor, vm_id: uuid.UUID, offset_mib: int) -> None:
    """100 MiB written by QEMU's block layer (tracked by the dirty bitmap)."""
    dom = hv._connection().lookupByUUID(vm_id.bytes)
    hmp = libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
    # Through the guest's own device (it holds the disk's write permission).
    device = "/machine/peripheral/virtio-disk0/virtio-backend"
    command = f'qemu-io -d {device} "write -P 0x6b {offset_mib}M {MORE_MIB}M"'
    said = libvirt_qemu.qemuMonitorCommand(dom, command, hmp)
    if said.strip():  # silent when it wrote (the incremental's size shows it did)
        raise RuntimeError(f"qemu-io in QEMU said: {said.strip()}")


def _convert(disk: Path, dest: Path) -> float:
    os.sync()
    started = time.monotonic()
    subprocess.run(
        ["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", str(disk), str(dest)],
        check=True,
    )
    took = time.monotonic() - started
    dest.unlink()
    return took


def _full(
    hv: LibvirtHypervisor, vm_id: uuid.UUID, disk: Path, dest: Path, checkpoint: str
) -> tuple[float, float, disks.Verified]:
    partial = disks.partial_of(dest)
    os.sync()  # each copy starts with no other's writes still going to the disk
    t0 = time.monotonic()
    disks.create_target(partial, disks.info(disk, "qcow2").virtual_size)
    hv.copy_disk(vm_id, disk, partial, 3600, checkpoint=checkpoint)
    copied = time.monotonic()
    found = disks.verify_copy(partial, dest, algorithm=BLAKE3)
    return time.monotonic() - t0, copied - t0, found


def _incremental(
    hv: LibvirtHypervisor, vm_id: uuid.UUID, disk: Path, parent: Path, since: str
) -> tuple[float, disks.Verified]:
    dest = parent.with_name(f"inc-{parent.name}")
    partial = disks.partial_of(dest)
    os.sync()
    t0 = time.monotonic()
    disks.create_increment_target(partial, parent, disks.info(disk, "qcow2").virtual_size)
    hv.copy_disk(vm_id, disk, partial, 3600, checkpoint=f"{since}-inc", since=since)
    found = disks.verify_copy(partial, dest, parent=parent, algorithm=BLAKE3)
    took = time.monotonic() - t0
    dest.unlink()
    return took, found


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
    rounds: list[dict[str, float]] = []
    try:
        # The tiny guest boots under TCG for ~10 s, taking a core: let it settle so
        # no copy runs beside a boot, then alternate the copies.
        time.sleep(BOOT_S)
        used = disks.info(disk, "qcow2").actual_size
        for n in range(ROUNDS):
            dest = work / f"backup-{n}.qcow2"
            checkpoint = f"bench-{n}"
            if n % 2 == 0:
                convert_s = _convert(disk, work / f"convert-{n}.qcow2")
                full_s, copy_s, found = _full(hv, vm_id, disk, dest, checkpoint)
            else:
                full_s, copy_s, found = _full(hv, vm_id, disk, dest, checkpoint)
                convert_s = _convert(disk, work / f"convert-{n}.qcow2")
            _write_through_qemu(hv, vm_id, 1024 + (n * MORE_MIB) % 900)
            inc_s, inc = _incremental(hv, vm_id, disk, dest, checkpoint)
            hv.drop_checkpoints(vm_id)
            dest.unlink()
            rounds.append(
                {"full": full_s, "copy": copy_s, "convert": convert_s, "inc": inc_s,
                 "inc_mib": inc.size_bytes / MIB, "full_mib": found.size_bytes / MIB}
            )  # fmt: skip
            print(
                f"round {n + 1}: full {full_s:.2f} s (copy {copy_s:.2f} s), "
                f"convert {convert_s:.2f} s, incremental {inc_s:.2f} s "
                f"({inc.size_bytes / MIB:.0f} MiB)"
            )
    finally:
        hv.undefine(vm_id)
        hv.close()
    mib = used / MIB

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    full_s, copy_s, convert_s, inc_s = (
        median("full"),
        median("copy"),
        median("convert"),
        median("inc"),
    )
    print(
        f"disk: 2 GiB virtual, {mib:.0f} MiB allocated; full backup file "
        f"{median('full_mib'):.0f} MiB, incremental {median('inc_mib'):.0f} MiB "
        f"after {MORE_MIB} MiB written; medians of {ROUNDS} rounds"
    )
    print(
        f"nuages full backup:  {full_s:.2f} s (copy {copy_s:.2f} s, then check + checksum), "
        f"{mib / full_s:.0f} MiB/s"
    )
    print(f"qemu-img convert:    {convert_s:.2f} s, {mib / convert_s:.0f} MiB/s")
    print(f"nuages incremental:  {inc_s:.2f} s, {MORE_MIB / inc_s:.0f} MiB/s of changes")
    print(f"ratio full / convert (throughput): {convert_s / full_s:.2f} (goal >= 0.8)")
    print(f"ratio of the copy alone (no verify): {convert_s / copy_s:.2f}")
    print(f"incremental speed-up over the full: {full_s / inc_s:.1f}x (goal >= 5)")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
