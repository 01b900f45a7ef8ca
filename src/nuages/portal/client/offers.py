"""Offers and ordering: each offer's terms in plain words from its terms file, and the
order form (SPEC §2, 000 §3.1: the contract is formed once the terms are accepted and
the minimum amount paid; 001 §2.5: once the provider confirms the order)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.accounts.roles import Role
from nuages.contracts import schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.client.plain import sections
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors

router = APIRouter()


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _offer(visit: Visit, offer_id: str):  # type: ignore[no-untyped-def]
    try:
        return _registry(visit).current(offer_id)
    except (KeyError, NuagesError):
        raise NotFound("no such offer") from None


@router.get("/offers")
def offer_list(visit: SignedIn) -> Response:
    """Every offer on sale, with its prices in a line."""
    offers = sorted(_registry(visit).offers.values(), key=lambda o: o.offer.title)
    return visit.render("client/offers.html", offers=offers)


def _page(visit: Visit, offer_id: str, errors: dict[str, str], status: int) -> Response:
    offer = _offer(visit, offer_id)
    return visit.render(
        "client/offer.html",
        status=status,
        offer=offer,
        sections=sections(offer, visit._, visit.lang),
        errors=errors,
        once=visit.once(),
        may_order=visit.me.role == Role.CLIENT_OWNER,
    )


@router.get("/offers/{offer_id}")
def offer_page(visit: SignedIn, offer_id: str) -> Response:
    """One offer: its terms in plain words and, for an owner, the order form."""
    return _page(visit, offer_id, {}, 200)


@router.post("/offers/{offer_id}/order")
def order(posted: PostedForm, offer_id: str) -> Response:
    """Order the offer in the version shown (refused if its terms changed meanwhile)."""
    visit = posted.visit
    try:
        body = schemas.ContractCreate(
            offer_id=offer_id,
            accept_terms=posted.get("accept_terms") == "yes",
            offer_hash=posted.get("offer_hash") or None,
            firewall_tier=posted.get("firewall_tier") or None,
        )
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            contract = contracts.create_contract(session, visit.me, _registry(visit), body)
            portal.set_result(use, f"/contracts/{contract.id}")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/contracts", "already_sent")
    except (NuagesError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            raise
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _page(visit, offer_id, field_errors(exc, ("accept_terms", "firewall_tier")), status)
    return visit.redirect(f"/contracts/{contract.id}", "ordered")
