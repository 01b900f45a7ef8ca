"""What an authorised extension does to the infrastructure (000 §8), through compute's
own services: extra VMs created while it runs and removed after it, or one VM's
resources raised for the period and put back.

``run_pass`` (the job ``billing_extensions``, every minute) brings every extension in
line with its period, one extension per transaction:

- ``vms``: while ``[active_from, ends_at)`` runs, compute is asked for the missing VMs
  (flavour ``item_id``, the extension's image and keys), each created by
  ``compute.services.vms.create_vm`` like any other VM (the operation runs on the job
  queue after the commit) and marked with the extension's id in ``vms.extension_id``,
  which metering bills as the extension's VM-hours. A create that failed (VM in
  ``error``) is tried again, at most ``quantity`` more times in all. Once ``ends_at``
  plus ``NUAGES_BILLING_EXTENSION_GRACE_MINUTES`` has passed, every VM of the extension
  is deleted through compute; when none is left the extension is ``released``.
- ``resources``: the VM gets the vCPU and RAM of flavour ``item_id`` while it runs (a
  running VM is stopped, resized and started again: compute resizes stopped VMs only),
  and its own vCPU and RAM back after the end and the grace period, the same way. Its
  flavour and disk stay what they were: the extension pays the difference.

The grace period (000 §8 is silent): the extra VMs are billed until ``ends_at`` only,
and kept running, unbilled, for the grace period (60 minutes by default) so that work
in progress can finish and results be copied before they are deleted; read in the
client's favour (SPEC §17).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.billing import schemas
from nuages.billing.models import Extension, ExtensionState
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.compute import schemas as compute_schemas
from nuages.compute.services import exported as compute
from nuages.compute.services import images, keys
from nuages.compute.services import reads as compute_reads
from nuages.compute.states import Action, VmState
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError, ValidationFailed
from nuages.terms.schema import Offer
from nuages.terms.schema_catalogue import Flavour

# The provider acting through billing: extension VMs are created and removed by staff.
BILLING_STAFF = Principal.staff("billing")

log = logging.getLogger("nuages.billing.extensions")
UnitOfWork = Callable[[], AbstractContextManager[Session]]
WHO = Actor.system("billing extensions")
S = ExtensionState
# The extension states whose infrastructure may still exist.
LIVE = (S.APPROVED.value, S.ENDED.value)


def flavour_of(offer: Offer, flavour_id: str) -> Flavour:
    """The offer's flavour ``flavour_id`` (checked by the caller to exist)."""
    return next(f for f in offer.catalogue.flavours if f.id == flavour_id)


def check_order(
    session: Session, offer: Offer, contract: Contract, data: schemas.ExtensionCreate
) -> dict[str, Any]:
    """The columns an ordered extension of ``data.kind`` needs, checked; 422 (nothing
    written) for an image, key or VM that does not fit."""
    if data.kind == "vms":
        flavour = flavour_of(offer, data.item_id)
        image_id = None
        if data.image is not None:
            image = images.find_for_vm(session, contract.client_id, data.image)
            if image.min_disk_gib > flavour.disk_gib:
                raise ValidationFailed(
                    f"image: {image.name} needs a {image.min_disk_gib} GiB disk; flavour "
                    f"{flavour.id} has {flavour.disk_gib} GiB"
                )
            image_id = image.id
        if data.ssh_key_ids is not None:
            keys.keys_for_vm(session, contract.client_id, data.ssh_key_ids)
        return {
            "image_id": image_id,
            "ssh_key_ids": json.dumps(data.ssh_key_ids),
        }
    if data.kind == "resources":
        if data.vm_id is None:
            raise ValidationFailed("vm_id: a resources extension names the VM to enlarge")
        if data.quantity != 1:
            raise ValidationFailed("quantity: a resources extension enlarges one VM")
        vm = compute_reads.vm(session, data.vm_id)
        if vm is None or vm.contract_id != contract.id or vm.vm_state == VmState.DELETED:
            raise ValidationFailed("vm_id: no such VM under this contract")
        if vm.extension_id is not None:
            raise ValidationFailed("vm_id: the VM is itself an extension's")
        flavour = flavour_of(offer, data.item_id)
        if flavour.vcpu < vm.vcpus or flavour.ram_mib < vm.ram_mib:
            raise ValidationFailed(f"item_id: {flavour.id} would take resources away")
        if (flavour.vcpu, flavour.ram_mib) == (vm.vcpus, vm.ram_mib):
            raise ValidationFailed(f"item_id: the VM already has the resources of {flavour.id}")
        busy = session.execute(
            select(Extension.id).where(
                Extension.vm_id == vm.id,
                Extension.state.in_([S.PENDING.value, *LIVE]),
                Extension.released_at.is_(None),
            )
        ).first()
        if busy is not None:
            raise ValidationFailed("vm_id: another resources extension holds this VM")
        return {"vm_id": vm.id, "base_vcpus": vm.vcpus, "base_ram_mib": vm.ram_mib}
    return {}


@dataclass
class PassReport:
    """What one pass asked of compute."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def due(session: Session, now: dt.datetime) -> list[str]:
    """Extensions that may have infrastructure to create, change or remove at ``now``:
    authorised (running or ended) VM and resources extensions not released yet."""
    return list(
        session.execute(
            select(Extension.id)
            .where(
                Extension.kind.in_(["vms", "resources"]),
                Extension.state.in_(LIVE),
                Extension.released_at.is_(None),
                Extension.active_from.is_not(None),
                Extension.active_from <= now,
            )
            .order_by(Extension.created_at, Extension.id)
        ).scalars()
    )


def run_pass(
    unit: UnitOfWork,
    registry: OfferRegistry,
    now: dt.datetime | None = None,
    settings: BillingSettings | None = None,
) -> PassReport:
    """One pass over the extensions (see the module's docstring); each extension in its
    own transaction, so one that compute refuses (no room left) never holds up others."""
    from nuages.billing import extensions

    settings = settings or get_billing_settings()
    now = now or utc_now()
    grace = dt.timedelta(minutes=settings.extension_grace_minutes)
    report = PassReport()
    with unit() as session:
        extensions.expire(session, now)
        ids = due(session, now)
    for ext_id in ids:
        try:
            with unit() as session:
                ext = session.get(Extension, ext_id)
                if ext is None or ext.active_from is None or ext.active_from > now:
                    continue
                taking_back = now >= ext.ends_at + grace
                if ext.kind == "vms":
                    if taking_back:
                        _remove_vms(session, ext, now, report)
                    elif now < ext.ends_at:
                        _create_vms(session, registry, ext, report)
                elif ext.kind == "resources":
                    _resources(session, registry, ext, now, taking_back, report)
        except NuagesError as exc:
            log.info("extension %s: %s", ext_id, exc.detail)
            report.problems.append(f"{ext_id}: {exc.detail}")
    return report


def _create_vms(
    session: Session, registry: OfferRegistry, ext: Extension, report: PassReport
) -> None:
    counts = compute_reads.extension_state_counts(session, ext.id)
    made = sum(counts.values())
    have = made - counts.get(VmState.ERROR.value, 0)
    # A failed create is tried again, but never more than ``quantity`` extra times.
    missing = min(ext.quantity - have, 2 * ext.quantity - made)
    if missing <= 0:
        return
    image_id, key_ids = ext.image_id, json.loads(ext.ssh_key_ids or "null")
    model = compute_reads.model_vm(session, ext.contract_id)
    if image_id is None or key_ids is None:
        if model is None:
            raise ValidationFailed(
                "the contract has no VM whose image the extension's VMs could copy; "
                "order it with an image"
            )
        image_id = image_id or model.image_id
        key_ids = (
            key_ids if key_ids is not None else compute_reads.created_with_keys(session, model.id)
        )
    for n in range(made + 1, made + missing + 1):
        data = compute_schemas.VmCreate(
            contract_id=ext.contract_id,
            flavour=ext.item_id,
            image=image_id,
            name=f"ext-{ext.id[:8]}-{n}",
            ssh_key_ids=key_ids,
        )
        try:
            with session.begin_nested():
                asked = compute.create_vm(
                    session, BILLING_STAFF, registry, data, extension_id=ext.id
                )
        except NuagesError as exc:
            # No room for this one (or the contract cannot provision now): keep the VMs
            # already asked for and try the rest at the next pass.
            report.problems.append(f"{ext.id}: {exc.detail}")
            return
        history.record(
            session,
            WHO,
            object_type="extension",
            object_id=ext.id,
            action="extension.vm_create",
            params={
                "vm_id": asked.vm_id,
                "name": asked.vm_name,
                "operation_id": asked.operation_id,
            },
            client_id=ext.client_id,
        )
        report.created.append(asked.vm_id)


def _remove_vms(session: Session, ext: Extension, now: dt.datetime, report: PassReport) -> None:
    left = compute_reads.extension_vms(session, ext.id)
    for vm in left:
        if vm.task_state is not None:
            continue  # an operation in flight (a create, a delete): look again next pass
        try:
            with session.begin_nested():
                asked = compute.request(session, BILLING_STAFF, vm.id, Action.DELETE)
        except NuagesError as exc:  # changed meanwhile: the next pass looks again
            report.problems.append(f"{ext.id}: VM {vm.id}: {exc.detail}")
            continue
        history.record(
            session,
            WHO,
            object_type="extension",
            object_id=ext.id,
            action="extension.vm_delete",
            params={"vm_id": vm.id, "operation_id": asked.operation_id},
            client_id=ext.client_id,
        )
        report.deleted.append(vm.id)
    if not left:
        _release(session, ext, now, report)


def _release(session: Session, ext: Extension, now: dt.datetime, report: PassReport) -> None:
    ext.released_at = now
    session.flush()
    history.record(
        session,
        WHO,
        object_type="extension",
        object_id=ext.id,
        action="extension.released",
        params={"kind": ext.kind},
        client_id=ext.client_id,
    )
    report.released.append(ext.id)


def _resources(
    session: Session,
    registry: OfferRegistry,
    ext: Extension,
    now: dt.datetime,
    taking_back: bool,
    report: PassReport,
) -> None:
    vm = compute_reads.vm(session, ext.vm_id) if ext.vm_id else None
    if vm is None or vm.vm_state == VmState.DELETED or ext.base_vcpus is None:
        _release(session, ext, now, report)  # the VM is gone: nothing to put back
        return
    if not taking_back and now >= ext.ends_at:
        return  # the grace period: keep the resources until it ends
    if taking_back:
        target = (ext.base_vcpus, ext.base_ram_mib or vm.ram_mib)
    else:
        contract = session.get(Contract, ext.contract_id)
        assert contract is not None
        flavour = flavour_of(registry.for_contract(session, contract), ext.item_id)
        target = (flavour.vcpu, flavour.ram_mib)
    if vm.task_state is not None:
        return  # an operation in flight: look again at the next pass
    action: Action | None = None
    params: dict[str, Any] = {}
    if (vm.vcpus, vm.ram_mib) != target:
        if vm.vm_state == VmState.RUNNING:
            action, ext.restart = Action.STOP, True
        elif vm.vm_state == VmState.STOPPED:
            action = Action.RESIZE
            # The VM keeps its flavour and disk: metering bills its own flavour and the
            # extension the difference (000 §8: billed per extra resource-hour).
            params = {
                "flavour_id": vm.flavour_id,
                "vcpus": target[0],
                "ram_mib": target[1],
                "disk_gib": vm.disk_gib,
            }
            compute.check_growth(session, vm.id, *target, vm.disk_gib)
        else:
            return  # suspended or in error: the provider or the client acts first
    elif ext.restart and vm.vm_state == VmState.STOPPED:
        action, ext.restart = Action.START, False
    elif taking_back:
        _release(session, ext, now, report)
        return
    if action is None:
        return
    with session.begin_nested():
        asked = compute.request(session, BILLING_STAFF, vm.id, action, params or None)
    session.flush()
    history.record(
        session,
        WHO,
        object_type="extension",
        object_id=ext.id,
        action=f"extension.vm_{action.value}",
        params={"vm_id": vm.id, "operation_id": asked.operation_id, **params},
        client_id=ext.client_id,
    )
    report.resized.append(f"{vm.id}:{action.value}")
