"""A VM's snapshots (002 §3: at most 2, kept 7 days on Cloud VM offers) and backups
(002 §3.5: on request, daily, kept 7 or 31 days, on another site; 000 §5: restore to a
backup): taking, restoring (confirmed: the disk goes back) and deleting them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nuages.compute import schemas
from nuages.compute.api import registry, runtime
from nuages.compute.services import backups, snapshots
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import Posted, PostedForm, Visit

router = APIRouter()


def _act(
    posted: Posted, vm_id: str, work: Callable[[Session, Visit], object], msg: str
) -> Response:
    """Run one act on the VM in a unit, once per form; errors shown on the VM page."""
    from nuages.portal.client.vms import error_page

    visit = posted.visit
    back = f"/vms/{vm_id}"
    try:
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, back)
            work(session, visit)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NotFound:
        raise
    except (NuagesError, ValidationError) as exc:
        return error_page(visit, vm_id, exc)
    return visit.redirect(back, msg)


def _confirmed(posted: Posted) -> None:
    if posted.get("confirm") != "yes":
        from nuages.kernel.errors import ValidationFailed

        raise ValidationFailed("confirm: tick the box to confirm (the disk goes back)")


@router.post("/vms/{vm_id}/snapshots")
def snapshot_take(posted: PostedForm, vm_id: str) -> Response:
    """Take a snapshot now."""
    name = posted.get("name").strip() or None

    def work(session: Session, visit: Visit) -> object:
        body = schemas.SnapshotCreate(name=name)
        return snapshots.create_snapshot(
            session, visit.me, runtime(visit.request), registry(visit.request), vm_id, body
        )

    return _act(posted, vm_id, work, "snapshot_asked")


@router.post("/vms/{vm_id}/snapshots/{snapshot_id}/restore")
def snapshot_restore(posted: PostedForm, vm_id: str, snapshot_id: str) -> Response:
    """Put the disk back to the snapshot (confirmed)."""

    def work(session: Session, visit: Visit) -> object:
        _confirmed(posted)
        return snapshots.restore_snapshot(
            session, visit.me, runtime(visit.request), vm_id, snapshot_id
        )

    return _act(posted, vm_id, work, "vm_action")


@router.post("/vms/{vm_id}/snapshots/{snapshot_id}/delete")
def snapshot_delete(posted: PostedForm, vm_id: str, snapshot_id: str) -> Response:
    """Delete the snapshot now."""

    def work(session: Session, visit: Visit) -> object:
        return snapshots.delete_snapshot(
            session, visit.me, runtime(visit.request), vm_id, snapshot_id
        )

    return _act(posted, vm_id, work, "done")


@router.post("/vms/{vm_id}/backup-plan")
def backup_plan(posted: PostedForm, vm_id: str) -> Response:
    """Back the VM up daily under one of its offer's backup options."""

    def work(session: Session, visit: Visit) -> object:
        body = schemas.BackupPlanSet(option=posted.get("option"))
        return backups.set_plan(session, visit.me, registry(visit.request), vm_id, body)

    return _act(posted, vm_id, work, "done")


@router.post("/vms/{vm_id}/backups")
def backup_take(posted: PostedForm, vm_id: str) -> Response:
    """Take a backup now (the VM needs a backup plan)."""

    def work(session: Session, visit: Visit) -> object:
        return backups.take_backup(
            session, visit.me, runtime(visit.request), registry(visit.request), vm_id
        )

    return _act(posted, vm_id, work, "vm_action")


@router.post("/vms/{vm_id}/backups/{backup_id}/restore")
def backup_restore(posted: PostedForm, vm_id: str, backup_id: str) -> Response:
    """Put the disk back to the backup (confirmed, 000 §5)."""

    def work(session: Session, visit: Visit) -> object:
        _confirmed(posted)
        return backups.restore_backup(session, visit.me, runtime(visit.request), vm_id, backup_id)

    return _act(posted, vm_id, work, "vm_action")


@router.post("/vms/{vm_id}/backups/{backup_id}/restore-as-new")
def backup_restore_as_new(posted: PostedForm, vm_id: str, backup_id: str) -> Response:
    """Restore the backup as a new VM on the same contract, the VM itself left as it is
    (000 §5 "restaurer … sur demande"; 002 §3.5); every check of a create applies."""
    name = posted.get("name").strip()

    def work(session: Session, visit: Visit) -> object:
        if not name:
            from nuages.kernel.errors import ValidationFailed

            raise ValidationFailed("name: give the new VM a name")
        return backups.restore_as_new_vm(
            session,
            visit.me,
            runtime(visit.request),
            registry(visit.request),
            vm_id,
            backup_id,
            name,
        )

    return _act(posted, vm_id, work, "vm_action")
