"""What the end of a contract asks of compute (the ``reversibility`` slice calls these):
stop its VMs (003 §13.2: services stop at once), copy a VM's disk for the client
through the exports (000 §18, 001 §7, 004 §17.2), and erase everything the contract
left: VMs and their disks, snapshots, backups and exports (001 §7, 002 §10).

Everything goes through compute's normal services and operations (the VM's task slot,
the queue, crash recovery), acting as provider staff named ``reversibility``. The
erasure is a pass that can be run any number of times: it asks for the deletion of
each VM not deleted yet (an operation; a worker killed during it is finished by
``operations.recover_operations``), and once no VM is left it deletes the files of the
snapshots, backups and exports, checks that no file is left, and says so.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import Vm, VmBackup, VmExport, VmSnapshot
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import exports, vms, work
from nuages.compute.states import Action, VmState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import InvalidTransition, NuagesError

log = logging.getLogger("nuages.compute.ending")
EXIT_STAFF = Principal.staff("reversibility")
COPYABLE = (VmState.RUNNING.value, VmState.STOPPED.value)


@dataclass(frozen=True)
class VmLeft:
    """A VM of the contract not deleted yet, as the exit sees it."""

    id: str
    name: str
    vm_state: str
    task_state: str | None


@dataclass(frozen=True)
class ExportFacts:
    """An export of a VM's disk, as the exit shows it."""

    id: str
    vm_id: str
    state: str
    disk_format: str
    size_bytes: int | None
    sha256: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    path: str


def vms_left(session: Session, contract_id: str) -> list[VmLeft]:
    """The contract's VMs not deleted, oldest first."""
    rows = session.execute(
        select(Vm.id, Vm.name, Vm.vm_state, Vm.task_state)
        .where(Vm.contract_id == contract_id, Vm.vm_state != VmState.DELETED.value)
        .order_by(Vm.created_at, Vm.id)
    ).tuples()
    return [VmLeft(*row) for row in rows]


def stop_all(session: Session, runtime: ComputeRuntime, contract_id: str) -> list[str]:
    """Ask for every running VM of the contract to stop (its disk and data kept); a
    busy VM is left for the next pass. Returns the VMs asked."""
    asked = []
    for vm in vms_left(session, contract_id):
        if vm.vm_state != VmState.RUNNING.value or vm.task_state is not None:
            continue
        if _ask(session, lambda v=vm.id: vms.request(session, EXIT_STAFF, runtime, v, Action.STOP)):
            asked.append(vm.id)
    return asked


def copyable(vm: VmLeft) -> str | None:
    """Why the VM's disk cannot be copied now (None: it can)."""
    if vm.task_state is not None:
        return f"VM {vm.name} is busy ({vm.task_state}); try again when it is done"
    if vm.vm_state not in COPYABLE:
        return f"VM {vm.name} is {vm.vm_state}; its disk is copied once it is running or stopped"
    return None


def export_vm(session: Session, runtime: ComputeRuntime, vm_id: str) -> ExportFacts:
    """Ask for a qcow2 copy of the VM's disk with its SHA-256 and an expiring download
    link (``exports``); raises (nothing written) when the VM cannot be copied now."""
    export, _vm, _op = exports.create_export(
        session, EXIT_STAFF, runtime, vm_id, schemas.ExportCreate(format="qcow2")
    )
    return _facts(export)


def _facts(export: VmExport) -> ExportFacts:
    return ExportFacts(
        export.id,
        export.vm_id,
        export.state,
        export.disk_format,
        export.size_bytes,
        export.sha256,
        export.created_at,
        export.expires_at,
        export.path,
    )


def exports_by_id(session: Session, export_ids: list[str]) -> dict[str, ExportFacts]:
    """The exports named (unknown ids left out)."""
    if not export_ids:
        return {}
    rows = session.execute(select(VmExport).where(VmExport.id.in_(export_ids))).scalars()
    return {e.id: _facts(e) for e in rows}


def _ask(session: Session, call: Any) -> bool:
    try:
        with session.begin_nested():
            call()
    except NuagesError as exc:  # busy meanwhile: the next pass asks again
        log.info("left for the next pass: %s", exc.detail)
        return False
    return True


@dataclass
class Erasure:
    """One erasure pass: whether everything is gone, what was erased, what waits."""

    done: bool = False
    asked: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def erase(session: Session, runtime: ComputeRuntime, contract_id: str, who: Actor) -> Erasure:
    """One pass of the erasure of a contract's data (never commits).

    First every VM is deleted through its operation (domain, disk, seed, its
    snapshots with its directory); a VM busy with an export being written waits.
    Once none is left, the files of its backups and exports are deleted and their
    rows marked, every VM directory is removed again (a crash mid-delete left
    nothing behind), and ``done`` says that no file of the contract is left; the
    ``manifest`` lists what was erased."""
    out = Erasure()
    left = vms_left(session, contract_id)
    for vm in left:
        if vm.task_state is not None:
            out.waiting.append(f"VM {vm.name}: {vm.task_state}")
            continue
        if _ask(
            session, lambda v=vm.id: vms.request(session, EXIT_STAFF, runtime, v, Action.DELETE)
        ):
            out.asked.append(vm.id)
        else:
            out.waiting.append(f"VM {vm.name}: busy")
    if left:
        return out
    now = utc_now()
    all_vms = list(
        session.execute(
            select(Vm.id, Vm.name).where(Vm.contract_id == contract_id).order_by(Vm.created_at)
        ).tuples()
    )
    ids = [v for v, _n in all_vms]
    manifest: dict[str, Any] = {"vms": [], "snapshots": [], "backups": [], "exports": []}
    leftovers: list[str] = []
    for vm_id, name in all_vms:
        files = runtime.vm_files(vm_id)
        work.remove_files(files)  # idempotent: what a delete killed half-way left
        manifest["vms"].append({"id": vm_id, "name": name, "disk": str(files.disk)})
        leftovers += [str(p) for p in files.all() if p.exists()]
    if ids:
        for snap in session.execute(select(VmSnapshot).where(VmSnapshot.vm_id.in_(ids))).scalars():
            manifest["snapshots"].append(snap.id)
        session.execute(
            update(VmSnapshot)
            .where(VmSnapshot.vm_id.in_(ids), VmSnapshot.state != "deleted")
            .values(state="deleted", deleted_at=now, deleted_reason="erased")
            .execution_options(synchronize_session=False)
        )
        for backup in list(
            session.execute(select(VmBackup).where(VmBackup.vm_id.in_(ids))).scalars()
        ):
            path = Path(backup.path)
            path.unlink(missing_ok=True)
            manifest["backups"].append({"id": backup.id, "path": backup.path})
            if path.exists():
                leftovers.append(str(path))
            if backup.state != "deleted":
                backup.state, backup.deleted_at, backup.deleted_reason = "deleted", now, "erased"
        for export in list(
            session.execute(select(VmExport).where(VmExport.vm_id.in_(ids))).scalars()
        ):
            path = Path(export.path)
            path.unlink(missing_ok=True)
            manifest["exports"].append({"id": export.id, "path": export.path})
            if path.exists():
                leftovers.append(str(path))
            if export.state != "deleted":
                export.state, export.deleted_at = "deleted", now
                history.record(
                    session,
                    who,
                    object_type="vm",
                    object_id=export.vm_id,
                    action="vm.export_delete",
                    params={"export_id": export.id, "reason": "erased"},
                    client_id=export.client_id,
                )
        session.flush()
    if leftovers:
        raise InvalidTransition(f"erasure left files behind: {', '.join(leftovers)}")
    out.done = True
    out.manifest = manifest
    return out
