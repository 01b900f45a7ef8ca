"""Back-office: the extensions of every client (000 §8), those waiting first.

Staff see what waits and for whom; the authorisation itself is the client's designated
Responsable's (000 §8: "après autorisation du Responsable"; the billing slice refuses
anyone else, staff included), so staff may only withdraw a request (with its reason),
as ``POST /api/v1/extensions/{id}/cancel`` allows them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.billing import extensions
from nuages.billing.models import ExtensionState
from nuages.contracts.offers import OfferRegistry
from nuages.portal.admin.common import Button, Column, Filter, Table, act, page
from nuages.portal.web import Paging, PostedStaff, Staff, Visit

router = APIRouter()
STATES = tuple((s.value, s.value) for s in ExtensionState)


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _page(visit: Visit, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    paging = Paging.of(visit.request)
    state = visit.request.query_params.get("state", "pending")
    state = state if state in dict(STATES) or state == "" else "pending"
    with visit.read() as session:
        rows, total = extensions.list_all(
            session, visit.me, paging.page, paging.per_page, state or None
        )
    table = Table(
        "Extensions",
        [
            Column("Contrat", "contract_id", "code"),
            Column("Objet", "item_id"),
            Column("Quantité", "quantity"),
            Column("Début", "starts_at", "when"),
            Column("Fin", "ends_at", "when"),
            Column("Motif", "reason"),
            Column("État", "state", "state"),
        ],
        rows,
        [
            Button(
                "Retirer la demande",
                "/admin/extensions/{id}/cancel",
                lambda r: r.state in ("pending", "approved"),
                danger=True,
                ask="Raison du retrait",
            )
        ],
        empty="Aucune extension.",
        total=total,
        paging=paging,
        base="/admin/extensions",
        filters={"state": state},
    )
    notes = [
        "Une extension commandée par un autre que le Responsable attend son autorisation "
        "(000 §8) : le client la donne depuis son espace, le prestataire ne peut que "
        "retirer la demande."
    ]
    filters = [Filter("state", "État", (("", "tous"), *STATES), state)]
    return page(
        visit, "Extensions", tables=[table], filters=filters, notes=notes, errors=errors,
        status=status,
    )  # fmt: skip


@router.get("/admin/extensions")
def extension_list(visit: Staff) -> Response:
    """The extensions waiting for their Responsable (other states by the filter)."""
    return _page(visit)


@router.post("/admin/extensions/{extension_id}/cancel")
def extension_cancel(posted: PostedStaff, extension_id: str) -> Response:
    """Withdraw a request (a running extension ends now, after its minimum, 000 §9)."""
    visit = posted.visit

    def work(session: Session) -> object:
        reason = posted.get("reason").strip()[:300]
        return extensions.cancel(session, visit.me, _registry(visit), extension_id, reason)

    return act(posted, "/admin/extensions", work, lambda e, s: _page(visit, e, s))
