"""VM backups (002 §3.5: daily, outside working hours, 7 or 31 rolling days, in another
data centre than the VM, the volume per VM shown; 001 §2.2: 7 calendar days then
destroyed; 000 §5: restore to the last or an earlier backup on request).

- **Targets**: a directory of one site (``nuages backup targets add``). A VM's backups go
  only to a target whose site the VM's host does not serve; where none exists nuages
  refuses to plan or take a backup and says so.
- **Plan**: per VM, one of its offer's backup options (``[[catalogue.options]]`` of kind
  ``backup``: its ``retention_days``); the offer's ``[backups] available`` must be true.
- **Schedule**: ``run_due`` (a job every 15 min) asks for one backup a day per planned
  VM, inside the window (``[backups] window``): outside working hours, i.e. from 18:00
  to 08:00 the next morning in the contract's time zone (002 §6 business hours 08–18),
  or the whole day for ``any_time``. Each VM has its own start time in the window (a
  hash of its id over the first 80 % of it) so not every VM starts at once.
- **Copy**: the snapshots' point-in-time copy (libvirt's backup API while the VM runs,
  ``qemu-img convert`` when stopped), written under a hidden name, checked with
  ``qemu-img check``, hashed (BLAKE3, ``checksum``), then renamed; a copy killed
  half-way is never counted (crash recovery drops it) and the next run takes a new one.
- **Incremental**: while the VM runs, each backup starts a libvirt checkpoint (a QEMU
  dirty bitmap in the disk); the next backup of a running VM copies only the clusters
  changed since into a qcow2 whose backing file is the previous backup's
  (``parent_id``), verified the same way. A chain is at most ``CHAIN_MAX`` increments
  on one full backup; a stopped VM, a replaced disk (restore, reinstall) or a lost
  checkpoint gives a full backup. See docs/backups.md.
- **Retention**: ``expire`` deletes a backup once its option's retention, counted in
  calendar days in the contract's calendar, is over, but never one a live increment
  still builds on: a chain goes when its last increment expires (newest first, in one
  pass); until then its older backups stay listed and restorable (``kept_until``).
- **Restore**: an operation like the others: stop, disk rewritten from the backup,
  start again if it was running; the original state stays ``/reinstall``. Or as a new
  VM (``restore_as_new_vm``): an ordinary create on the same contract whose disk is
  copied from the backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.models import (
    BackupTarget,
    Image,
    Operation,
    SshKey,
    Vm,
    VmBackup,
    VmBackupOption,
    VmBackupPlan,
)
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import access, reads, retention, vms

# The targets and the listing live in their own modules; their names stay importable
# from here, where the API, CLI, portal and jobs look for them.
from nuages.compute.services.backup_listing import (
    CREATING,
    DELETED,
    FAILED,
    LIVE,
    READY,
    ContractVolume,
    Listing,
    contract_volume,
    contract_volumes,
    kept_until,
    list_backups,
)
from nuages.compute.services.backup_targets import add_target, list_targets, target_for, vm_sites
from nuages.compute.services.work import Job
from nuages.compute.states import Action, VmState, check_action
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.calendar import Unit
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database, after_commit
from nuages.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from nuages.terms.apply import calendar_for
from nuages.terms.schema import Offer

# 002 §6: working hours 08:00-18:00; backups run outside them.
WORK_START, WORK_END = dt.time(8), dt.time(18)
# Start times are spread over this share of the window, leaving the rest for the copies.
SPREAD = 0.8
FULL, INCREMENTAL = "full", "incremental"
# Increments on one full backup: with daily backups a full one each week, so that a
# chain's base is kept at most 6 days past its own retention.
CHAIN_MAX = 6

__all__ = [
    "CHAIN_MAX",
    "CREATING",
    "DELETED",
    "FAILED",
    "FULL",
    "INCREMENTAL",
    "LIVE",
    "READY",
    "SPREAD",
    "WORK_END",
    "WORK_START",
    "ContractVolume",
    "Listing",
    "RunReport",
    "add_target",
    "contract_volume",
    "contract_volumes",
    "end_plan",
    "expire",
    "expiry",
    "kept_until",
    "list_backups",
    "list_targets",
    "on_failure",
    "on_success",
    "restore_as_new_vm",
    "restore_backup",
    "run_due",
    "set_plan",
    "slot_of",
    "take_backup",
    "target_for",
    "vm_sites",
    "window_of",
]


# ---------------------------------------------------------------- plans


def _offer(session: Session, registry: OfferRegistry, vm: Vm) -> Offer:
    contract = session.get(Contract, vm.contract_id)
    if contract is None:  # pragma: no cover - foreign key
        raise NotFound("no such contract")
    return registry.for_contract(session, contract)


def set_plan(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    vm_id: str,
    data: schemas.BackupPlanSet,
) -> VmBackupPlan:
    """Back the VM up under one of its offer's backup options (002 §3.5: on request).
    Refused: an offer without backups (403), an option that is not one of its backup
    options (422), no target on another site (409). Replaces an earlier plan."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    access.require_feature(session, actor, vm, "backups")
    if vm.vm_state == VmState.DELETED.value:
        raise InvalidTransition("the VM is deleted")
    offer = _offer(session, registry, vm)
    if not offer.backups.available:
        raise Forbidden(f"offer {offer.id} includes no backups ({offer.backups.clause or '-'})")
    options = {o.id: o for o in offer.catalogue.options if o.kind.value == "backup"}
    option = options.get(data.option)
    if option is None or option.retention_days is None:
        known = ", ".join(options) or "none"
        raise ValidationFailed(
            f"option: {data.option!r} is not a backup option of {offer.id} ({known})"
        )
    target_for(session, vm)
    plan = session.execute(
        select(VmBackupPlan).where(VmBackupPlan.vm_id == vm.id)
    ).scalar_one_or_none()
    if plan is None or plan.option_id != option.id:
        _bill_option(session, vm, option.id)
    if plan is None:
        plan = VmBackupPlan(
            vm_id=vm.id,
            client_id=vm.client_id,
            option_id=option.id,
            retention_days=option.retention_days,
        )
        session.add(plan)
    else:
        plan.option_id, plan.retention_days = option.id, option.retention_days
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.backup_plan",
        params={"option": option.id, "retention_days": option.retention_days},
        client_id=vm.client_id,
    )
    return plan


def _bill_option(session: Session, vm: Vm, option_id: str | None) -> None:
    """Close the VM's open option period now and, with ``option_id``, open one for it
    (002 §3.5: the option is billed per VM for the days it is on)."""
    now = utc_now()
    session.execute(
        update(VmBackupOption)
        .where(VmBackupOption.vm_id == vm.id, VmBackupOption.until.is_(None))
        .values(until=now)
        .execution_options(synchronize_session=False)
    )
    if option_id is not None:
        session.add(
            VmBackupOption(
                vm_id=vm.id,
                client_id=vm.client_id,
                contract_id=vm.contract_id,
                option_id=option_id,
                since=now,
            )
        )
    session.flush()


def end_plan(session: Session, actor: Principal, vm_id: str) -> None:
    """Stop backing the VM up: no more scheduled backups and the option is no longer
    billed from now (002 §3.5); the backups taken stay until their retention ends."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    access.require_feature(session, actor, vm, "backups")
    plan = session.execute(
        select(VmBackupPlan).where(VmBackupPlan.vm_id == vm.id)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound("the VM has no backup plan")
    option_id = plan.option_id
    session.delete(plan)
    _bill_option(session, vm, None)
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.backup_plan_end",
        params={"option": option_id},
        client_id=vm.client_id,
    )


# ---------------------------------------------------------------- backups


def expiry(offer: Offer, taken_at: dt.datetime, retention_days: int) -> dt.datetime:
    """When a backup is destroyed: ``retention_days`` calendar days after the day it
    was taken, in the contract's calendar (001 §2.2 "7 calendar days then destroyed";
    002 §3.5 "7 or 31 rolling days": the day taken does not count)."""
    return calendar_for(offer).add(taken_at, retention_days, Unit.CALENDAR_DAYS)


def take_backup(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    vm_id: str,
    *,
    scheduled: bool = False,
) -> tuple[VmBackup, Vm, Operation]:
    """Ask for a backup of a planned VM now; answered with the operation to poll."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    access.require_feature(session, actor, vm, "backups")
    check_action(Action.BACKUP, vm.vm_state, vm.task_state, staff=actor.is_staff)
    plan = session.execute(
        select(VmBackupPlan).where(VmBackupPlan.vm_id == vm.id)
    ).scalar_one_or_none()
    if plan is None:
        raise InvalidTransition("the VM has no backup plan; choose a backup option first")
    target = target_for(session, vm)
    offer = _offer(session, registry, vm)
    now = utc_now()
    backup_id = str(uuid.uuid4())
    path = Path(target.path) / vm.client_id / vm.id / f"{backup_id}.qcow2"
    backup = VmBackup(
        id=backup_id,
        vm_id=vm.id,
        client_id=vm.client_id,
        target_id=target.id,
        path=str(path),
        state=CREATING,
        scheduled=scheduled,
        created_at=now,
        expires_at=expiry(offer, now, plan.retention_days),
    )
    session.add(backup)
    session.flush()
    params = {
        "backup_id": backup.id,
        "path": str(path),
        "root": target.path,
        "target": target.name,
        "site": target.site,
    }
    parent = _parent_for(session, vm, target)
    if parent is not None:
        # The worker takes an increment on it if the VM runs and its checkpoint lives.
        params.update(parent_id=parent.id, parent_path=parent.path)
    vm, operation = vms.request(session, actor, runtime, vm.id, Action.BACKUP, params, vm=vm)
    backup.operation_id = operation.id
    return backup, vm, operation


def _parent_for(session: Session, vm: Vm, target: BackupTarget) -> VmBackup | None:
    """The backup an increment would build on: the VM's newest ready one on this
    target, unless its chain already holds ``CHAIN_MAX`` increments."""
    newest = (
        session.execute(
            select(VmBackup)
            .where(
                VmBackup.vm_id == vm.id,
                VmBackup.target_id == target.id,
                VmBackup.state == READY,
            )
            .order_by(VmBackup.created_at.desc(), VmBackup.id)
            .limit(1)
        )
        .scalars()
        .first()
    )
    if newest is None or Path(newest.path).parent != Path(target.path) / vm.client_id / vm.id:
        return None
    depth, current = 0, newest
    while current.parent_id is not None:
        depth += 1
        found = session.get(VmBackup, current.parent_id)
        if found is None or depth >= CHAIN_MAX:
            return None
        current = found
    return newest


def restore_backup(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, backup_id: str
) -> tuple[VmBackup, Vm, Operation]:
    """Put the VM's disk back to one of its backups (000 §5); another VM's backup is 404."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    backup = session.get(VmBackup, backup_id)
    if backup is None or backup.vm_id != vm.id or backup.state not in LIVE:
        raise NotFound("no such backup of this VM")
    if backup.state != READY:
        raise InvalidTransition("the backup is still being taken")
    params = {"backup_id": backup.id, "path": backup.path}
    vm, operation = vms.request(session, actor, runtime, vm.id, Action.RESTORE, params, vm=vm)
    return backup, vm, operation


def restore_as_new_vm(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    vm_id: str,
    backup_id: str,
    name: str,
    ssh_key_ids: list[str] | None = None,
) -> tuple[VmBackup, Vm, Operation]:
    """Restore a backup as a new VM named ``name`` (000 §5 "restaurer … sur demande";
    002 §3.5), beside the VM it was taken of, which is left as it is. Its seed gets
    ``ssh_key_ids``, by default the keys the VM restored was created with that the
    client still has (a restored guest is reachable like the one it copies); a managed
    server gets none (002 §3.8.2).

    The new VM is an ordinary create on the same contract, with the source VM's
    flavour and image, through ``vms.create_vm``: every check of a create applies
    (contract formed, the offer lets this caller create VMs, name free, a host with
    room, an address), then placement, IPAM, the operation and its history. Its disk
    is a standalone copy of the backup's content (the backup may expire the next day).
    Answered with the backup, the new VM and its create operation."""
    vm = access.load_vm(session, actor, vm_id)
    backup = session.get(VmBackup, backup_id)
    if backup is None or backup.vm_id != vm.id or backup.state not in LIVE:
        raise NotFound("no such backup of this VM")
    if backup.state != READY:
        raise InvalidTransition("the backup is still being taken")
    if not session.execute(
        select(Image.id).where(Image.id == vm.image_id, Image.active.is_(True))
    ).first():
        raise Conflict(
            "the image the VM was created from is no longer available; the backup can "
            "only be restored in place"
        )
    if ssh_key_ids is None:
        ssh_key_ids = [] if vm.managed else _keys_still_held(session, vm)
    data = schemas.VmCreate(
        contract_id=vm.contract_id,
        flavour=vm.flavour_id,
        image=vm.image_id,
        name=name,
        managed=vm.managed,
        ssh_key_ids=ssh_key_ids,
    )
    disk_from = {
        "from_backup_id": backup.id,
        "from_backup_path": backup.path,
        "from_vm_id": vm.id,
    }
    new_vm, operation = vms.create_vm(session, actor, runtime, registry, data, disk_from=disk_from)
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.restore_as_new_vm",
        params={"backup_id": backup.id, "vm_id": new_vm.id, "operation_id": operation.id},
        client_id=vm.client_id,
        outcome="accepted",
    )
    return backup, new_vm, operation


def _keys_still_held(session: Session, vm: Vm) -> list[str]:
    """The key ids ``vm`` was created with that its client still has."""
    wanted = reads.created_with_keys(session, vm.id)
    if not wanted:
        return []
    held = set(
        session.execute(
            select(SshKey.id).where(SshKey.id.in_(wanted), SshKey.client_id == vm.client_id)
        ).scalars()
    )
    return [k for k in wanted if k in held]


# ---------------------------------------------------------------- jobs


def window_of(offer: Offer, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The backup window holding or following ``at`` (UTC bounds): 18:00 → 08:00 local
    outside working hours (002 §3.5, §6), or the local day for ``any_time``."""
    tz = ZoneInfo(calendar_for(offer).tz_name)
    local = at.astimezone(tz)
    if offer.backups.window == "any_time":
        start = dt.datetime.combine(local.date(), dt.time(0), tz)
        return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)
    day = local.date() if local.time() >= WORK_END else local.date() - dt.timedelta(days=1)
    start = dt.datetime.combine(day, WORK_END, tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), WORK_START, tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def slot_of(vm_id: str, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The VM's own start time in a window: the same place every night, spread by a
    hash of its id over the first ``SPREAD`` of the window."""
    span = (end - start).total_seconds() * SPREAD
    fraction = int(hashlib.sha256(vm_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return start + dt.timedelta(seconds=int(span * fraction))


@dataclass
class RunReport:
    """What one scheduling pass did."""

    requested: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def run_due(
    database: Database,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    actor: Principal,
    *,
    vm_id: str | None = None,
) -> RunReport:
    """Ask for the backups due now: one per planned VM per window, from its slot on
    (``vm_id``: that VM now, whatever the window). A VM busy or without a target of
    another site is left for the next pass, with the reason in the report."""
    report = RunReport()
    now = utc_now()
    with database.unit() as session:
        stmt = select(VmBackupPlan.vm_id).order_by(VmBackupPlan.created_at)
        if vm_id is not None:
            stmt = stmt.where(VmBackupPlan.vm_id == vm_id)
        planned = list(session.execute(stmt).scalars())
    if vm_id is not None and not planned:
        report.refused[vm_id] = "the VM has no backup plan"
    for planned_id in planned:
        try:
            with database.unit() as session:
                vm = session.get(Vm, planned_id)
                if vm is None or vm.vm_state not in (VmState.RUNNING.value, VmState.STOPPED.value):
                    continue
                if vm_id is None and not _due(session, registry, vm, now):
                    continue
                backup, _vm, _op = take_backup(
                    session, actor, runtime, registry, vm.id, scheduled=vm_id is None
                )
                report.requested.append(backup.id)
        except (Conflict, NotFound, Forbidden) as exc:
            report.refused[planned_id] = exc.detail
    return report


def _due(session: Session, registry: OfferRegistry, vm: Vm, now: dt.datetime) -> bool:
    offer = _offer(session, registry, vm)
    start, end = window_of(offer, now)
    if not (slot_of(vm.id, start, end) <= now < end):
        return False
    since = start - dt.timedelta(days=6) if offer.backups.frequency == "weekly" else start
    taken = session.execute(
        select(VmBackup.id).where(
            VmBackup.vm_id == vm.id,
            VmBackup.scheduled.is_(True),
            VmBackup.state.in_(LIVE),
            VmBackup.created_at >= since,
        )
    ).first()
    return taken is None


def expire(database: Database, runtime: ComputeRuntime) -> list[str]:
    """Destroy every ready backup whose retention is over (001 §2.2, 002 §3.5); a VM
    with an operation in flight keeps them until the next pass. Returns the ids."""
    who = Actor.system("backup retention")

    def drop(session: Session, backup: VmBackup, vm: Vm, now: dt.datetime) -> bool:
        needed = session.execute(
            select(VmBackup.id).where(VmBackup.parent_id == backup.id, VmBackup.state.in_(LIVE))
        ).first()
        if needed is not None:
            return False  # an increment reads it: the chain goes with its last increment
        done = session.execute(
            update(VmBackup)
            .where(VmBackup.id == backup.id, VmBackup.state == READY)
            .values(state=DELETED, deleted_at=now, deleted_reason="expired")
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False
        history.record(
            session,
            who,
            object_type="vm",
            object_id=vm.id,
            action="vm.backup_delete",
            params={"backup_id": backup.id, "reason": "expired"},
            client_id=vm.client_id,
        )
        path = Path(backup.path)
        after_commit(session, lambda p=path: p.unlink(missing_ok=True))  # type: ignore[misc]
        return True

    # Newest first: a chain's increments go before the backups they build on.
    return retention.expire_due(database, VmBackup, drop, newest_first=True)


def on_success(session: Session, job: Job) -> None:
    """A backup operation succeeded: the backup is ready, with size and checksum."""
    if job.kind == Action.BACKUP.value:
        _settle_row(session, job, READY, job.extra)


def on_failure(session: Session, job: Job) -> None:
    """A backup operation failed or was interrupted: nothing of it counts."""
    if job.kind == Action.BACKUP.value:
        _settle_row(session, job, FAILED, {})


def _settle_row(session: Session, job: Job, state: str, values: dict[str, Any]) -> None:
    keys = ("size_bytes", "virtual_bytes", "sha256", "checksum", "kind", "parent_id")
    columns = {k: values[k] for k in keys if k in values}
    session.execute(
        update(VmBackup)
        .where(VmBackup.id == str(job.params["backup_id"]), VmBackup.state == CREATING)
        .values(state=state, **columns)
        .execution_options(synchronize_session=False)
    )
