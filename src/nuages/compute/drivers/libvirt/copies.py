"""Point-in-time copies of a running domain's disk (snapshots, backups; issue 13), kept
apart from the driver's lifecycle calls (``driver.py``).

A running disk is copied by libvirt's backup API (push mode): QEMU copies the disk as it
was when the job began while the guest goes on writing (copy-before-write), so the copy
is one point in time. A copy may also create a **checkpoint** (a persistent QEMU dirty
bitmap in the VM's qcow2, named by libvirt) at that instant; a later copy ``since`` that
checkpoint is **incremental**: QEMU writes only the clusters the guest changed since
into a target qcow2 whose backing file is the earlier copy. libvirt errors propagate;
the driver translates them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import libvirt

from nuages.compute.drivers.libvirt import domxml
from nuages.compute.hypervisor import HypervisorError, StaleCheckpoint
from nuages.kernel.errors import InvalidTransition

# A backup job polled 50 times a second: an increment takes ~0.2 s, a coarser poll
# added up to a quarter of it in waiting (issue 13 benchmark).
_COPY_POLL_S = 0.02


def ignore_not_running(call: Callable[[], object]) -> None:
    """Call ``call``; a domain no longer running meanwhile has reached the goal."""
    # The guest may power off between our check and the call: the goal is reached.
    try:
        call()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
            raise


def copy_disk(
    dom: libvirt.virDomain,
    uuid: UUID,
    disk: Path,
    target: Path,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
    *,
    checkpoint: str | None = None,
    since: str | None = None,
) -> None:
    """Copy ``disk`` of the running ``dom`` to ``target`` as it is now; see
    ``Hypervisor.copy_disk``."""
    if not dom.isActive():
        raise InvalidTransition(f"domain {uuid} is not running; copy its file instead")
    domain_xml = dom.XMLDesc(0)
    xml = domxml.backup_xml(domain_xml, disk, target, since=since)
    ck = domxml.checkpoint_xml(domain_xml, disk, checkpoint) if checkpoint else None
    try:
        dom.backupBegin(xml, ck, libvirt.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL)
    except libvirt.libvirtError as exc:
        if since is not None and exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise StaleCheckpoint(
                f"incremental copy since {since} refused: {exc.get_error_message()}"
            ) from exc
        raise
    deadline = time.monotonic() + timeout_s
    while backup_running(dom):
        if time.monotonic() > deadline:
            ignore_not_running(dom.abortJob)
            raise HypervisorError(f"copy of {disk} took over {timeout_s:.0f} s; aborted")
        if progress is not None:
            _report_copy(dom, progress)
        time.sleep(_COPY_POLL_S)
    stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    if stats.get("operation") != libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP or not (
        stats.get("success", stats.get("type") == libvirt.VIR_DOMAIN_JOB_COMPLETED)
    ):
        detail = stats.get("errmsg") or f"job ended as {stats.get('type')}"
        raise HypervisorError(f"copy of {disk} failed: {detail}")


def abort_copy(dom: libvirt.virDomain) -> bool:
    """Stop a copy still running; False when none runs."""
    if not dom.isActive() or not backup_running(dom):
        return False
    ignore_not_running(dom.abortJob)
    return True


def checkpoints(dom: libvirt.virDomain) -> list[str]:
    """The names of the domain's checkpoints; see ``Hypervisor.checkpoints``."""
    return [c.getName() for c in _all_checkpoints(dom)]


def drop_checkpoints(dom: libvirt.virDomain, keep: str | None = None) -> list[str]:
    """Delete every checkpoint but ``keep``; see ``Hypervisor.drop_checkpoints``."""
    # A running domain's bitmaps go with them; a shut-off domain's disk is about to
    # be replaced or is read by qemu-img only: libvirt's record goes.
    flags = 0 if dom.isActive() else libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY
    dropped: list[str] = []
    for found in _leaves_first(dom):
        if found.getName() == keep:
            continue
        found.delete(flags)
        dropped.append(found.getName())
    return dropped


def _all_checkpoints(dom: libvirt.virDomain) -> list[libvirt.virDomainCheckpoint]:
    try:
        return list(dom.listAllCheckpoints(0))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
            return []  # libvirt's test driver keeps none
        raise


def _leaves_first(dom: libvirt.virDomain) -> Iterator[libvirt.virDomainCheckpoint]:
    """Checkpoints children before parents (a parent deleted first would merge its
    bitmap into the child for nothing)."""
    yield from sorted(_all_checkpoints(dom), key=lambda c: -_depth(c))


def _depth(checkpoint: libvirt.virDomainCheckpoint) -> int:
    depth = 0
    current = checkpoint
    while True:
        try:
            current = current.getParent(0)
        except libvirt.libvirtError:
            return depth
        depth += 1


def _report_copy(dom: libvirt.virDomain, progress: Callable[[int, int], None]) -> None:
    """Pass the running backup job's data counters on (nothing while unknown)."""
    try:
        stats = dom.jobStats(0)
    except libvirt.libvirtError:
        return  # the job ended between the check and this call
    total = int(stats.get("data_total") or 0)
    if total > 0:
        progress(int(stats.get("data_processed") or 0), total)


def backup_running(dom: libvirt.virDomain) -> bool:
    """Whether a backup job runs on ``dom``."""
    try:
        dom.backupGetXMLDesc(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_BACKUP:
            return False
        raise
    return True
