"""VM pages: the list (filters, pagination), creation from the contract's flavours and
images, a page per VM with its actions (confirmed when destructive), the operation's
progress polled by htmx, and how to reach it by SSH (002 §3, 000 §5)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nuages.compute import schemas
from nuages.compute.api import registry, runtime
from nuages.compute.services import backups, images, keys, snapshots, vms
from nuages.compute.states import Action, VmState
from nuages.contracts import service as contracts
from nuages.contracts.states import ContractState
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
STATES = [s.value for s in VmState]
DIRECT = {"start": Action.START, "stop": Action.STOP, "reboot": Action.REBOOT}
CONFIRMED = {"delete": Action.DELETE, "reinstall": Action.REINSTALL}
CREATE_FIELDS = ("contract_id", "flavour", "image", "name", "ssh_key_ids")


@router.get("/vms")
def vm_list(visit: SignedIn, state: str = "", q: str = "") -> Response:
    """The VMs the visitor may see, filtered by state and name, a page at a time."""
    paging = Paging.of(visit.request)
    state = state if state in STATES else ""
    q = q.strip()[:63]
    with visit.read() as session:
        shown, total = vms.list_vms(
            session, visit.me, paging.page, paging.per_page, state=state or None, name=q or None
        )
        return visit.render(
            "client/vms.html",
            vms=shown,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            state=state,
            q=q,
            states=STATES,
            filters={"state": state, "q": q},
        )


def _choices(visit: Visit, session: Session) -> dict[str, Any]:
    """What a new VM may be made of: the active contracts with their offer's flavours,
    the images and SSH keys the visitor may use."""
    offers = registry(visit.request)
    shown, _total = contracts.list_contracts(session, visit.me, 1, 200)
    active = []
    for contract in shown:
        if contract.state != ContractState.ACTIVE.value:
            continue
        offer = attempt(session, partial(offers.for_contract, session, contract))
        if offer is not None:
            active.append((contract, offer))
    image_rows, _ = images.list_images(session, visit.me, 1, 200)
    key_rows, _ = keys.list_keys(session, visit.me, 1, 200)
    return {"contracts": active, "images": image_rows, "keys": key_rows}


def _form(visit: Visit, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        return visit.render(
            "client/vm_new.html",
            status=status,
            values=values,
            errors=errors,
            once=values.get("_once") or visit.once(),
            **_choices(visit, session),
        )


@router.get("/vms/new")
def vm_new(visit: SignedIn) -> Response:
    """The creation form."""
    return _form(visit, {}, {}, 200)


@router.post("/vms/new")
def vm_create(posted: PostedForm) -> Response:
    """Create the VM (once per form, however often it is sent) and show its page."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name) for name in CREATE_FIELDS}
    values["ssh_key_ids"] = posted.getlist("ssh_key_ids")
    values["_once"] = posted.once
    try:
        body = schemas.VmCreate(
            contract_id=values["contract_id"],
            flavour=values["flavour"],
            image=values["image"],
            name=values["name"],
            ssh_key_ids=values["ssh_key_ids"],
        )
    except ValidationError as exc:
        return _form(visit, values, field_errors(exc, CREATE_FIELDS), 422)
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            vm, _op = vms.create_vm(
                session, visit.me, runtime(visit.request), registry(visit.request), body
            )
            portal.set_result(use, f"/vms/{vm.id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/vms", "already_sent")
    except NuagesError as exc:
        return _form(visit, values, field_errors(exc, CREATE_FIELDS), exc.status)
    return visit.redirect(f"/vms/{vm.id}", "vm_created")


def _detail(visit: Visit, session: Session, vm_id: str, full: bool = True) -> dict[str, Any]:
    vm = vms.get_vm(session, visit.me, vm_id)
    operations, _ = vms.list_operations(session, visit.me, vm.id, 1, 10)
    if not full:  # the polled status block needs no more
        return {"vm": vm, "operations": operations}
    offer = None
    contract = attempt(session, partial(contracts.get_contract, session, visit.me, vm.contract_id))
    if contract is not None:
        offer = attempt(session, partial(registry(visit.request).for_contract, session, contract))
    from nuages.portal.client.vm_observe import vm_graphs

    listing = attempt(session, partial(backups.list_backups, session, visit.me, vm.id))
    return {
        "vm": vm,
        "operations": operations,
        "offer": offer,
        "flavours": list(offer.catalogue.flavours) if offer is not None else [],
        "backup_options": [o for o in offer.catalogue.options if o.kind == "backup"]
        if offer is not None
        else [],
        "snapshots": attempt(session, partial(snapshots.list_snapshots, session, visit.me, vm.id))
        or [],
        "backups": listing.items if listing is not None else [],
        "backup_volume": listing.volume_bytes if listing is not None else 0,
        "errors": {},
        "graphs": vm_graphs(session, visit.me, vm.id),
    }


def error_page(visit: Visit, vm_id: str, exc: Exception) -> Response:
    """The VM page again, with the refusal next to the form that caused it."""
    status = exc.status if isinstance(exc, NuagesError) else 422
    with visit.read() as session:
        context = _detail(visit, session, vm_id)
        context["errors"] = field_errors(exc, ("flavour",))
        return visit.render("client/vm.html", status=status, once=visit.once(), **context)


@router.get("/vms/{vm_id}")
def vm_page(visit: SignedIn, vm_id: str) -> Response:
    """One VM: state, resources, SSH access, actions and recent operations."""
    with visit.read() as session:
        return visit.render("client/vm.html", once=visit.once(), **_detail(visit, session, vm_id))


@router.get("/vms/{vm_id}/status")
def vm_status(visit: SignedIn, vm_id: str) -> Response:
    """The state block alone, polled by htmx while an operation is in flight."""
    with visit.read() as session:
        return visit.render("client/vm_status.html", **_detail(visit, session, vm_id, full=False))


@router.get("/vms/{vm_id}/confirm")
def vm_confirm(visit: SignedIn, vm_id: str, action: str = "") -> Response:
    """Ask before a destructive action (deleting, reinstalling: data is lost)."""
    if action not in CONFIRMED:
        return visit.redirect(f"/vms/{vm_id}")
    with visit.read() as session:
        vm = vms.get_vm(session, visit.me, vm_id)
        return visit.render("client/vm_confirm.html", vm=vm, action=action, once=visit.once())


@router.post("/vms/{vm_id}/action")
def vm_action(posted: PostedForm, vm_id: str) -> Response:
    """Start, stop, reboot; delete and reinstall once confirmed."""
    visit = posted.visit
    name = posted.get("action")
    action = DIRECT.get(name) or (CONFIRMED.get(name) if posted.get("confirm") == "yes" else None)
    if action is None:
        return visit.redirect(f"/vms/{vm_id}")
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, f"/vms/{vm_id}")
            vms.request(session, visit.me, runtime(visit.request), vm_id, action)
            portal.set_result(use, f"/vms/{vm_id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or f"/vms/{vm_id}", "already_sent")
    except NotFound:
        raise
    except NuagesError as exc:
        return error_page(visit, vm_id, exc)
    return visit.redirect(f"/vms/{vm_id}", "vm_action")


@router.post("/vms/{vm_id}/resize")
def vm_resize(posted: PostedForm, vm_id: str) -> Response:
    """Move a stopped VM to another flavour of its offer (003 §14.3)."""
    visit = posted.visit
    try:
        body = schemas.VmResize(flavour=posted.get("flavour"))
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, f"/vms/{vm_id}")
            vms.resize_vm(
                session, visit.me, runtime(visit.request), registry(visit.request), vm_id, body
            )
            portal.set_result(use, f"/vms/{vm_id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or f"/vms/{vm_id}", "already_sent")
    except NotFound:
        raise
    except (NuagesError, ValidationError) as exc:
        return error_page(visit, vm_id, exc)
    return visit.redirect(f"/vms/{vm_id}", "vm_action")
