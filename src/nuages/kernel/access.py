"""Read access, one rule for every slice: "the rows of this kind this caller may see".

Staff see every client's rows; a client's users only their client's. Another client's
row is a 404, never a 403 (its existence is not ours to reveal). The caller is anything
with ``is_staff`` and ``client_id`` (``accounts.Principal``), so the kernel imports no
slice; scope checks (``actor.require``) stay with the service, before the read.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from nuages.kernel.errors import NotFound


class Viewer(Protocol):
    """Who reads: staff, or a user of one client."""

    @property
    def is_staff(self) -> bool: ...

    @property
    def client_id(self) -> str | None: ...


M = TypeVar("M")
T = TypeVar("T", bound=Any)


def visible(viewer: Viewer, stmt: Select[T], client_column: Any) -> Select[T]:
    """Restrict ``stmt`` to the rows whose ``client_column`` the viewer may see."""
    if viewer.is_staff:
        return stmt
    return stmt.where(client_column == viewer.client_id)


def get_visible(session: Session, viewer: Viewer, model: type[M], object_id: str, name: str) -> M:
    """The ``model`` row ``object_id`` if the viewer may see it, else 404 "no such
    <name>" (absent and another client's answer the same)."""
    row = session.get(model, object_id)
    client_id = getattr(row, "client_id", None) if row is not None else None
    if row is None or not (
        viewer.is_staff or (client_id is not None and client_id == viewer.client_id)
    ):
        raise NotFound(f"no such {name}")
    return row
