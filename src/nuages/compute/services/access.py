"""Who may see and operate which VM (SPEC §1).

Staff see every VM. A client's owners (Responsables) see and operate all of its VMs; a
member (sub-responsable, 000 §5) only the VMs an owner granted them; a guest (Invité,
004 §1) reads every VM of its client and changes nothing. Another client's VM is a 404,
never a 403 (its existence is not ours to reveal).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.models import User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.models import Vm, VmGrant
from nuages.compute.states import Action
from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import parse_version
from nuages.history import service as history
from nuages.kernel.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from nuages.terms import apply

# The offer feature (``[catalogue.features]``, 002 §3) each client action on a VM uses.
# 002 §3 Cloud VM Essentiel lists "Gestion de la VM … : sélection des ressources" where
# Avancé's same line adds "arrêt, redémarrage": start, stop, reboot (and reinstall, which
# no tier lists) are "power"; resize and delete choose resources. Exports are missing on
# purpose: taking one's data out is reversibility (000 §18), never an offer feature.
ACTION_FEATURES: dict[Action, str] = {
    Action.START: "power",
    Action.STOP: "power",
    Action.REBOOT: "power",
    Action.REINSTALL: "power",
    Action.RESIZE: "resources",
    Action.DELETE: "resources",
    Action.SNAPSHOT: "snapshots",
    Action.SNAPSHOT_RESTORE: "snapshots",
    Action.BACKUP: "backups",
    Action.RESTORE: "backups",
}


def can_see(session: Session, actor: Principal, vm: Vm) -> bool:
    """Whether ``actor`` may know of ``vm``."""
    if actor.is_staff:
        return True
    if vm.client_id != actor.client_id:
        return False
    if actor.role == Role.CLIENT_MEMBER:
        return _granted(session, vm.id, actor.user_id)
    return True


def load_vm(session: Session, actor: Principal, vm_id: str, *, write: bool = False) -> Vm:
    """The VM ``actor`` may read (or operate, with ``write``), else 404 / 403."""
    actor.require(Scope.WRITE if write else Scope.READ)
    vm = session.get(Vm, vm_id)
    if vm is None or not can_see(session, actor, vm):
        raise NotFound("no such VM")
    if write and vm.managed and not actor.is_staff:
        raise Forbidden(
            "a managed server is administered entirely by the provider and gives the client "
            "no direct access (002 §3.8.2): ask the provider's staff, who act for the client"
        )
    return vm


def require_feature(
    session: Session, actor: Principal, vm: Vm, feature: str, *, reading: bool = False
) -> None:
    """Refuse (403 citing the clause) a client's ``feature`` the VM's offer does not give
    (002 §3 Essentiel "se limitent exclusivement"; 002 §3.8.2 managed servers); staff
    act for the client and are never refused here. ``reading``: looking (graphs) is no
    direct access to a managed server, so only the offer's list applies."""
    if actor.is_staff:
        return
    contract = session.get(Contract, vm.contract_id)
    version = session.get(OfferVersion, contract.offer_hash) if contract is not None else None
    if version is None:  # pragma: no cover - foreign keys
        return
    offer = parse_version(version.content_hash, version.content)
    apply.check_client_feature(offer, feature, managed=vm.managed and not reading, staff=False)


T = TypeVar("T", bound=Any)


def visible_vms(actor: Principal, stmt: Select[T]) -> Select[T]:
    """Restrict a query on VMs to those ``actor`` may see."""
    if actor.is_staff:
        return stmt
    stmt = stmt.where(Vm.client_id == actor.client_id)
    if actor.role == Role.CLIENT_MEMBER:
        granted = select(VmGrant.vm_id).where(VmGrant.user_id == actor.user_id)
        stmt = stmt.where(Vm.id.in_(granted))
    return stmt


def require_manager(actor: Principal, client_id: str, what: str) -> None:
    """Only the client's owners (and staff) create VMs and hand them out (000 §1, §5)."""
    actor.require(Scope.WRITE)
    if actor.is_staff:
        return
    if actor.client_id != client_id:
        raise NotFound("no such contract")
    if actor.role != Role.CLIENT_OWNER:
        raise Forbidden(f"only an owner (Responsable) may {what} (000 §1, §5)")


def _granted(session: Session, vm_id: str, user_id: str) -> bool:
    found = session.execute(
        select(VmGrant.id).where(VmGrant.vm_id == vm_id, VmGrant.user_id == user_id)
    ).first()
    return found is not None


def grant(session: Session, actor: Principal, vm_id: str, user_id: str) -> VmGrant:
    """An owner gives a member of the same client a VM to operate (000 §5)."""
    vm = load_vm(session, actor, vm_id, write=True)
    require_manager(actor, vm.client_id, "give VMs to members")
    user = session.get(User, user_id)
    if user is None or user.client_id != vm.client_id:
        raise ValidationFailed("user_id: no such user in this client")
    if user.role != Role.CLIENT_MEMBER.value:
        raise ValidationFailed("user_id: only members are given VMs; owners and guests see all")
    if _granted(session, vm.id, user.id):
        raise AlreadyExists("this member already operates this VM")
    row = VmGrant(vm_id=vm.id, user_id=user.id, granted_by=actor.user_id)
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.grant",
        params={"user_id": user.id},
        client_id=vm.client_id,
    )
    return row


def revoke(session: Session, actor: Principal, vm_id: str, user_id: str) -> None:
    """Take a VM back from a member."""
    vm = load_vm(session, actor, vm_id, write=True)
    require_manager(actor, vm.client_id, "take VMs back from members")
    row = session.execute(
        select(VmGrant).where(VmGrant.vm_id == vm.id, VmGrant.user_id == user_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("this member was not given this VM")
    session.delete(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.revoke",
        params={"user_id": user_id},
        client_id=vm.client_id,
    )


def list_grants(session: Session, actor: Principal, vm_id: str) -> list[VmGrant]:
    """The members a VM was given to."""
    vm = load_vm(session, actor, vm_id)
    rows = session.execute(
        select(VmGrant).where(VmGrant.vm_id == vm.id).order_by(VmGrant.created_at, VmGrant.id)
    )
    return list(rows.scalars().all())
