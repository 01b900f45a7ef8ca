"""VM disk exports (000 §18: "an image of each VM in a standard format" at the end;
004 §17.2 reversibility): the disk as a qcow2 file (raw on request) with its SHA-256,
written under ``data_dir/exports/<client>/`` by an operation like the other VM actions
(the snapshots' point-in-time copy, so a running VM is exported without stopping it),
downloaded by the client through ``GET /vms/{id}/exports/{export}/download`` until the
link expires (``LINK_DAYS``); then ``expire`` deletes the file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import Operation, Vm, VmExport
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import access, vms
from nuages.compute.services.work import Job
from nuages.compute.states import Action, check_action
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database, after_commit
from nuages.kernel.errors import InvalidTransition, NotFound

CREATING, READY, FAILED, DELETED = "creating", "ready", "failed", "deleted"
LIVE = (CREATING, READY)
# How long a download link works: a week to fetch a large disk; the client may ask for
# a new export at any time while the VM exists (the clauses name no duration).
LINK_DAYS = 7


def create_export(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    vm_id: str,
    data: schemas.ExportCreate,
) -> tuple[VmExport, Vm, Operation]:
    """Ask for an export of the VM's disk; answered with the operation to poll. A VM
    the caller cannot see is 404; one being created or deleted 409; nothing written."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    check_action(Action.EXPORT, vm.vm_state, vm.task_state, staff=actor.is_staff)
    now = utc_now()
    export_id = str(uuid.uuid4())
    path = runtime.settings.data_dir / "exports" / vm.client_id / f"{export_id}.{data.format}"
    export = VmExport(
        id=export_id,
        vm_id=vm.id,
        client_id=vm.client_id,
        disk_format=data.format,
        path=str(path),
        state=CREATING,
        created_at=now,
        expires_at=now + dt.timedelta(days=LINK_DAYS),
    )
    session.add(export)
    session.flush()
    params = {
        "export_id": export.id,
        "path": str(path),
        "root": str(path.parent.parent),
        "format": data.format,
    }
    vm, operation = vms.request(session, actor, runtime, vm.id, Action.EXPORT, params, vm=vm)
    export.operation_id = operation.id
    return export, vm, operation


def list_exports(session: Session, actor: Principal, vm_id: str) -> list[VmExport]:
    """The VM's exports being written or downloadable, newest first."""
    vm = access.load_vm(session, actor, vm_id)
    return list(
        session.execute(
            select(VmExport)
            .where(VmExport.vm_id == vm.id, VmExport.state.in_(LIVE))
            .order_by(VmExport.created_at.desc(), VmExport.id)
        ).scalars()
    )


def download(session: Session, actor: Principal, vm_id: str, export_id: str) -> VmExport:
    """The export whose file the caller downloads: ready and its link not expired."""
    vm = access.load_vm(session, actor, vm_id)
    export = session.get(VmExport, export_id)
    if export is None or export.vm_id != vm.id or export.state not in LIVE:
        raise NotFound("no such export of this VM")
    if export.state != READY:
        raise InvalidTransition("the export is still being written")
    if export.expires_at <= utc_now() or not Path(export.path).exists():
        raise NotFound("this export's link has expired")
    return export


def expire(database: Database) -> list[str]:
    """Delete the files of exports whose link expired; returns their ids."""
    now = utc_now()
    removed: list[str] = []
    with database.unit() as session:
        due = list(
            session.execute(
                select(VmExport).where(VmExport.state == READY, VmExport.expires_at <= now)
            ).scalars()
        )
        for export in due:
            export.state, export.deleted_at = DELETED, now
            history.record(
                session,
                Actor.system("export expiry"),
                object_type="vm",
                object_id=export.vm_id,
                action="vm.export_delete",
                params={"export_id": export.id, "reason": "expired"},
                client_id=export.client_id,
            )
            path = Path(export.path)
            after_commit(session, lambda p=path: p.unlink(missing_ok=True))  # type: ignore[misc]
            removed.append(export.id)
    return removed


def on_success(session: Session, job: Job) -> None:
    """An export succeeded: downloadable, with size and SHA-256."""
    if job.kind == Action.EXPORT.value:
        _settle_row(session, job, READY, job.extra)


def on_failure(session: Session, job: Job) -> None:
    """An export failed or was interrupted: nothing is offered."""
    if job.kind == Action.EXPORT.value:
        _settle_row(session, job, FAILED, {})


def _settle_row(session: Session, job: Job, state: str, values: dict[str, Any]) -> None:
    columns = {k: values[k] for k in ("size_bytes", "sha256") if k in values}
    session.execute(
        update(VmExport)
        .where(VmExport.id == str(job.params["export_id"]), VmExport.state == CREATING)
        .values(state=state, **columns)
        .execution_options(synchronize_session=False)
    )
