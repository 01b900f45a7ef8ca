"""Reading the action history: clients their own objects', staff all of it (the rules
are ``reading.py``'s)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.history import reading
from nuages.history.schemas import HistoryOut
from nuages.kernel.validation import Page, page_of

router = APIRouter(prefix="/api/v1", tags=["history"])


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
    items, total = reading.list_entries(
        session, principal, paging.page, paging.per_page, object_id, object_type
    )
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/history/{entry_id}", response_model=HistoryOut)
def get_history_entry(entry_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One history entry."""
    return reading.get_entry(session, principal, entry_id)
