"""Reading the action history: clients their own objects', staff all of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.history.models import HistoryEntry
from nuages.history.schemas import HistoryOut
from nuages.history.scopes import effective_scope, readable_scopes
from nuages.kernel.errors import NotFound
from nuages.kernel.pagination import paginate
from nuages.kernel.validation import Page, page_of

router = APIRouter(prefix="/api/v1", tags=["history"])


def _readable(principal: Principal) -> list[str]:
    return readable_scopes(lambda scope: principal.has(Scope(scope)))


@router.get("/history", response_model=Page[HistoryOut])
def list_history(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
) -> object:
    """History entries, newest first, optionally for one object; only those whose scope
    the caller's token holds (billing entries need "billing": members and guests never
    see amounts, invoices or mandates)."""
    principal.require(Scope.READ)
    stmt = (
        select(HistoryEntry)
        .where(effective_scope().in_(_readable(principal)))
        .order_by(HistoryEntry.seq.desc())
    )
    if not principal.is_staff:
        stmt = stmt.where(HistoryEntry.client_id == principal.client_id)
    if object_id is not None:
        stmt = stmt.where(HistoryEntry.object_id == object_id)
    if object_type is not None:
        stmt = stmt.where(HistoryEntry.object_type == object_type)
    items, total = paginate(session, stmt, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/history/{entry_id}", response_model=HistoryOut)
def get_history_entry(entry_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One history entry."""
    principal.require(Scope.READ)
    entry = session.execute(
        select(HistoryEntry).where(
            HistoryEntry.id == entry_id, effective_scope().in_(_readable(principal))
        )
    ).scalar_one_or_none()
    if entry is None or not principal.can_see_client(entry.client_id):
        raise NotFound("no such history entry")
    return entry
