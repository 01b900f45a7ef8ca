"""REST endpoints of compute: VMs and their operations, SSH keys, images; staff: hosts
and IP pools. Long actions answer 202 with the operation to poll."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.compute import schemas
from nuages.compute.models import Operation, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import (
    access,
    backups,
    exports,
    hosts,
    images,
    ipam,
    keys,
    snapshots,
    vms,
)
from nuages.compute.states import Action, HostState
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Page, page_of

router = APIRouter(prefix="/api/v1", tags=["compute"])
ACCEPTED = status.HTTP_202_ACCEPTED


def runtime(request: Request) -> ComputeRuntime:
    """The compute runtime of this app, made from its settings on first use."""
    state = request.app.state
    found: ComputeRuntime | None = getattr(state, "compute", None)
    if found is None:
        found = ComputeRuntime(state.settings, database=state.database)
        state.compute = found
    return found


def registry(request: Request) -> OfferRegistry:
    """The offers loaded at start."""
    loaded: OfferRegistry = request.app.state.offers
    return loaded


def _accepted(vm: Vm, operation: Operation) -> dict[str, Any]:
    return {
        "operation": schemas.OperationOut.model_validate(operation),
        "vm": schemas.VmOut.model_validate(vm),
    }


# ---------------------------------------------------------------- VMs


@router.post("/vms", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def create_vm(
    body: schemas.VmCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Create a VM under a contract; poll the operation until it succeeded."""
    vm, operation = vms.create_vm(session, principal, runtime(request), registry(request), body)
    return _accepted(vm, operation)


@router.get("/vms", response_model=Page[schemas.VmOut])
def list_vms(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    include_deleted: Annotated[bool, Query()] = False,
) -> object:
    """The VMs the caller may see (a member: those given to them)."""
    items, total = vms.list_vms(session, principal, paging.page, paging.per_page, include_deleted)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/vms/{vm_id}", response_model=schemas.VmOut)
def get_vm(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One VM."""
    return vms.get_vm(session, principal, vm_id)


def _action(
    action: Action, vm_id: str, request: Request, principal: Any, session: Any
) -> dict[str, Any]:
    vm, operation = vms.request(session, principal, runtime(request), vm_id, action)
    return _accepted(vm, operation)


@router.post("/vms/{vm_id}/start", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def start_vm(vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Start a stopped VM."""
    return _action(Action.START, vm_id, request, principal, session)


@router.post("/vms/{vm_id}/stop", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def stop_vm(vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Stop a VM: ACPI power-off, forced after a timeout."""
    return _action(Action.STOP, vm_id, request, principal, session)


@router.post("/vms/{vm_id}/reboot", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def reboot_vm(vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Restart a running VM (ACPI reboot)."""
    return _action(Action.REBOOT, vm_id, request, principal, session)


@router.post("/vms/{vm_id}/reinstall", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def reinstall_vm(
    vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Restore the VM to its original state, blank of client data (000 §5)."""
    return _action(Action.REINSTALL, vm_id, request, principal, session)


@router.post("/vms/{vm_id}/resize", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def resize_vm(
    vm_id: str,
    body: schemas.VmResize,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Move a stopped VM to another flavour of its offer (003 §14.3); disks only grow."""
    vm, operation = vms.resize_vm(
        session, principal, runtime(request), registry(request), vm_id, body
    )
    return _accepted(vm, operation)


@router.delete("/vms/{vm_id}", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def delete_vm(vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Delete a VM: domain, disk, seed; its port or address goes back to the pool."""
    return _action(Action.DELETE, vm_id, request, principal, session)


@router.post("/vms/{vm_id}/suspend", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def suspend_vm(
    vm_id: str,
    body: schemas.VmSuspend,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff suspend a VM (000 §11.1, 004 §7): paused, reason kept."""
    vm, operation = vms.suspend_vm(session, principal, runtime(request), vm_id, body.reason)
    return _accepted(vm, operation)


@router.post("/vms/{vm_id}/resume", status_code=ACCEPTED, response_model=schemas.VmAccepted)
def resume_vm(vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff lift a VM's suspension once its cause is remedied (004 §7)."""
    return _action(Action.RESUME, vm_id, request, principal, session)


@router.get("/vms/{vm_id}/grants", response_model=list[schemas.GrantOut])
def list_grants(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The members a VM was given to."""
    return access.list_grants(session, principal, vm_id)


@router.post(
    "/vms/{vm_id}/grants", status_code=status.HTTP_201_CREATED, response_model=schemas.GrantOut
)
def grant_vm(
    vm_id: str, body: schemas.GrantCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Give a member this VM to operate (000 §5)."""
    return access.grant(session, principal, vm_id, body.user_id)


@router.delete("/vms/{vm_id}/grants/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_vm(vm_id: str, user_id: str, principal: PrincipalDep, session: SessionDep) -> None:
    """Take the VM back from a member."""
    access.revoke(session, principal, vm_id, user_id)


# ---------------------------------------------------------------- operations


@router.get("/operations", response_model=Page[schemas.OperationOut])
def list_operations(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    vm_id: Annotated[str | None, Query(max_length=36)] = None,
) -> object:
    """Operations on the caller's VMs, newest first."""
    items, total = vms.list_operations(session, principal, vm_id, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/operations/{operation_id}", response_model=schemas.OperationOut)
def get_operation(operation_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One operation: poll it until it succeeded or failed."""
    return vms.get_operation(session, principal, operation_id)


# ---------------------------------------------------------------- SSH keys


@router.post("/ssh-keys", status_code=status.HTTP_201_CREATED, response_model=schemas.SshKeyOut)
def create_key(body: schemas.SshKeyCreate, principal: PrincipalDep, session: SessionDep) -> object:
    """Store an OpenSSH public key (002 §3)."""
    return keys.create_key(session, principal, body)


@router.get("/ssh-keys", response_model=Page[schemas.SshKeyOut])
def list_keys(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """The caller's keys, and their client's."""
    items, total = keys.list_keys(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/ssh-keys/{key_id}", response_model=schemas.SshKeyOut)
def get_key(key_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One key."""
    return keys.get_key(session, principal, key_id)


@router.delete("/ssh-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_key(key_id: str, principal: PrincipalDep, session: SessionDep) -> None:
    """Delete a key."""
    keys.delete_key(session, principal, key_id)


# ---------------------------------------------------------------- images and hosts


@router.get("/images", response_model=Page[schemas.ImageOut])
def list_images(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """The image catalogue (and the client's own images)."""
    items, total = images.list_images(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/images/{image_id}", response_model=schemas.ImageOut)
def get_image(image_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One image."""
    return images.get_image(session, principal, image_id)


@router.get("/hosts", response_model=Page[schemas.HostOut])
def list_hosts(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """Hosts (staff: all; a client: its dedicated hosts). Added with `nuages host add`
    only: adding runs a boot probe on the machine itself (seconds, local files)."""
    items, total = hosts.list_hosts(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/hosts/{host_id}", response_model=schemas.HostOut)
def get_host(host_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One host."""
    return hosts.get_host(session, principal, host_id)


@router.patch("/hosts/{host_id}", response_model=schemas.HostOut)
def update_host(
    host_id: str, body: schemas.HostUpdate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff (admin scope) change a host: name, sites served, dedication, ratios."""
    return hosts.update(session, principal, host_id, body)


@router.post("/hosts/{host_id}/drain", response_model=schemas.HostOut)
def drain_host(host_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Stop placing new VMs on the host; its VMs run on (nothing is moved)."""
    return hosts.set_state(session, principal, host_id, HostState.DRAINING)


@router.post("/hosts/{host_id}/disable", response_model=schemas.HostOut)
def disable_host(host_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Take the host out of service: no placement, no reconciliation."""
    return hosts.set_state(session, principal, host_id, HostState.DISABLED)


@router.post("/hosts/{host_id}/enable", response_model=schemas.HostOut)
def enable_host(host_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Put a drained or disabled host back into service."""
    return hosts.set_state(session, principal, host_id, HostState.ACTIVE)


@router.post("/hosts/{host_id}/refresh", response_model=schemas.HostOut)
def refresh_host(
    host_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff (admin scope) read the host's size (vCPUs, RAM, disk) again from its
    hypervisor and record it when it moved; VMs placed there stay (history
    `host.refresh`, nothing written when nothing moved)."""
    return hosts.refresh(session, principal, runtime(request), host_id).host


@router.delete("/hosts/{host_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_host(host_id: str, principal: PrincipalDep, session: SessionDep) -> None:
    """Remove a host no VM is left on (409 while one is)."""
    hosts.remove(session, principal, host_id)


@router.post("/ip-pools", status_code=status.HTTP_201_CREATED, response_model=schemas.IpPoolOut)
def create_pool(body: schemas.IpPoolCreate, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff add fixed addresses on a bridged network of a site (003 §4)."""
    pool = ipam.create_pool(session, principal, body)
    return _pool_out(session, pool)


@router.get("/ip-pools", response_model=Page[schemas.IpPoolOut])
def list_pools(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """IP pools (staff)."""
    items, total = ipam.list_pools(session, principal, paging.page, paging.per_page)
    return page_of([_pool_out(session, p) for p in items], total, paging.page, paging.per_page)


@router.get("/ip-pools/{pool_id}", response_model=schemas.IpPoolOut)
def get_pool(pool_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One IP pool and how much of it is held."""
    return _pool_out(session, ipam.get_pool(session, principal, pool_id))


@router.delete("/ip-pools/{pool_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pool(pool_id: str, principal: PrincipalDep, session: SessionDep) -> None:
    """Remove a pool none of whose addresses is held."""
    ipam.delete_pool(session, principal, pool_id)


def _pool_out(session: Any, pool: Any) -> schemas.IpPoolOut:
    held, size = ipam.pool_usage(session, pool)
    out = schemas.IpPoolOut.model_validate(pool)
    return out.model_copy(update={"held": held, "size": size})


# ---------------------------------------------------------------- snapshots (002 §3)


def _snapshot_accepted(snapshot: Any, vm: Vm, operation: Operation) -> dict[str, Any]:
    return _accepted(vm, operation) | {"snapshot": schemas.SnapshotOut.model_validate(snapshot)}


@router.post(
    "/vms/{vm_id}/snapshots", status_code=ACCEPTED, response_model=schemas.SnapshotAccepted
)
def create_snapshot(
    vm_id: str,
    body: schemas.SnapshotCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Take a snapshot of the VM's disk, running or stopped; poll the operation. Refused
    (409) beyond the offer's limit (002 §3: 2 per VM)."""
    snap, vm, operation = snapshots.create_snapshot(
        session, principal, runtime(request), registry(request), vm_id, body
    )
    return _snapshot_accepted(snap, vm, operation)


@router.get("/vms/{vm_id}/snapshots", response_model=list[schemas.SnapshotOut])
def list_snapshots(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The VM's snapshots with their size and expiry, oldest first."""
    return snapshots.list_snapshots(session, principal, vm_id)


@router.get("/vms/{vm_id}/snapshots/{snapshot_id}", response_model=schemas.SnapshotOut)
def get_snapshot(
    vm_id: str, snapshot_id: str, principal: PrincipalDep, session: SessionDep
) -> object:
    """One snapshot of the VM."""
    return snapshots.get_snapshot(session, principal, vm_id, snapshot_id)


@router.post(
    "/vms/{vm_id}/snapshots/{snapshot_id}/restore",
    status_code=ACCEPTED,
    response_model=schemas.SnapshotAccepted,
)
def restore_snapshot(
    vm_id: str, snapshot_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Put the VM's disk back to the snapshot: stopped, reverted, started again if it
    was running; poll the operation."""
    snap, vm, operation = snapshots.restore_snapshot(
        session, principal, runtime(request), vm_id, snapshot_id
    )
    return _snapshot_accepted(snap, vm, operation)


@router.delete("/vms/{vm_id}/snapshots/{snapshot_id}", response_model=schemas.SnapshotOut)
def delete_snapshot(
    vm_id: str, snapshot_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Delete the snapshot now."""
    return snapshots.delete_snapshot(session, principal, runtime(request), vm_id, snapshot_id)


# ---------------------------------------------------------------- backups (002 §3.5)


@router.put("/vms/{vm_id}/backup-plan", response_model=schemas.BackupPlanOut)
def set_backup_plan(
    vm_id: str,
    body: schemas.BackupPlanSet,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Back the VM up daily under one of its offer's backup options (002 §3.5)."""
    return backups.set_plan(session, principal, registry(request), vm_id, body)


@router.delete("/vms/{vm_id}/backup-plan", status_code=status.HTTP_204_NO_CONTENT)
def end_backup_plan(vm_id: str, principal: PrincipalDep, session: SessionDep) -> None:
    """Stop the VM's backups; the option is no longer billed from now (002 §3.5) and
    the backups taken stay until their retention ends."""
    backups.end_plan(session, principal, vm_id)


@router.post("/vms/{vm_id}/backups", status_code=ACCEPTED, response_model=schemas.BackupAccepted)
def take_backup(
    vm_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Take a backup now (besides the daily one); poll the operation."""
    backup, vm, operation = backups.take_backup(
        session, principal, runtime(request), registry(request), vm_id
    )
    return _accepted(vm, operation) | {"backup": schemas.BackupOut.model_validate(backup)}


@router.get("/vms/{vm_id}/backups", response_model=schemas.BackupList)
def list_backups(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The VM's backups, newest first, and the volume they take (002 §3.5)."""
    listing = backups.list_backups(session, principal, vm_id)
    items = [
        schemas.BackupOut.model_validate(b).model_dump() | {"kept_until": listing.kept_until[b.id]}
        for b in listing.items
    ]
    return {"items": items, "volume_bytes": listing.volume_bytes}


@router.get("/contracts/{contract_id}/backup-volume", response_model=schemas.ContractBackupVolume)
def contract_backup_volume(
    contract_id: str, principal: PrincipalDep, session: SessionDep
) -> object:
    """What the contract's backups take, in all and per VM (002 §3.5: "volume de
    sauvegarde par VM affiché"); backups being taken count once written."""
    found = backups.contract_volumes(session, principal, contract_id)
    return {"contract_id": found.contract_id, "volume_bytes": found.volume_bytes, "vms": found.vms}


@router.post("/vms/{vm_id}/restore", status_code=ACCEPTED, response_model=schemas.BackupAccepted)
def restore_vm(
    vm_id: str,
    body: schemas.RestoreRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Restore the VM to one of its backups, or with ``original`` to its original state
    (000 §5, the reinstall); with ``as_new_vm`` and ``name`` the backup becomes a new VM
    on the same contract (``vm`` and ``operation`` are then the new VM and its create);
    poll the operation."""
    if body.original == (body.backup_id is not None):
        raise ValidationFailed("backup_id: name a backup, or set original to true (not both)")
    if body.as_new_vm and body.original:
        raise ValidationFailed("as_new_vm: a new VM is restored from a backup, not original")
    if body.as_new_vm != (body.name is not None):
        raise ValidationFailed("name: a restore as a new VM (as_new_vm) needs its name")
    if body.ssh_key_ids is not None and not body.as_new_vm:
        raise ValidationFailed("ssh_key_ids: only a restore as a new VM (as_new_vm) takes keys")
    if body.as_new_vm:
        assert body.backup_id is not None and body.name is not None
        backup, vm, operation = backups.restore_as_new_vm(
            session,
            principal,
            runtime(request),
            registry(request),
            vm_id,
            body.backup_id,
            body.name,
            body.ssh_key_ids,
        )
        return _accepted(vm, operation) | {"backup": schemas.BackupOut.model_validate(backup)}
    if body.original:
        vm, operation = vms.request(session, principal, runtime(request), vm_id, Action.REINSTALL)
        return _accepted(vm, operation)
    assert body.backup_id is not None
    backup, vm, operation = backups.restore_backup(
        session, principal, runtime(request), vm_id, body.backup_id
    )
    return _accepted(vm, operation) | {"backup": schemas.BackupOut.model_validate(backup)}


# ---------------------------------------------------------------- exports (000 §18)


@router.post("/vms/{vm_id}/exports", status_code=ACCEPTED, response_model=schemas.ExportAccepted)
def create_export(
    vm_id: str,
    body: schemas.ExportCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Export the VM's disk as a qcow2 (or raw) file with its SHA-256; poll the
    operation, then download it until ``expires_at``."""
    export, vm, operation = exports.create_export(session, principal, runtime(request), vm_id, body)
    return _accepted(vm, operation) | {
        "export": schemas.ExportOut.model_validate(export),
        "download": f"/api/v1/vms/{vm.id}/exports/{export.id}/download",
    }


@router.get("/vms/{vm_id}/exports", response_model=list[schemas.ExportOut])
def list_exports(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The VM's exports, newest first."""
    return exports.list_exports(session, principal, vm_id)


@router.get("/vms/{vm_id}/exports/{export_id}/download", response_class=FileResponse)
def download_export(
    vm_id: str, export_id: str, principal: PrincipalDep, session: SessionDep
) -> FileResponse:
    """The exported file (``X-Checksum-SHA256`` carries its checksum); 404 once the
    link expired."""
    export = exports.download(session, principal, vm_id, export_id)
    return FileResponse(
        export.path,
        media_type="application/octet-stream",
        filename=f"vm-{export.vm_id}.{export.disk_format}",
        headers={"X-Checksum-SHA256": export.sha256 or ""},
    )
