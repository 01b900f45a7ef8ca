"""REST endpoints of the contract's life: notice to quit and termination, formal
notices, terms changes, price revisions, deadlines (issue #21)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.contracts import deadlines, formal_notices, revisions, termination, terms_changes
from nuages.contracts import life_schemas as schemas
from nuages.contracts import service as contracts
from nuages.contracts.models import ContractFormalNotice, ContractTermsChange
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now

# Included by contracts/api.py under its /api/v1 prefix.
router = APIRouter(tags=["contracts"])


def _registry(request: Request) -> OfferRegistry:
    loaded: OfferRegistry = request.app.state.offers
    return loaded


@router.post("/contracts/{contract_id}/termination", response_model=schemas.TerminationOut)
def terminate(
    contract_id: str,
    body: schemas.TerminationCreate,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Give notice to quit (a Responsable; members are refused, 000 §1) or, staff, record
    a letter or terminate on an open ground. With ``confirm = false`` nothing is written:
    the answer says when the contract would end (the current term if the notice is in
    time, 001 §3.2, 003 §13.1.4, 004 §5, else the next; at once in a penalty-free window,
    003 §14.3, §14.4). Notice is given once: a second one is refused (409)."""
    plan, row = termination.terminate(
        session,
        principal,
        contract_id,
        body.cause,
        confirm=body.confirm,
        reason=body.reason,
        received_at=body.received_at,
        first_presented_at=body.first_presented_at,
    )
    return schemas.TerminationOut(
        cause=plan.cause.value,
        dated_at=plan.dated_at,
        effective_at=plan.effective_at,
        current_term_ends_at=plan.current_term_ends_at,
        in_time=plan.in_time,
        penalty_free=plan.penalty_free,
        clause=plan.clause,
        message=plan.message,
        confirmed=row is not None,
        termination_id=row.id if row is not None else None,
    )


@router.get("/contracts/{contract_id}/deadlines", response_model=list[schemas.DeadlineOut])
def contract_deadlines(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """What is coming for the contract, soonest first: term end and renewal, the last
    day for a notice to quit, refusal windows, penalty-free exits, price revisions,
    terminable dates, each with its clause."""
    return deadlines.for_contract(session, principal, contract_id, utc_now())


@router.get("/deadlines", response_model=list[schemas.DeadlineOut])
def all_deadlines(
    principal: PrincipalDep,
    session: SessionDep,
    within_days: Annotated[int | None, Query(ge=1, le=3660)] = None,
) -> object:
    """Every visible contract's coming deadlines (within ``within_days`` days if given)."""
    now = utc_now()
    until = now + dt.timedelta(days=within_days) if within_days else None
    return deadlines.within(session, principal, now, until)


@router.get("/contracts/{contract_id}/formal-notices", response_model=list[schemas.FormalNoticeOut])
def list_formal_notices(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The contract's formal notices and force-majeure events, open and closed."""
    contract = contracts.get_contract(session, principal, contract_id)
    return list(
        session.execute(
            select(ContractFormalNotice)
            .where(ContractFormalNotice.contract_id == contract.id)
            .order_by(ContractFormalNotice.given_at)
        ).scalars()
    )


@router.post(
    "/contracts/{contract_id}/formal-notices",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.FormalNoticeOut,
)
def give_formal_notice(
    contract_id: str,
    body: schemas.FormalNoticeCreate,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff: a formal notice (000 §16 15 clear days, 001 §3.3 30 days, 003 §13.1.2 8
    days before termination is open; ``suspend`` places a hold meanwhile) or a force-
    majeure event (003 §9: suspended; either party may terminate after 30 days; ended
    automatically after 2 months, with 15 days' notice)."""
    return formal_notices.give_formal_notice(
        session,
        principal,
        contract_id,
        body.ground,
        body.reason,
        given_at=body.given_at,
        first_presented_at=body.first_presented_at,
        suspend=body.suspend,
    )


@router.post(
    "/contracts/{contract_id}/formal-notices/close", response_model=schemas.FormalNoticeOut
)
def close_formal_notice(
    contract_id: str,
    body: schemas.FormalNoticeClose,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff close the open notice of a ground (breach remedied, force majeure over)."""
    return formal_notices.close_formal_notice(
        session, principal, contract_id, body.ground, body.reason
    )


@router.post("/offers/{offer_id}/terms-changes", response_model=list[schemas.TermsChangeOut])
def publish_terms(
    offer_id: str,
    body: schemas.TermsChangePublish,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff: announce the offer's version in force to every running contract on an older
    one, by e-mail to the designated Responsable (000 §4, 004 §3, 003 §14.4)."""
    return terms_changes.publish(
        session,
        principal,
        _registry(request),
        offer_id,
        summary=body.summary,
        imposed_by_law=body.imposed_by_law,
        in_force_at=body.in_force_at,
    )


@router.get("/contracts/{contract_id}/terms-changes", response_model=list[schemas.TermsChangeOut])
def list_terms_changes(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The terms changes announced to the contract, newest first."""
    contract = contracts.get_contract(session, principal, contract_id)
    return list(
        session.execute(
            select(ContractTermsChange)
            .where(ContractTermsChange.contract_id == contract.id)
            .order_by(ContractTermsChange.announced_at.desc())
        ).scalars()
    )


@router.post("/contracts/{contract_id}/terms-refusal", response_model=schemas.TermsChangeOut)
def refuse_terms(
    contract_id: str,
    body: schemas.TermsRefusal,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """The Responsable refuses the announced terms within the window (000 §4: one month,
    by registered letter; 004 §3: 30 days after they take effect). A change imposed by
    law, or a window closed, is refused (409, with the clause)."""
    return terms_changes.refuse(
        session,
        principal,
        _registry(request),
        contract_id,
        letter_date=body.letter_date,
        reason=body.reason,
    )


@router.post(
    "/contracts/{contract_id}/terms-refusal/withdraw", response_model=schemas.TermsChangeOut
)
def withdraw_refusal(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Withdraw a refusal: the change is open again (past its window, it applies now)."""
    return terms_changes.withdraw_refusal(session, principal, _registry(request), contract_id)


@router.get(
    "/contracts/{contract_id}/price-revisions", response_model=list[schemas.PriceRevisionOut]
)
def list_revisions(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The price revisions applied to the contract, oldest first (``billing`` scope)."""
    return revisions.list_revisions(session, principal, contract_id)


@router.post(
    "/contracts/{contract_id}/price-revisions",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PriceRevisionOut,
)
def revise_prices(
    contract_id: str,
    body: schemas.PriceRevisionCreate,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff, 003 §14.3: revise the contract's prices at its anniversary, capped at 5 %,
    announced by e-mail; the client may then terminate without penalty."""
    return revisions.staff_revise(
        session, principal, contract_id, proposed_pct=body.proposed_pct, reason=body.reason
    )
