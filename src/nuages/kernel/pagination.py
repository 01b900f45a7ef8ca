"""Pagination of list queries."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

MAX_PER_PAGE = 200
T = TypeVar("T")


def paginate(session: Session, stmt: Select[T], page: int, per_page: int) -> tuple[list[T], int]:
    """Return one page of ``stmt``'s rows and the total count of rows."""
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total: Any = session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    rows: Any = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars()
    return list(rows.all()), int(total)
