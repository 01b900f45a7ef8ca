"""Asking for VMs and actions on them (002 §3: create, resize, stop, restart, delete;
000 §5: restore to the original state).

Each request checks who asks and whether the VM's state allows the action (the tables of
``nuages.compute.states``), takes the VM's task slot with a compare-and-swap, writes a
queued ``Operation`` and the history entry, and hands the operation to the executor
once the transaction commits. The work itself is ``operations.run_operation``.
Bad input is refused before anything is written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute import schemas
from nuages.compute.hypervisor import PowerState
from nuages.compute.models import Host, Operation, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import access, images, ipam, keys, placement
from nuages.compute.states import (
    TASK_OF_CREATE,
    Action,
    OperationState,
    VmState,
    check_action,
)
from nuages.contracts.holds import refuse_if_held
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.service import require_provisioning
from nuages.history import service as history
from nuages.kernel.access import get_visible
from nuages.kernel.errors import (
    AlreadyExists,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from nuages.kernel.pagination import paginate
from nuages.terms import apply
from nuages.terms.schema import Offer
from nuages.terms.schema_catalogue import Flavour


def _flavour(offer: Offer, flavour_id: str) -> Flavour:
    for flavour in offer.catalogue.flavours:
        if flavour.id == flavour_id:
            return flavour
    known = ", ".join(f.id for f in offer.catalogue.flavours)
    raise ValidationFailed(f"flavour: {flavour_id!r} is not sold by offer {offer.id} ({known})")


def _contract(session: Session, actor: Principal, contract_id: str) -> Contract:
    return get_visible(session, actor, Contract, contract_id, "contract")


def _name_free(session: Session, client_id: str, name: str) -> None:
    taken = session.execute(
        select(Vm.id).where(
            Vm.client_id == client_id, Vm.name == name, Vm.vm_state != VmState.DELETED.value
        )
    ).first()
    if taken:
        raise AlreadyExists(f"this client already has a VM named {name}")


def create_vm(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    data: schemas.VmCreate,
    *,
    disk_from: dict[str, Any] | None = None,
) -> tuple[Vm, Operation]:
    """Ask for a new VM under a contract; answered with the create operation to poll.
    ``disk_from`` (a restore as a new VM, 000 §5) names the backup its disk is copied
    from instead of the image's blank overlay; it goes into the operation's params.

    Checks, before anything is written: the contract is the caller's and formed
    (000 §3.1), the flavour is one of its offer's, the image fits the flavour's disk,
    the name is free, the keys are the client's, a host allowed by the offer has room
    (``CapacityExhausted`` otherwise) and a port or address is left.
    """
    actor.require(Scope.WRITE)
    contract = _contract(session, actor, data.contract_id)
    access.require_manager(actor, contract.client_id, "create VMs")
    require_provisioning(session, contract)
    offer = registry.for_contract(session, contract)
    # 002 §3: an offer whose features "se limitent exclusivement" to a list refuses what
    # it does not list (403 naming the clause) before anything is written. Essentiel
    # lists creation with resources (its service sentence, read per SPEC §17), not SSH keys.
    apply.check_client_feature(offer, "create_vm", managed=False, staff=actor.is_staff)
    if data.managed and not any(o.kind == "managed_service" for o in offer.catalogue.options):
        raise ValidationFailed(f"managed: offer {offer.id} sells no managed service (002 §3.8)")
    if data.ssh_key_ids:
        if data.managed and not actor.is_staff:
            raise Forbidden(
                "ssh_key_ids: a managed server gives the client no direct access, no SSH "
                "key (002 §3.8.2)"
            )
        apply.check_client_feature(offer, "ssh_keys", managed=False, staff=actor.is_staff)
    flavour = _flavour(offer, data.flavour)
    image = images.find_for_vm(session, contract.client_id, data.image)
    if image.min_disk_gib > flavour.disk_gib:
        raise ValidationFailed(
            f"image: {image.name} needs a {image.min_disk_gib} GiB disk; flavour "
            f"{flavour.id} has {flavour.disk_gib} GiB"
        )
    _name_free(session, contract.client_id, data.name)
    chosen = keys.keys_for_vm(session, contract.client_id, data.ssh_key_ids)
    need = placement.Request(flavour.vcpu, flavour.ram_mib, flavour.disk_gib)
    host = placement.choose_host(session, offer, contract.client_id, need)

    vm = Vm(
        id=str(uuid.uuid4()),
        client_id=contract.client_id,
        contract_id=contract.id,
        name=data.name,
        flavour_id=flavour.id,
        image_id=image.id,
        host_id=host.id,
        vcpus=flavour.vcpu,
        ram_mib=flavour.ram_mib,
        disk_gib=flavour.disk_gib,
        vm_state=VmState.BUILDING.value,
        task_state=TASK_OF_CREATE.value,
        power_state=PowerState.UNKNOWN.value,
        managed=data.managed,
    )
    try:
        with session.begin_nested():
            session.add(vm)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"this client already has a VM named {data.name}") from None
    ipam.lease(session, runtime, host, vm)
    params: dict[str, Any] = {
        "ssh_keys": [k.public_key for k in chosen],
        "key_ids": [k.id for k in chosen],
    }
    params.update(disk_from or {})
    operation = _operation(session, actor, vm, Action.CREATE, params)
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.create",
        params={
            "operation_id": operation.id,
            "name": vm.name,
            "contract_id": contract.id,
            "flavour": flavour.id,
            "image": image.name,
            "host_id": host.id,
            "ssh_key_ids": [k.id for k in chosen],
            "ssh_port": vm.ssh_port,
            "ip_address": vm.ip_address,
            **{k: v for k, v in (disk_from or {}).items() if k != "from_backup_path"},
        },
        client_id=vm.client_id,
        outcome="accepted",
    )
    runtime.dispatch(session, operation.id)
    return vm, operation


def _operation(
    session: Session, actor: Principal, vm: Vm, action: Action, params: dict[str, Any]
) -> Operation:
    operation = Operation(
        vm_id=vm.id,
        client_id=vm.client_id,
        kind=action.value,
        state=OperationState.QUEUED.value,
        params=json.dumps(params, sort_keys=True),
        requested_by=actor.user_id,
    )
    try:
        with session.begin_nested():
            session.add(operation)
            session.flush()
    except IntegrityError:
        raise InvalidTransition("another operation is in flight on this VM") from None
    return operation


def request(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    vm_id: str,
    action: Action,
    params: dict[str, Any] | None = None,
    *,
    vm: Vm | None = None,
) -> tuple[Vm, Operation]:
    """Ask for ``action`` on a VM: state checked against the table, task slot taken
    with a compare-and-swap, operation queued."""
    vm = vm or access.load_vm(session, actor, vm_id, write=True)
    feature = access.ACTION_FEATURES.get(action)
    if feature is not None:
        access.require_feature(session, actor, vm, feature)
    if not actor.is_staff:
        # 003 §8, 004 §7: a held contract blocks every client-side act, before and
        # after its VMs are paused; staff still act.
        contract = session.get(Contract, vm.contract_id)
        if contract is not None:
            refuse_if_held(session, contract, f"{action.value} a VM")
    task = check_action(action, vm.vm_state, vm.task_state, staff=actor.is_staff)
    taken = session.execute(
        update(Vm)
        .where(Vm.id == vm.id, Vm.task_state.is_(None), Vm.vm_state == vm.vm_state)
        .values(task_state=task.value)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the VM changed meanwhile; read it again")
    session.refresh(vm)
    params = {"was": vm.vm_state, **(params or {})}
    if vm.managed and actor.is_staff:
        # 002 §3.8.2: staff administer a managed server for the client; say so.
        params["done_for_client"] = vm.client_id
    operation = _operation(session, actor, vm, action, params)
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action=f"vm.{action.value}",
        params={"operation_id": operation.id, **params},
        client_id=vm.client_id,
        outcome="accepted",
    )
    runtime.dispatch(session, operation.id)
    return vm, operation


def resize_vm(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    registry: OfferRegistry,
    vm_id: str,
    data: schemas.VmResize,
) -> tuple[Vm, Operation]:
    """Move a stopped VM to another flavour of its offer (003 §14.3); the disk only
    grows, and the host must have room for the difference."""
    vm = access.load_vm(session, actor, vm_id, write=True)
    check_action(Action.RESIZE, vm.vm_state, vm.task_state, staff=actor.is_staff)
    contract = session.get(Contract, vm.contract_id)
    if contract is None:  # pragma: no cover - foreign key
        raise NotFound("no such contract")
    require_provisioning(session, contract)
    flavour = _flavour(registry.for_contract(session, contract), data.flavour)
    if flavour.id == vm.flavour_id:
        raise ValidationFailed(f"flavour: the VM is already {flavour.id}")
    if flavour.disk_gib < vm.disk_gib:
        raise ValidationFailed(
            f"flavour: {flavour.id} has a {flavour.disk_gib} GiB disk; the VM's "
            f"{vm.disk_gib} GiB disk can only grow"
        )
    host = session.get(Host, vm.host_id) if vm.host_id else None
    if host is None:
        raise InvalidTransition("the VM has no host; delete it and create it again")
    need = placement.Request(flavour.vcpu, flavour.ram_mib, flavour.disk_gib)
    placement.check_growth(session, host, vm, need)
    params = {
        "flavour_id": flavour.id,
        "vcpus": flavour.vcpu,
        "ram_mib": flavour.ram_mib,
        "disk_gib": flavour.disk_gib,
    }
    return request(session, actor, runtime, vm.id, Action.RESIZE, params, vm=vm)


def suspend_vm(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, reason: str
) -> tuple[Vm, Operation]:
    """The provider suspends a VM: paused, access blocked, reason kept (000 §11.1,
    003 §8, 004 §7)."""
    return request(session, actor, runtime, vm_id, Action.SUSPEND, {"reason": reason})


def get_vm(session: Session, actor: Principal, vm_id: str) -> Vm:
    """A VM the caller may see."""
    return access.load_vm(session, actor, vm_id)


def list_vms(
    session: Session,
    actor: Principal,
    page: int,
    per_page: int,
    include_deleted: bool = False,
    *,
    state: str | None = None,
    name: str | None = None,
) -> tuple[list[Vm], int]:
    """The VMs the caller may see, oldest first; deleted ones on request; filtered by
    state and by a part of the name (the portal's list filters)."""
    actor.require(Scope.READ)
    stmt = access.visible_vms(actor, select(Vm).order_by(Vm.created_at, Vm.id))
    if state is not None:
        stmt = stmt.where(Vm.vm_state == state)
    elif not include_deleted:
        stmt = stmt.where(Vm.vm_state != VmState.DELETED.value)
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Vm.name.like(f"%{escaped}%", escape="\\"))
    return paginate(session, stmt, page, per_page)


def get_operation(session: Session, actor: Principal, operation_id: str) -> Operation:
    """An operation on a VM the caller may see."""
    actor.require(Scope.READ)
    operation = session.get(Operation, operation_id)
    if operation is None:
        raise NotFound("no such operation")
    vm = session.get(Vm, operation.vm_id)
    if vm is None or not access.can_see(session, actor, vm):
        raise NotFound("no such operation")
    return operation


def list_operations(
    session: Session, actor: Principal, vm_id: str | None, page: int, per_page: int
) -> tuple[list[Operation], int]:
    """Operations on the VMs the caller may see, newest first."""
    actor.require(Scope.READ)
    visible = access.visible_vms(actor, select(Vm.id))
    stmt = (
        select(Operation)
        .where(Operation.vm_id.in_(visible))
        .order_by(Operation.created_at.desc(), Operation.id)
    )
    if vm_id is not None:
        stmt = stmt.where(Operation.vm_id == vm_id)
    return paginate(session, stmt, page, per_page)
