"""The action history (002 §3 "Historique des actions"): what was done, by whom, when,
newest first; only the entries the visitor's permissions let them read (members never
see money, 000 §5)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.history import reading
from nuages.portal.web import Paging, SignedIn

router = APIRouter()
TYPES = ["vm", "contract", "invoice", "user", "token", "client", "notice", "host", "image"]


@router.get("/history")
def history_page(visit: SignedIn, object_type: str = "", object_id: str = "") -> Response:
    """History entries, filtered by kind of object or one object."""
    paging = Paging.of(visit.request)
    object_type = object_type if object_type in TYPES else ""
    object_id = object_id.strip()[:64]
    with visit.read() as session:
        shown, total = reading.list_entries(
            session,
            visit.me,
            paging.page,
            paging.per_page,
            object_id or None,
            object_type or None,
        )
        return visit.render(
            "client/history.html",
            entries=shown,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            types=TYPES,
            object_type=object_type,
            object_id=object_id,
            filters={"object_type": object_type, "object_id": object_id},
        )
