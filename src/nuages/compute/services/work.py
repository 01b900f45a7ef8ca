"""What each operation does on the host: driver and disk calls only, no database.

``operations`` reads everything a job needs into a ``Job`` (a plain value), calls the
function of its kind here with no transaction open (hypervisor calls take seconds; a
SQLite write lock must not wait on them), then writes the result. Each function returns
the domain's status at the end; ``undo_create`` removes whatever a create left.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from uuid import UUID

from nuages.compute import disks, reach
from nuages.compute.hypervisor import (
    Accel,
    Boot,
    BridgeNet,
    DirectKernelBoot,
    DiskBoot,
    DiskFormat,
    DomainNotFound,
    DomainSpec,
    DomainStatus,
    Hypervisor,
    Network,
    PowerState,
    StaleCheckpoint,
)
from nuages.compute.net import enforce as netenforce
from nuages.compute.net import rules as netrules
from nuages.compute.runtime import ComputeRuntime, VmFiles
from nuages.compute.seed import SeedContent, build_seed_iso
from nuages.compute.services import ipam
from nuages.kernel.errors import InvalidTransition, NotFound, NuagesError

log = logging.getLogger("nuages.compute")


@dataclass(frozen=True)
class ImageRef:
    """The files an image boots from."""

    boot_mode: str
    base: Path
    disk_format: DiskFormat
    kernel: Path | None
    initrd: Path | None
    cmdline: str

    def boot(self) -> Boot:
        """How the domain boots."""
        if self.boot_mode == "direct-kernel" and self.kernel is not None:
            return DirectKernelBoot(self.kernel, self.initrd, self.cmdline)
        return DiskBoot()


@dataclass(frozen=True)
class Job:
    """Everything one operation needs, read from the database before the work."""

    operation_id: str
    kind: str
    params: dict[str, Any]
    vm_id: str
    vm_name: str
    vm_state: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    host_uri: str | None
    accel: Accel
    image: ImageRef
    plan: ipam.NetworkPlan
    files: VmFiles
    extra: dict[str, Any] = field(default_factory=dict)
    # Told (bytes done, bytes in all) by long copies; the executor writes it to the
    # operation (issue #19). Not part of the job's identity.
    progress: disks.Progress | None = field(default=None, compare=False)
    # The VM's firewall and its host-side facts (issue 14); None: nothing to enforce.
    net: netenforce.HostPlan | None = None

    @property
    def uuid(self) -> UUID:
        """The domain's UUID (the VM id)."""
        return UUID(self.vm_id)

    @property
    def domain_name(self) -> str:
        """The libvirt domain name: unique per host whatever the clients call their VMs."""
        return f"nuages-{self.vm_id}"


def _hv(runtime: ComputeRuntime, job: Job) -> Hypervisor:
    if job.host_uri is None:
        raise InvalidTransition("the VM has no host")
    return runtime.hypervisor(job.host_uri)


def nic_of(job: Job) -> Network | None:
    """The VM's NIC; a bridged one bound to the VM's filter, with its flavour's
    bandwidth and its link down while the network is cut (issue 14)."""
    nic = job.plan.nic()
    if isinstance(nic, BridgeNet) and job.net is not None:
        return replace(
            nic,
            filter=netrules.filter_name(job.vm_id),
            bandwidth_mbps=job.net.bandwidth_mbps,
            link_up=not job.net.policy.cut,
            target=netrules.tap_name(job.vm_id),
        )
    return nic


def net_before(runtime: ComputeRuntime, job: Job) -> None:
    """Before a domain is defined or started: its filter must exist (libvirt refuses to
    start a NIC bound to an unknown filter)."""
    if job.net is not None and job.net.bridged:
        netenforce.apply(runtime, job.net, link=False)


def net_after(runtime: ComputeRuntime, job: Job) -> None:
    """After a domain started: its rules and link state (a new QEMU has its link up);
    a failure is left to reconciliation, the guest runs."""
    if job.net is not None:
        netenforce.apply_quietly(runtime, job.net)


def spec_of(job: Job) -> DomainSpec:
    """The domain a VM is defined as."""
    return DomainSpec(
        name=job.domain_name,
        uuid=job.uuid,
        vcpus=job.vcpus,
        memory_mib=job.ram_mib,
        disk=job.files.disk,
        disk_format="qcow2",
        boot=job.image.boot(),
        seed_iso=job.files.seed,
        network=nic_of(job),
        accel=job.accel,
        console_log=job.files.console_log,
        # Full images boot through the firmware and may draw on a screen: they get a
        # VNC display; direct-kernel guests are serial-only (issue 14.3).
        graphics=isinstance(job.image.boot(), DiskBoot),
    )


def create(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Overlay disk, seed ISO, host-side network, then define and start the domain.

    QEMU's user must reach the VM's directory and the image's files: checked once the
    directory exists and before anything is written in it, so a data directory QEMU
    cannot enter fails the create with what to change (``reach``), and ``undo_create``
    leaves nothing behind."""
    hv = _hv(runtime, job)
    files = runtime.make_vm_dir(job.vm_id)
    reach.require(hv, job.host_uri or "", qemu_files(job))
    source = job.params.get("from_backup_path")
    if source:
        # A restore as a new VM (000 §5): the disk holds the backup's content, as an
        # overlay of the same image (the shape every VM disk has), sharing no file
        # with the backup, which retention may delete any day.
        if not Path(str(source)).exists():
            raise NotFound("the backup's file is gone; it cannot be restored")
        disks.restore_overlay(
            Path(str(source)),
            job.image.base,
            files.disk,
            base_format=job.image.disk_format,
            size_gib=job.disk_gib,
        )
    else:
        disks.create_overlay(
            job.image.base, files.disk, size_gib=job.disk_gib, base_format=job.image.disk_format
        )
    build_seed_iso(
        files.seed,
        SeedContent(
            instance_id=job.vm_id,
            hostname=job.vm_name,
            ssh_authorized_keys=tuple(job.params.get("ssh_keys", [])),
        ),
    )
    ipam.attach(runtime, job.host_uri or "", job.plan, job.vm_name)
    net_before(runtime, job)
    status = hv.create(spec_of(job))
    net_after(runtime, job)
    return status


def qemu_files(job: Job) -> list[Path]:
    """What QEMU opens for this VM: its directory (disk, seed), the image's files."""
    image = job.image
    found = [job.files.directory, image.base, image.kernel, image.initrd]
    return [p for p in found if p is not None]


def attachable(job: Job) -> None:
    """Refuse (``disks.UnsafeDisk``) a VM disk that refers to any file besides the VM's
    own image, in the image's registered format. ``create_overlay`` checks the disks it
    makes; this guards a start of an existing one."""
    disks.check_overlay(job.files.disk, job.image.base, job.image.disk_format)


def undo_create(runtime: ComputeRuntime, job: Job) -> None:
    """Remove whatever a create left: domain, network entry, files. Never raises."""
    if job.host_uri is not None:
        try:
            runtime.hypervisor(job.host_uri).undefine(job.uuid)
        except DomainNotFound:
            pass
        except NuagesError as exc:
            log.warning("create of %s: could not undefine the domain: %s", job.vm_id, exc)
        try:
            ipam.detach(runtime, job.host_uri, job.plan, job.vm_name)
        except NuagesError as exc:
            log.warning("create of %s: could not remove the DHCP entry: %s", job.vm_id, exc)
        netenforce.forget(runtime, job.host_uri, job.vm_id)
    remove_files(job.files)


def remove_files(files: VmFiles) -> None:
    """Delete a VM's disk, seed and console log, and its directory."""
    disks.delete(files.disk)
    for path in (files.seed, files.console_log):
        path.unlink(missing_ok=True)
    shutil.rmtree(files.directory, ignore_errors=True)


def start(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Start the domain (already running is fine), its disk checked first: it may refer
    to nothing but the VM's image (issue 17.4)."""
    hv = _hv(runtime, job)
    attachable(job)
    net_before(runtime, job)
    try:
        status = hv.start(job.uuid)
    except InvalidTransition:
        status = hv.status(job.uuid)
    net_after(runtime, job)
    return status


def stop(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Graceful power-off (ACPI), forced after the configured timeout."""
    return _hv(runtime, job).shutdown(job.uuid, runtime.compute.stop_timeout_s)


def reboot(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Graceful reboot (ACPI)."""
    return _hv(runtime, job).reboot(job.uuid)


def resize(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Grow the disk first (it cannot shrink), then set vCPU and RAM for the next start."""
    hv = _hv(runtime, job)
    target_disk = int(job.params["disk_gib"])
    if target_disk > job.disk_gib:
        disks.resize(job.files.disk, target_disk)
    return hv.set_resources(job.uuid, int(job.params["vcpus"]), int(job.params["ram_mib"]))


def reinstall(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Back to the image's original state (000 §5): stop, fresh overlay, start again if
    it was running. The seed keeps the instance id, so the guest sets itself up anew."""
    hv = _hv(runtime, job)
    if hv.status(job.uuid).power_state.is_active:
        hv.shutdown(job.uuid, runtime.compute.stop_timeout_s)
    # The fresh disk has none of the old one's change bitmaps (incremental backups).
    hv.drop_checkpoints(job.uuid)
    disks.reinstall(job.image.base, job.files.disk, base_format=job.image.disk_format)
    if job.params.get("was") == "running":
        return start(runtime, job)
    return hv.status(job.uuid)


def delete(runtime: ComputeRuntime, job: Job) -> DomainStatus | None:
    """Remove the domain, its network entry and its files (idempotent)."""
    if job.host_uri is not None:
        try:
            runtime.hypervisor(job.host_uri).undefine(job.uuid)
        except DomainNotFound:
            pass
        ipam.detach(runtime, job.host_uri, job.plan, job.vm_name)
        netenforce.forget(runtime, job.host_uri, job.vm_id)
    remove_files(job.files)
    return None


def suspend(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Pause a running domain (memory kept); a shut-off one stays as it is."""
    hv = _hv(runtime, job)
    status = hv.status(job.uuid)
    if status.power_state is PowerState.RUNNING:
        return hv.pause(job.uuid)
    return status


def resume(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Lift a suspension: a paused domain runs again."""
    hv = _hv(runtime, job)
    status = hv.status(job.uuid)
    if status.power_state is PowerState.PAUSED:
        return hv.resume(job.uuid)
    return status


# ---------------------------------------------------------------- snapshots (002 §3)


def _copy_to(
    runtime: ComputeRuntime,
    job: Job,
    dest: Path,
    *,
    checkpoint: str | None = None,
    since: tuple[str, Path] | None = None,
    algorithm: str = "sha256",
) -> DomainStatus:
    """A point-in-time standalone copy of the disk at ``dest``: the VM running on (the
    driver's live copy) or stopped (``qemu-img convert`` of the file), verified and
    hashed before it gets its name; size and checksum go to ``job.extra``. While the
    VM runs, ``checkpoint`` starts tracking changes from the copy's instant, and
    ``since`` (checkpoint, parent file) makes the copy an increment on the parent."""
    hv = _hv(runtime, job)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # QEMU's user opens the live copy's file by its path: every directory down to it
    # must be traversable (0711: not listable; the files stay 0600).
    root = Path(str(job.params.get("root") or dest.parent))
    for directory in (dest.parent, *dest.parent.parents):
        directory.chmod(0o711)
        if directory == root:
            break
    partial = disks.partial_of(dest)
    status = hv.status(job.uuid)
    try:
        if status.power_state.is_active:
            size = disks.info(job.files.disk, "qcow2").virtual_size
            if since is None:
                disks.create_target(partial, size)
            else:
                disks.create_increment_target(partial, since[1], size)
            timeout = runtime.compute.copy_timeout_s
            hv.copy_disk(
                job.uuid,
                job.files.disk,
                partial,
                timeout,
                job.progress,
                checkpoint=checkpoint,
                since=since[0] if since else None,
            )
        elif since is not None:
            raise InvalidTransition("an incremental copy needs the VM running")
        else:
            disks.copy_standalone(job.files.disk, partial, job.progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    parent = since[1] if since else None
    found = disks.verify_copy(partial, dest, parent=parent, algorithm=algorithm)
    job.extra.update(
        size_bytes=found.size_bytes,
        virtual_bytes=found.virtual_bytes,
        sha256=found.sha256,
        checksum=found.checksum,
    )
    return hv.status(job.uuid)


def copy_dest(job: Job) -> Path:
    """Where the copy of a snapshot, backup or export operation goes (an export to raw
    first goes to a qcow2 beside it)."""
    if job.kind == "export":
        path = Path(str(job.params["path"]))
        return path.with_suffix(".qcow2") if path.suffix == ".raw" else path
    if job.kind == "backup":
        return Path(str(job.params["path"]))
    return job.files.snapshot(str(job.params["snapshot_id"]))


def snapshot(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Take a snapshot (002 §3) into the VM's directory."""
    return _copy_to(runtime, job, copy_dest(job))


# Backups are verified with BLAKE3 (issue 13 asks "its checksum"; exports keep the
# SHA-256 000 §18 names): a quarter of the CPU, see disks.blake3_of.
BLAKE3 = "blake3"


def checkpoint_of(backup_id: str) -> str:
    """The libvirt checkpoint a live backup starts (its changes are the next one's)."""
    return f"nuages-backup-{backup_id}"


def backup(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Take a backup (002 §3.5) onto the target of another site named in the params.

    Incremental where the disk allows it (issue 13): the VM runs, the service named a
    parent backup (``parent_id``, ``parent_path``) and the checkpoint that parent
    started is still the domain's (a disk replaced by a restore or reinstall dropped
    them) → only the clusters changed since go into a qcow2 backed by the parent's
    file. Otherwise a full copy. A live copy starts its own checkpoint; once the copy
    is verified, every other checkpoint is dropped (one bitmap to keep up to date).
    ``job.extra`` says which kind was taken and on what parent."""
    hv = _hv(runtime, job)
    dest = copy_dest(job)
    running = hv.status(job.uuid).power_state.is_active
    mine = checkpoint_of(str(job.params["backup_id"]))
    parent_id = job.params.get("parent_id")
    parent = Path(str(job.params["parent_path"])) if parent_id else None
    status: DomainStatus | None = None
    if running and parent is not None and parent.exists():
        since = checkpoint_of(str(parent_id))
        if since in hv.checkpoints(job.uuid):
            try:
                status = _copy_to(
                    runtime, job, dest, checkpoint=mine, since=(since, parent), algorithm=BLAKE3
                )
                job.extra.update(kind="incremental", parent_id=str(parent_id))
            except StaleCheckpoint as exc:
                log.warning("backup of %s: full copy instead: %s", job.vm_id, exc)
    if status is None:
        status = _copy_to(
            runtime, job, dest, checkpoint=mine if running else None, algorithm=BLAKE3
        )
        job.extra.update(kind="full", parent_id=None)
    hv.drop_checkpoints(job.uuid, keep=mine if running else None)
    return status


def export(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Export the disk (000 §18): the point-in-time standalone qcow2 copy, converted to
    raw on request; the SHA-256 is the delivered file's."""
    status = _copy_to(runtime, job, copy_dest(job))
    final = Path(str(job.params["path"]))
    if final.suffix == ".raw":
        qcow2 = copy_dest(job)
        partial = disks.partial_of(final)
        try:
            disks.to_raw(qcow2, partial)
            digest = disks.sha256_of(partial)
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            qcow2.unlink(missing_ok=True)
        job.extra.update(size_bytes=final.stat().st_size, sha256=digest)
    return status


def undo_copy(runtime: ComputeRuntime, job: Job) -> None:
    """Remove whatever a failed or interrupted snapshot or backup left: a copy still
    running on the host is aborted, the partial and final files deleted. Never raises."""
    dest = copy_dest(job)
    if job.host_uri is not None:
        try:
            runtime.hypervisor(job.host_uri).abort_disk_copy(job.uuid)
        except NuagesError as exc:
            log.warning("copy of %s: could not abort it: %s", job.vm_id, exc)
    final = Path(str(job.params.get("path") or dest))
    for path in (disks.partial_of(dest), dest, disks.partial_of(final), final):
        path.unlink(missing_ok=True)


def _revert(runtime: ComputeRuntime, job: Job, source: Path) -> DomainStatus:
    """Put the disk back to the standalone copy ``source``: the VM is stopped (ACPI,
    forced after the timeout), its disk replaced by the copy's content (an atomic
    rename), and it is started again if it was running. Doing it twice is harmless."""
    hv = _hv(runtime, job)
    if not source.exists():
        raise NotFound("the copy's file is gone; it cannot be restored")
    if hv.status(job.uuid).power_state.is_active:
        hv.shutdown(job.uuid, runtime.compute.stop_timeout_s)
    # The rewritten disk has none of the old one's change bitmaps: the next backup is
    # a full one (an increment on a checkpoint of the old disk would be wrong).
    hv.drop_checkpoints(job.uuid)
    disks.restore_overlay(
        source,
        job.image.base,
        job.files.disk,
        base_format=job.image.disk_format,
        size_gib=job.disk_gib,
    )
    if job.params.get("was") == "running":
        return start(runtime, job)
    return hv.status(job.uuid)


def snapshot_restore(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Put the disk back to a snapshot (002 §3)."""
    return _revert(runtime, job, job.files.snapshot(str(job.params["snapshot_id"])))


def restore(runtime: ComputeRuntime, job: Job) -> DomainStatus:
    """Put the disk back to a backup (000 §5: its last or an earlier one)."""
    return _revert(runtime, job, Path(str(job.params["path"])))


WORK: dict[str, Callable[[ComputeRuntime, Job], DomainStatus | None]] = {
    "create": create,
    "start": start,
    "stop": stop,
    "reboot": reboot,
    "resize": resize,
    "reinstall": reinstall,
    "delete": delete,
    "suspend": suspend,
    "resume": resume,
    "snapshot": snapshot,
    "snapshot_restore": snapshot_restore,
    "backup": backup,
    "restore": restore,
    "export": export,
}
