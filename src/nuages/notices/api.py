"""REST endpoints of notices: clients read their own (with the delivery state), staff
read all, put a failed one back in the outbox and resend a bounced one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.kernel.pagination import paginate
from nuages.kernel.validation import Page, page_of
from nuages.notices import bounces, service
from nuages.notices.models import Notice
from nuages.notices.schemas import (
    AttemptOut,
    BounceMailOut,
    BounceOut,
    NoticeDetailOut,
    NoticeOut,
)

router = APIRouter(prefix="/api/v1", tags=["notices"])

StateQuery = Annotated[str | None, Query(pattern="^(queued|sending|sent|failed|bounced)$")]
OutcomeQuery = Annotated[str | None, Query(pattern="^(matched|unknown|unparsable)$")]


def _detail(session: Any, notice: Notice) -> NoticeDetailOut:
    base = NoticeOut.model_validate(notice).model_dump()
    attempts = [AttemptOut.model_validate(a) for a in service.attempts_of(session, notice.id)]
    reports = [BounceOut.model_validate(b) for b in bounces.bounces_of(session, notice.id)]
    copy = service.resent_as(session, notice.id) if notice.state == "bounced" else None
    return NoticeDetailOut(
        **base,
        body=notice.body,
        history=attempts,
        bounces=reports,
        resent_as=copy.id if copy is not None else None,
    )


@router.get("/notices", response_model=Page[NoticeOut])
def list_notices(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    state: StateQuery = None,
    client_id: Annotated[str | None, Query(max_length=36)] = None,
) -> object:
    """The notices sent or to send to the caller's client (staff: every client's),
    newest first, each with its delivery state; members and guests never see the
    money ones (invoices, dunning, balances: 000 §5)."""
    stmt = service.list_notices(principal, state=state, client_id=client_id)
    items, total = paginate(session, stmt, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/notices/{notice_id}", response_model=NoticeDetailOut)
def get_notice(notice_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One notice with its body and every delivery attempt (the server's answers)."""
    return _detail(session, service.get_notice(session, principal, notice_id))


@router.post("/notices/{notice_id}/retry", response_model=NoticeDetailOut)
def retry_notice(notice_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff: put a failed notice back in the outbox (409 when a server already
    accepted it: a notice is never sent twice)."""
    return _detail(session, service.retry(session, principal, notice_id))


@router.post("/notices/{notice_id}/resend", response_model=NoticeDetailOut, status_code=201)
def resend_notice(notice_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff: send a bounced notice again as a new notice (its own Message-ID) to the
    client's corrected address; 409 while an address that bounced for good is still
    the recipient, or when it was already resent. The answer is the copy."""
    return _detail(session, service.resend(session, principal, notice_id))


@router.get("/notice-bounces", response_model=Page[BounceMailOut])
def list_bounce_mail(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    outcome: OutcomeQuery = None,
) -> object:
    """Staff: the messages received at the bounce address, newest first; ``unknown``
    (a DSN naming no notice of ours) and ``unparsable`` ones are kept here to read."""
    stmt = bounces.list_mail(principal, outcome)
    items, total = paginate(session, stmt, paging.page, paging.per_page)
    shown = [
        BounceMailOut.model_validate(m).model_copy(
            update={"excerpt": m.raw[:2000].decode("utf-8", "replace")}
        )
        for m in items
    ]
    return page_of(shown, total, paging.page, paging.per_page)
