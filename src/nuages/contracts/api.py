"""REST endpoints for offers and contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.contracts import holds, schemas, service
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.terms_view import SourceOut, TermsOut
from nuages.kernel.validation import Page, page_of
from nuages.terms.schema import Offer

router = APIRouter(prefix="/api/v1", tags=["contracts"])


def registry(request: Request) -> OfferRegistry:
    """The offers loaded at start."""
    loaded: OfferRegistry = request.app.state.offers
    return loaded


def _offer_fields(offer: Offer) -> dict[str, object]:
    return dict(
        id=offer.id,
        title=offer.offer.title,
        provider=offer.offer.provider,
        law=offer.offer.law,
        billing_mode=offer.billing.mode,
        content_hash=offer.content_hash,
        vat_rate=offer.catalogue.vat_rate,
        prices_include_vat=offer.catalogue.prices_include_vat,
        flavours=[
            schemas.FlavourOut.model_validate(f, from_attributes=True)
            for f in offer.catalogue.flavours
        ],
    )


def _offer_out(offer: Offer) -> schemas.OfferOut:
    return schemas.OfferOut.model_validate(_offer_fields(offer))


@router.get("/offers", response_model=Page[schemas.OfferOut])
def list_offers(request: Request, principal: PrincipalDep, paging: PageDep) -> object:
    """The offers on sale."""
    offers = list(registry(request).offers.values())
    start = (paging.page - 1) * paging.per_page
    chosen = offers[start : start + paging.per_page]
    return page_of([_offer_out(o) for o in chosen], len(offers), paging.page, paging.per_page)


@router.post("/offers/reload", response_model=schemas.OffersReloadOut)
def reload_offers(request: Request, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff: re-read the terms files now (a changed file is also picked up by itself
    within seconds). A file that does not load keeps its previous offer; its problems
    are listed. Running contracts keep the version they accepted (000 §4)."""
    offers = registry(request)
    report = service.reload_offers(session, principal, offers)
    return schemas.OffersReloadOut(
        offers=list(offers.offers),
        added=report.added,
        changed=report.changed,
        removed=report.removed,
        problems=[
            schemas.ProblemLineOut.model_validate(p, from_attributes=True) for p in report.problems
        ],
    )


@router.get("/offers/{offer_id}", response_model=schemas.OfferDetailOut)
def get_offer(
    offer_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    version: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-f]{64}$",
            description="a content_hash: that version (e.g. the one a contract accepted) "
            "instead of the one on sale",
        ),
    ] = None,
) -> object:
    """The whole offer as the client accepts it: prices, options, duration and renewal,
    notices, payment terms, late payment, SLA, suspension, termination, reversibility and
    liability, each with its clause, from the terms file of the version shown. Send its
    ``content_hash`` back as ``offer_hash`` when ordering: the order is refused if the
    terms changed meanwhile. ``version`` shows an earlier version that was ordered (the
    terms a running contract keeps, 000 §4)."""
    offers = registry(request)
    offer = (
        offers.current(offer_id) if version is None else offers.version(session, offer_id, version)
    )
    return schemas.OfferDetailOut.model_validate(
        {
            **_offer_fields(offer),
            "currency": offer.offer.currency,
            "timezone": offer.offer.timezone,
            "clients": list(offer.offer.clients),
            "source": SourceOut.model_validate(offer.offer.source),
            "terms": TermsOut.of(offer),
        }
    )


def _out(session: Session, request: Request, contract: Contract) -> schemas.ContractOut:
    return _outs(session, request, [contract])[0]


def _outs(session: Session, request: Request, shown: list[Contract]) -> list[schemas.ContractOut]:
    seen = holds.views(session, registry(request), shown)
    out = []
    for contract in shown:
        view = seen[contract.id]
        body = schemas.ContractOut.model_validate(contract)
        body.holds = [schemas.HoldOut.model_validate(h) for h in view.holds]
        body.terminable_from = view.terminable_from
        out.append(body)
    return out


@router.post("/contracts", status_code=status.HTTP_201_CREATED, response_model=schemas.ContractOut)
def create_contract(
    body: schemas.ContractCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Order an offer: accept its terms; the contract forms per the offer (000 §3.1)."""
    return _out(
        session, request, service.create_contract(session, principal, registry(request), body)
    )


@router.get("/contracts", response_model=Page[schemas.ContractOut])
def list_contracts(
    request: Request, principal: PrincipalDep, session: SessionDep, paging: PageDep
) -> object:
    """Contracts the caller may see, each with its open holds."""
    items, total = service.list_contracts(session, principal, paging.page, paging.per_page)
    return page_of(_outs(session, request, items), total, paging.page, paging.per_page)


@router.get("/contracts/{contract_id}", response_model=schemas.ContractOut)
def get_contract(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """One contract, with its open holds and, under 004 §17.1, from when the provider
    may terminate it."""
    return _out(session, request, service.get_contract(session, principal, contract_id))


@router.post("/contracts/{contract_id}/confirm", response_model=schemas.ContractOut)
def confirm_contract(
    contract_id: str,
    body: schemas.ContractAction,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff confirm an invoiced order (001 §2.5)."""
    contract = service.confirm(session, principal, registry(request), contract_id, body.reason)
    return _out(session, request, contract)


@router.post("/contracts/{contract_id}/cancel", response_model=schemas.ContractOut)
def cancel_contract(
    contract_id: str,
    body: schemas.ContractAction,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Cancel a pending order (not formed yet): its owner or staff (000 §3.1, 001 §2.5)."""
    return _out(session, request, service.cancel(session, principal, contract_id, body.reason))


@router.post("/contracts/{contract_id}/suspend", response_model=schemas.ContractOut)
def suspend_contract(
    contract_id: str,
    body: schemas.ContractAction,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff suspend a contract: an alias of placing a ``staff-decision`` hold (SPEC §11)."""
    contract = holds.suspend(session, principal, registry(request), contract_id, body.reason)
    return _out(session, request, contract)


@router.post("/contracts/{contract_id}/resume", response_model=schemas.ContractOut)
def resume_contract(
    contract_id: str,
    body: schemas.ContractAction,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff lift a suspension: an alias of lifting every open hold (004 §7)."""
    return _out(session, request, holds.resume(session, principal, contract_id, body.reason))


@router.get("/contracts/{contract_id}/holds", response_model=list[schemas.HoldOut])
def list_holds(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Every hold of the contract, open and lifted, oldest first."""
    return holds.list_holds(session, principal, contract_id)


@router.post(
    "/contracts/{contract_id}/holds",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.HoldOut,
)
def place_hold(
    contract_id: str,
    body: schemas.HoldCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff place a hold: the contract is suspended, its VMs paused, client acts
    refused naming the ground and clause (003 §8, 004 §7)."""
    return holds.staff_place(
        session,
        principal,
        registry(request),
        contract_id,
        body.ground,
        body.reason,
        body.expected_end_at,
    )


@router.post("/contracts/{contract_id}/holds/{hold_id}/lift", response_model=schemas.HoldOut)
def lift_hold(
    contract_id: str,
    hold_id: str,
    body: schemas.HoldLift,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff lift a hold; the contract resumes, and its VMs that ran come back, once no
    hold is left open."""
    return holds.staff_lift(session, principal, contract_id, hold_id, body.reason, body.wrongful)


# The contract's life (issue #21) has its own module; its routes join this router.
from nuages.contracts.life_api import router as _life_router  # noqa: E402

router.include_router(_life_router)
