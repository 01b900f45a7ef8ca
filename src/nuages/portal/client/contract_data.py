"""The contract's data while it runs, in the client area (issue #21): the moves of the
data outside the EU announced to the client with their penalty-free exit window
(001 §5.3), and partial recoveries (001 §7: copies of some VMs at any time, EUR 250
per transfer, stated before the owner confirms; every invoice paid first). The pages
call ``reversibility.relocation`` and ``reversibility.partial``, the same rules as
``GET …/relocations`` and ``POST …/partial-recoveries``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from nuages.accounts.roles import Role, Scope
from nuages.compute.api import runtime
from nuages.compute.services import ending, exports
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import NuagesError
from nuages.portal import service as portal
from nuages.portal.errors import of as error_text
from nuages.portal.web import PostedForm, SignedIn, Visit
from nuages.reversibility import partial
from nuages.reversibility.api import _recoveries_out

router = APIRouter()


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _context(visit: Visit, session: Session, contract_id: str) -> dict[str, Any]:
    contract = contracts.get_contract(session, visit.me, contract_id)
    money = visit.me.has(Scope.BILLING)
    quote = partial.quote(session, visit.me, _registry(visit), contract.id)
    if not money:  # members never see money (000 §5)
        quote = {**quote, "fee": None}
    return {
        "contract": contract,
        "quote": quote,
        "recoveries": _recoveries_out(
            partial.list_recoveries(session, visit.me, contract.id), money
        ),
        "vms": ending.vms_left(session, contract.id),
        "may_ask": visit.me.is_staff or visit.me.role == Role.CLIENT_OWNER,
    }


def _page(visit: Visit, contract_id: str, errors: dict[str, str] | None = None,
          status: int = 200) -> Response:  # fmt: skip
    with visit.read() as session:
        return visit.render(
            "client/partial_recovery.html",
            status=status,
            errors=errors or {},
            **_context(visit, session, contract_id),
        )


@router.get("/contracts/{contract_id}/partial-recoveries")
def recoveries_page(visit: SignedIn, contract_id: str) -> Response:
    """The contract's partial recoveries and, for an owner, the form to ask one."""
    return _page(visit, contract_id)


@router.post("/contracts/{contract_id}/partial-recoveries")
def ask_recovery(posted: PostedForm, contract_id: str) -> Response:
    """First the fee and the VMs, said plainly (nothing written); then, confirmed, one
    transfer is asked once however often the form is sent (001 §7)."""
    visit = posted.visit
    back = f"/contracts/{contract_id}/partial-recoveries"
    vm_ids = posted.getlist("vm_ids")
    if not vm_ids:
        return _page(visit, contract_id, {"vm_ids": "Choisissez au moins une machine."}, 422)
    try:
        if posted.get("confirm") != "yes":
            with visit.read() as session:
                context = _context(visit, session, contract_id)
                names = {vm.id: vm.name for vm in context["vms"]}
                return visit.render(
                    "client/partial_recovery_confirm.html",
                    chosen=[(v, names.get(v, v)) for v in vm_ids],
                    once=visit.once(),
                    **context,
                )
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, back)
            partial.request(
                session, visit.me, _registry(visit), runtime(visit.request), contract_id, vm_ids
            )
            portal.set_result(use, back)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NuagesError as exc:
        if exc.status == 404:
            raise
        return _page(visit, contract_id, {"_": error_text(exc)}, exc.status)
    return visit.redirect(back, "recovery_asked")


@router.get("/vms/{vm_id}/exports/{export_id}/download")
def download(visit: SignedIn, vm_id: str, export_id: str) -> Response:
    """A copy's file for the signed-in visitor (the API's link needs a bearer token, so
    the portal's pages link here): the same checks (the visitor's VM, ready, link not
    expired) and the SHA-256 in ``X-Checksum-SHA256``."""
    with visit.read() as session:
        export = exports.download(session, visit.me, vm_id, export_id)
        path, name, digest = export.path, f"vm-{export.vm_id}.{export.disk_format}", export.sha256
    return FileResponse(path, media_type="application/octet-stream", filename=name,
                        headers={"X-Checksum-SHA256": digest or ""})  # fmt: skip
