"""Back-office pages for support and data protection (issue #16): the tickets of every
client (answered on the ticket's own page, ``/tickets/{id}``, with the same rules as
``POST /tickets/{id}/messages``) and a client's staff access grants (001 §15.3: open
one with its reason and expiry, revoke it), through ``support.tickets`` and
``gdpr.access`` as the API and CLI do."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.accounts import service as accounts
from nuages.gdpr import access
from nuages.gdpr.schemas import AccessCreate
from nuages.portal.admin.common import (
    Button,
    Column,
    Field,
    Filter,
    Form,
    Table,
    act,
    page,
    values_of,
)
from nuages.portal.web import PostedStaff, Staff, Visit
from nuages.support import tickets

router = APIRouter()
STATES = (("", "Tous"), ("open", "Ouverts"), ("answered", "Répondus"), ("closed", "Fermés"))
WHAT = (("users", "Ses utilisateurs"), ("consoles", "Les consoles de ses machines"),
        ("data", "Ses données"))  # fmt: skip
ACCESS_FIELDS = ("what", "reason", "hours")


@router.get("/admin/tickets")
def admin_tickets(visit: Staff, state: str = "") -> Response:
    """Every client's tickets, newest first, by state; each opens the ticket's page,
    where staff answer (the first staff answer ends the response clock, 003 §5.1.3)."""
    wanted = state if state in {s for s, _ in STATES[1:]} else None
    with visit.read() as session:
        stmt = tickets.list_tickets(visit.me, state=wanted).limit(200)
        rows = list(session.execute(stmt).scalars())
        table = Table(
            "Tickets",
            [
                Column("Objet", "subject", "link", "/tickets/{id}"),
                Column("Client", "client_id", "code"),
                Column("Catégorie", "category"),
                Column("Gravité", "severity"),
                Column("État", "state", "state"),
                Column("Ouvert le", "opened_at", "when"),
                Column("Première réponse", "first_response_at", "when"),
                Column("Intervention due le", "intervention_due_at", "when"),
            ],
            rows,
            empty="Aucun ticket.",
        )
        return page(
            visit,
            "Tickets",
            tables=[table],
            filters=[Filter("state", "État", STATES, state)],
        )


def _accesses(
    visit: Visit,
    client_id: str,
    errors: dict[str, str],
    values: dict[str, str],
    status: int,
) -> Response:
    with visit.read() as session:
        client = accounts.get_client(session, visit.me, client_id)
        rows = access.list_accesses(session, visit.me, client_id)
        table = Table(
            "Accès aux données personnelles",
            [
                Column("Personnel", "staff_email"),
                Column("Objet", "what"),
                Column("Raison", "reason"),
                Column("Ouvert le", "granted_at", "when"),
                Column("Expire le", "expires_at", "when"),
                Column("Révoqué le", "revoked_at", "when"),
            ],
            rows,
            buttons=[
                Button(
                    "Révoquer",
                    f"/admin/clients/{client_id}/accesses/{{id}}/revoke",
                    lambda row: row.revoked_at is None,
                    True,
                )
            ],
            empty="Aucun accès.",
        )
        form = Form(
            "Ouvrir un accès (001 §15.3)",
            f"/admin/clients/{client_id}/accesses",
            [
                Field("what", "Objet", "select", True, WHAT),
                Field("reason", "Raison (dite au client)", "textarea", True),
                Field("hours", "Durée en heures (1 à 72)", "number", True, value="8"),
            ],
            "Ouvrir l'accès",
        )
        notes = [f"{client.legal_name}"]
        return page(
            visit,
            "Accès du personnel",
            tables=[table],
            forms=[form],
            notes=notes,
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/clients/{client_id}/accesses")
def admin_accesses(visit: Staff, client_id: str) -> Response:
    """The client's access grants; open one, revoke one."""
    return _accesses(visit, client_id, {}, {}, 200)


@router.post("/admin/clients/{client_id}/accesses")
def admin_access_grant(posted: PostedStaff, client_id: str) -> Response:
    """Open an access with its reason, for a number of hours (001 §15.3)."""
    values = values_of(posted, ACCESS_FIELDS)

    def work(session: Session) -> object:
        body = AccessCreate.model_validate(
            {"what": values["what"], "reason": values["reason"], "hours": values["hours"] or 8}
        )
        return access.grant(session, posted.visit.me, client_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _accesses(posted.visit, client_id, errors, values, status)

    back = f"/admin/clients/{client_id}/accesses"
    return act(posted, back, work, again, ACCESS_FIELDS, "access_granted")


@router.post("/admin/clients/{client_id}/accesses/{access_id}/revoke")
def admin_access_revoke(posted: PostedStaff, client_id: str, access_id: str) -> Response:
    """End the access now."""

    def work(session: Session) -> object:
        return access.revoke(session, posted.visit.me, client_id, access_id)

    def again(errors: dict[str, str], status: int) -> Response:
        return _accesses(posted.visit, client_id, errors, {}, status)

    back = f"/admin/clients/{client_id}/accesses"
    return act(posted, back, work, again, (), "access_revoked")
