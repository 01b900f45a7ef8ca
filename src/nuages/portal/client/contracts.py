"""The client's contracts: state, term and renewal, the notice deadlines a termination
notice given today would meet (001 §3.2, 003 §11, 004 §5), holds (004 §7: ground and
expected duration) and extensions (000 §8)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.billing import extensions
from nuages.compute.services import backups
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import Paging, SignedIn, Visit
from nuages.reversibility import relocation
from nuages.terms import deadlines

router = APIRouter()


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


@router.get("/contracts")
def contract_list(visit: SignedIn) -> Response:
    """The visitor's contracts, a page at a time."""
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = contracts.list_contracts(session, visit.me, paging.page, paging.per_page)
        titles = {}
        for contract in shown:
            try:
                titles[contract.id] = _registry(visit).current(contract.offer_id).offer.title
            except Exception:  # an offer withdrawn since: its id names it
                titles[contract.id] = contract.offer_id
        return visit.render(
            "client/contracts.html",
            contracts=shown,
            titles=titles,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            filters={},
        )


def notice_deadlines(offer: Any, contract: Any) -> list[deadlines.Deadline]:
    """What a termination notice given now would mean under the contract's terms."""
    if contract.activated_at is None:
        return []
    try:
        return deadlines.deadlines_for(
            offer,
            deadlines.Event.termination_notice,
            utc_now(),
            contract_start=contract.activated_at,
        )
    except (ValueError, KeyError):
        return []


def _backup_volume(session: Any, visit: Visit, offer: Any, contract_id: str) -> Any:
    """The contract's backup volume in all and per VM, by name (002 §3.5 "volume de
    sauvegarde par VM affiché"); none where the offer has no backups."""
    if offer is None or not offer.backups.available:
        return None
    found = attempt(session, partial(backups.contract_volumes, session, visit.me, contract_id))
    if found is None:
        return None
    per_vm = [(found.names[vm_id], vm_id, size) for vm_id, size in found.vms.items()]
    return {"total": found.volume_bytes, "vms": sorted(per_vm)}


@router.get("/contracts/{contract_id}")
def contract_page(visit: SignedIn, contract_id: str) -> Response:
    """One contract: its terms version, dates, deadlines, holds and extensions."""
    with visit.read() as session:
        contract = contracts.get_contract(session, visit.me, contract_id)
        offer = attempt(session, partial(_registry(visit).for_contract, session, contract))
        all_holds = attempt(session, partial(holds.list_holds, session, visit.me, contract.id))
        found = attempt(
            session, partial(extensions.list_extensions, session, visit.me, contract.id, 1, 20)
        )
        return visit.render(
            "client/contract.html",
            contract=contract,
            offer=offer,
            backup_volume=_backup_volume(session, visit, offer, contract.id),
            holds=all_holds or [],
            extensions=found[0] if found else [],
            deadlines=notice_deadlines(offer, contract) if offer is not None else [],
            # 001 §5.3 moves outside the EU, with their exit window (reversibility)
            relocations=attempt(
                session, partial(relocation.list_relocations, session, visit.me, contract.id)
            )
            or [],
        )
