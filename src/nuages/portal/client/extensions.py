"""Extensions in the client area (000 §1 "Extension", §8): ordering extra VMs, extra
resources for one VM or an option for a limited period, and the Responsable's
authorisation of those waiting for it.

An order by the designated Responsable (else any owner) is authorised at once; any
other waits for that Responsable, who answers on the contract's extensions page (000
§8: "après autorisation du Responsable"). The pages call the billing slice's services
(``billing.extensions``): the same rules as ``POST /api/v1/contracts/{id}/extensions``.
Times are typed in the provider's zone (Europe/Paris) and stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.billing import extensions, schemas
from nuages.billing.pricing import OfferPricing
from nuages.compute.services import vms
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import i18n
from nuages.portal import service as portal
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
FIELDS = ("kind", "item_id", "quantity", "starts_at", "ends_at", "reason", "vm_id")
KINDS = (("vms", "Machines en plus"), ("resources", "Ressources en plus pour une machine"),
         ("option", "Option"))  # fmt: skip


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def local_moment(text: str, name: str) -> dt.datetime:
    """A ``datetime-local`` value (provider's zone) as an aware UTC moment."""
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: give a date and a time") from None
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=i18n.ZONE)
    return naive.astimezone(dt.UTC)


def _local_input(moment: dt.datetime) -> str:
    return moment.astimezone(i18n.ZONE).strftime("%Y-%m-%dT%H:%M")


def _page(
    visit: Visit,
    contract_id: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with visit.read() as session:
        contract = contracts.get_contract(session, visit.me, contract_id)
        offer = _registry(visit).for_contract(session, contract)
        try:
            pricing = OfferPricing(offer)
        except ValueError:  # not a prepaid offer: no extension to order (000 §8)
            raise NotFound("this contract takes no extensions") from None
        items = [(f, f"{f}") for f in pricing.flavours] + [
            (o, f"option {o}") for o in pricing.options
        ]
        paging = Paging.of(visit.request, per_page=50)  # newest first, older on page 2
        found, total = extensions.list_extensions(
            session, visit.me, contract.id, paging.page, paging.per_page
        )
        deciders = extensions.deciders(session, contract.client_id)
        shown = attempt(session, partial(vms.list_vms, session, visit.me, 1, 200))
        machines = [v for v in (shown[0] if shown else []) if v.contract_id == contract.id]
        soon = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=10)
        defaults = {
            "kind": "vms",
            "quantity": "1",
            "starts_at": _local_input(soon),
            "ends_at": _local_input(soon + dt.timedelta(days=1)),
        }
        return visit.render(
            "client/extensions.html",
            status=status,
            contract=contract,
            offer=offer,
            items=items,
            kinds=KINDS,
            machines=machines,
            extensions=found,
            paging=paging,
            pages=paging.pages(total),
            total=total,
            i_decide=visit.me.user_id in deciders,
            values={**defaults, **(values or {})},
            errors=errors or {},
            once=visit.once(),
        )


@router.get("/contracts/{contract_id}/extensions")
def extension_page(visit: SignedIn, contract_id: str) -> Response:
    """The contract's extensions, those waiting for the Responsable, and the order form."""
    return _page(visit, contract_id)


@router.post("/contracts/{contract_id}/extensions")
def extension_order(posted: PostedForm, contract_id: str) -> Response:
    """Order an extension; refused ones say why next to the field, nothing written."""
    visit = posted.visit
    values = {name: posted.get(name).strip() for name in FIELDS}
    back = f"/contracts/{contract_id}/extensions"
    made: list[Any] = []
    try:
        body = schemas.ExtensionCreate(
            kind=values["kind"] or "vms",
            item_id=values["item_id"],
            quantity=int(values["quantity"]) if values["quantity"].isdigit() else 0,
            starts_at=local_moment(values["starts_at"], "starts_at"),
            ends_at=local_moment(values["ends_at"], "ends_at"),
            reason=values["reason"],
            vm_id=values["vm_id"] or None,
        )
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, back)
            made.append(
                extensions.order(session, visit.me, _registry(visit), contract_id, body).state
            )
            portal.set_result(use, back)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except ValueError as exc:  # pydantic's, or an int or a moment that does not parse
        return _page(visit, contract_id, values, field_errors(exc, FIELDS), 422)
    except NuagesError as exc:
        if isinstance(exc, NotFound):
            raise
        return _page(visit, contract_id, values, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(
        back, "extension_pending" if made and made[0] == "pending" else "extension_ordered"
    )


def _decide(posted: PostedForm, extension_id: str, approve: bool) -> Response:
    visit = posted.visit
    with visit.read() as session:
        contract_id = extensions.get_extension(session, visit.me, extension_id).contract_id
    back = f"/contracts/{contract_id}/extensions"
    try:
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, back)
            extensions.decide(
                session, visit.me, extension_id, approve, posted.get("reason").strip()[:300]
            )
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NuagesError as exc:
        if isinstance(exc, NotFound):
            raise
        return _page(visit, contract_id, None, field_errors(exc), exc.status)
    return visit.redirect(back, "extension_approved" if approve else "extension_rejected")


@router.post("/extensions/{extension_id}/approve")
def extension_approve(posted: PostedForm, extension_id: str) -> Response:
    """The Responsable authorises a waiting extension (000 §8)."""
    return _decide(posted, extension_id, True)


@router.post("/extensions/{extension_id}/reject")
def extension_reject(posted: PostedForm, extension_id: str) -> Response:
    """The Responsable refuses a waiting extension."""
    return _decide(posted, extension_id, False)
