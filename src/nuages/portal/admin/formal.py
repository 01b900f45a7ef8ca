"""Back-office: formal notices of a contract (000 §16, 001 §3.3, 003 §13.1.2: the
client's breach; 003 §9: force majeure, which suspends the contract through a hold).

Shown on the contract's page (``admin/contracts.py`` adds the table and the form);
recorded and closed by ``contracts.formal_notices``, as ``POST …/formal-notices``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.contracts import formal_notices, life_schemas
from nuages.portal.admin.common import Button, Column, Field, Form, Table, act, values_of
from nuages.portal.web import PostedStaff

router = APIRouter()
GROUNDS = (("client_breach", "manquement du client"), ("force_majeure", "force majeure"))
FIELDS = ("ground", "reason", "suspend")
# The contract page's renderer, set by admin/contracts.py (which imports this module).
DETAIL: list[Callable[..., Response]] = []


def table(session: Session, contract_id: str) -> Table:
    """The contract's open formal notices with their close button."""
    rows = formal_notices.open_formal_notices(session, contract_id)
    return Table(
        "Mises en demeure en cours",
        [
            Column("Motif", "ground", "state"),
            Column("Clause", "clause"),
            Column("Raison", "reason"),
            Column("Donnée le", "given_at", "when"),
            Column("Résiliable à partir du", "terminable_from", "when"),
        ],
        rows,
        buttons=[
            Button(
                "Clore",
                f"/admin/contracts/{contract_id}/formal-notices/{{id}}/close",
                ask="Raison de la clôture",
            )
        ],
        empty="Aucune mise en demeure en cours.",
    )


def form(contract_id: str) -> Form:
    return Form(
        "Mettre en demeure",
        f"/admin/contracts/{contract_id}/formal-notices",
        [
            Field("ground", "Motif de la mise en demeure", "select", True, GROUNDS),
            Field("reason", "Raison (dite au client)", "textarea", True),
            Field("suspend", "Suspendre le contrat (force majeure, 003 §9)", "checkbox"),
        ],
        "Mettre en demeure",
    )


@router.post("/admin/contracts/{contract_id}/formal-notices")
def formal_give(posted: PostedStaff, contract_id: str) -> Response:
    """Record a formal notice; the contract becomes terminable after the offer's delay."""
    visit = posted.visit
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        body = life_schemas.FormalNoticeCreate.model_validate(
            {"ground": values["ground"], "reason": values["reason"],
             "suspend": values["suspend"] == "yes"}
        )  # fmt: skip
        return formal_notices.give_formal_notice(
            session, visit.me, contract_id, body.ground, body.reason, suspend=body.suspend
        )

    def again(errors: dict[str, str], status: int) -> Response:
        return DETAIL[0](visit, contract_id, errors, values, status)

    return act(posted, f"/admin/contracts/{contract_id}", work, again, FIELDS)


@router.post("/admin/contracts/{contract_id}/formal-notices/{notice_id}/close")
def formal_close(posted: PostedStaff, contract_id: str, notice_id: str) -> Response:
    """Close the open notice (the breach remedied, the force majeure over)."""
    visit = posted.visit

    def work(session: Session) -> object:
        for row in formal_notices.open_formal_notices(session, contract_id):
            if row.id == notice_id:
                reason = posted.get("reason").strip()[:500] or "closed in the back-office"
                return formal_notices.close_formal_notice(
                    session, visit.me, contract_id, row.ground, reason
                )
        from nuages.kernel.errors import Conflict

        raise Conflict("this formal notice is not open")

    def again(errors: dict[str, str], status: int) -> Response:
        return DETAIL[0](visit, contract_id, errors, {}, status)

    return act(posted, f"/admin/contracts/{contract_id}", work, again, ())
