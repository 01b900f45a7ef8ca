"""What other slices ask compute to do, without holding a runtime (issue 10, item 5).

Billing's extension passes (000 §8) create, delete and resize VMs and read their CPU
time; they call these functions, which run compute's own services with the process's
runtime (``compute.runtime.get_runtime``: handed in once per process by
``set_runtime``, else made from the environment). So no other slice imports
``compute.runtime`` or ``compute.models``: they get plain values back
(``reads.VmFacts``, ``Asked``) and compute may change its tables and drivers freely.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute import schemas
from nuages.compute.hypervisor import CpuTime, HypervisorError
from nuages.compute.models import Host, Vm
from nuages.compute.runtime import get_runtime
from nuages.compute.services import placement, reads, vms
from nuages.compute.states import Action
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import NuagesError, ValidationFailed

log = logging.getLogger("nuages.compute")


@dataclass(frozen=True)
class Asked:
    """A VM operation compute queued (it runs after the commit)."""

    vm_id: str
    vm_name: str
    operation_id: str


def create_vm(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    data: schemas.VmCreate,
    *,
    extension_id: str | None = None,
) -> Asked:
    """``vms.create_vm``, the VM marked as ``extension_id``'s before the commit (so the
    operation finds it marked, and metering bills it as the extension's VM-hours)."""
    vm, operation = vms.create_vm(session, actor, get_runtime(), registry, data)
    if extension_id is not None:
        vm.extension_id = extension_id
        session.flush()
    return Asked(vm.id, vm.name, operation.id)


def request(
    session: Session,
    actor: Principal,
    vm_id: str,
    action: Action,
    params: dict[str, Any] | None = None,
) -> Asked:
    """``vms.request``: ``action`` on one VM, state checked, operation queued."""
    vm, operation = vms.request(session, actor, get_runtime(), vm_id, action, params)
    return Asked(vm.id, vm.name, operation.id)


def check_growth(session: Session, vm_id: str, vcpus: int, ram_mib: int, disk_gib: int) -> None:
    """Refuse (``CapacityExhausted``) growing the VM to these resources if its host has
    no room; 422 if it has no host."""
    vm = session.get(Vm, vm_id)
    host = session.get(Host, vm.host_id) if vm is not None and vm.host_id else None
    if vm is None or host is None:
        raise ValidationFailed(f"VM {vm_id} has no host")
    placement.check_growth(session, host, vm, placement.Request(vcpus, ram_mib, disk_gib))


def cpu_times(session: Session, contract_id: str) -> tuple[int, list[tuple[str, CpuTime]]]:
    """The CPU time of the contract's own running VMs (``reads.running_on_hosts``), read
    from their hosts now: (how many VMs were read, the readings got). A host that does
    not answer gives no reading this time."""
    rows = reads.running_on_hosts(session, contract_id)
    runtime = get_runtime()
    readings = []
    for vm_id, uri in rows:
        try:
            readings.append((vm_id, runtime.hypervisor(uri).cpu_time(uuid.UUID(vm_id))))
        except (HypervisorError, NuagesError) as exc:
            log.info("no CPU reading of VM %s: %s", vm_id, exc.detail)
    return len(rows), readings
