"""Disk copies of running domains (snapshots, backups, exports; issue 13), kept apart
from the lifecycle methods of ``LibvirtHypervisor``, which mixes this class in.

A running disk is copied by libvirt's backup API (push mode): QEMU copies the disk as it
was when the job began while the guest goes on writing (copy-before-write), so the copy
is one point in time. A copy may also create a **checkpoint** (a persistent QEMU dirty
bitmap in the VM's qcow2, named by libvirt) at that instant; a later copy ``since`` that
checkpoint is **incremental**: QEMU writes only the clusters the guest changed since
into a target qcow2 whose backing file is the earlier copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol
from uuid import UUID

import libvirt

from nuages.compute.drivers.libvirt import domxml
from nuages.compute.hypervisor import HypervisorError, StaleCheckpoint
from nuages.kernel.errors import InvalidTransition

_COPY_POLL_S = 0.05


class _Host(Protocol):
    def _connection(self) -> libvirt.virConnect: ...

    def _errors(self, uuid: UUID | None) -> AbstractContextManager[None]: ...

    @staticmethod
    def _lookup(conn: libvirt.virConnect, uuid: UUID) -> libvirt.virDomain: ...

    @staticmethod
    def _ignore_not_running(call: Callable[[], object]) -> None: ...


class DiskCopies:
    """The copy methods of ``Hypervisor`` over libvirt."""

    def copy_disk(
        self: _Host,
        uuid: UUID,
        disk: Path,
        target: Path,
        timeout_s: float,
        progress: Callable[[int, int], None] | None = None,
        *,
        checkpoint: str | None = None,
        since: str | None = None,
    ) -> None:
        """Point-in-time copy of a running domain's disk; see ``Hypervisor.copy_disk``."""
        with self._errors(uuid):
            dom = self._lookup(self._connection(), uuid)
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
            while _backup_running(dom):
                if time.monotonic() > deadline:
                    self._ignore_not_running(dom.abortJob)
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

    def abort_disk_copy(self: _Host, uuid: UUID) -> bool:
        """Stop a copy still running; see ``Hypervisor.abort_disk_copy``."""
        with self._errors(uuid):
            dom = self._lookup(self._connection(), uuid)
            if not dom.isActive() or not _backup_running(dom):
                return False
            self._ignore_not_running(dom.abortJob)
            return True

    def checkpoints(self: _Host, uuid: UUID) -> list[str]:
        """The names of the domain's checkpoints; see ``Hypervisor.checkpoints``."""
        with self._errors(uuid):
            dom = self._lookup(self._connection(), uuid)
            return [c.getName() for c in _all_checkpoints(dom)]

    def drop_checkpoints(self: _Host, uuid: UUID, keep: str | None = None) -> list[str]:
        """Delete every checkpoint but ``keep``; see ``Hypervisor.drop_checkpoints``."""
        dropped: list[str] = []
        with self._errors(uuid):
            dom = self._lookup(self._connection(), uuid)
            # A running domain's bitmaps go with them; a shut-off domain's disk is
            # about to be replaced or is read by qemu-img only: libvirt's record goes.
            flags = 0 if dom.isActive() else libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY
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
    found = _all_checkpoints(dom)
    yield from sorted(found, key=lambda c: -_depth(c))


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


def _backup_running(dom: libvirt.virDomain) -> bool:
    try:
        dom.backupGetXMLDesc(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_BACKUP:
            return False
        raise
    return True
