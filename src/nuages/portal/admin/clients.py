"""Back-office: clients and their users (SPEC §1: clients name their Responsables; staff
create clients and, for them, users of every client role)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import SecretStr
from sqlalchemy.orm import Session

from nuages.accounts import schemas
from nuages.accounts import service as accounts
from nuages.accounts.roles import Role
from nuages.contracts import service as contracts
from nuages.kernel.errors import Forbidden
from nuages.portal.admin.common import Button, Column, Field, Form, Table, act, page, values_of
from nuages.portal.web import Paging, PostedStaff, Staff, Visit

router = APIRouter()
CLIENT_FIELDS = (
    "legal_name",
    "kind",
    "country",
    "vat_number",
    "billing_email",
    "line1",
    "postcode",
    "city",
)
USER_FIELDS = ("email", "name", "role", "password")
ROLES = (
    (Role.CLIENT_OWNER.value, "propriétaire (Responsable)"),
    (Role.CLIENT_MEMBER.value, "membre (sous-responsable)"),
    (Role.GUEST.value, "invité (lecture seule)"),
)


def _client_form() -> Form:
    return Form(
        "Nouveau client",
        "/admin/clients",
        [
            Field("legal_name", "Raison sociale", required=True),
            Field(
                "kind",
                "Type",
                "select",
                True,
                (("business", "entreprise"), ("consumer", "consommateur")),
            ),
            Field("country", "Pays (ISO, 2 lettres)", required=True, value="FR"),
            Field("vat_number", "Numéro de TVA"),
            Field("billing_email", "E-mail de facturation", "email", True),
            Field("line1", "Adresse", required=True),
            Field("postcode", "Code postal"),
            Field("city", "Ville", required=True),
        ],
        "Créer le client",
    )


def _clients(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = accounts.list_clients(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Clients",
            [
                Column("Raison sociale", "legal_name", "link", "/admin/clients/{id}"),
                Column("Pays", "country"),
                Column("E-mail de facturation", "billing_email"),
                Column("Créé le", "created_at", "day"),
            ],
            shown,
            total=total,
            paging=paging,
        )
        return page(
            visit,
            "Clients",
            tables=[table],
            forms=[_client_form()],
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/clients")
def client_list(visit: Staff) -> Response:
    """Every client, a page at a time, and the form for a new one."""
    return _clients(visit, {}, {}, 200)


@router.post("/admin/clients")
def client_create(posted: PostedStaff) -> Response:
    """Create a client (its address is checked against its country)."""
    values = values_of(posted, CLIENT_FIELDS)

    def work(session: Session) -> object:
        body = schemas.ClientCreate.model_validate(
            {
                "kind": values["kind"],
                "legal_name": values["legal_name"],
                "country": values["country"].upper(),
                "vat_number": values["vat_number"] or None,
                "billing_email": values["billing_email"],
                "address": {
                    "line1": values["line1"],
                    "postcode": values["postcode"],
                    "city": values["city"],
                },
            }
        )
        return accounts.create_client(session, posted.visit.me, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _clients(posted.visit, errors, values, status)

    return act(posted, "/admin/clients", work, again, (*CLIENT_FIELDS, "address"))


_USERS_HIDDEN = (
    "Utilisateurs masqués : ouvrez d'abord un accès motivé à leurs données "
    "(001 §15.3, POST /api/v1/clients/CLIENT/gdpr/accesses)."
)


def _client(visit: Visit, client_id: str, errors: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        client = accounts.get_client(session, visit.me, client_id)
        hidden = ""
        try:
            users, _ = accounts.list_users(session, visit.me, 1, 200, client_id)
        except Forbidden:  # 001 §15.3: the client's users only with a live access grant
            users, hidden = [], _USERS_HIDDEN
        shown, _ = contracts.list_contracts(session, visit.me, 1, 200, client_id=client_id)
        tables = [
            Table(
                "Utilisateurs",
                [
                    Column("E-mail", "email"),
                    Column("Rôle", "role"),
                    Column("Responsable désigné", "is_terms_decider", "bool"),
                    Column("Actif", "active", "bool"),
                ],
                users,
                buttons=[
                    Button(
                        "Désactiver",
                        f"/admin/clients/{client_id}/users/{{id}}",
                        lambda u: u.active,
                        True,
                        (("active", "no"),),
                    ),
                    Button(
                        "Réactiver",
                        f"/admin/clients/{client_id}/users/{{id}}",
                        lambda u: not u.active,
                        False,
                        (("active", "yes"),),
                    ),
                ],
            ),
            Table(
                "Contrats",
                [
                    Column("Offre", "offer_id", "link", "/admin/contracts/{id}"),
                    Column("État", "state", "state"),
                    Column("Accepté le", "accepted_at", "day"),
                ],
                shown,
            ),
        ]
        form = Form(
            "Ajouter un utilisateur",
            f"/admin/clients/{client_id}/users",
            [
                Field("email", "E-mail", "email", True),
                Field("name", "Nom"),
                Field("role", "Rôle", "select", True, ROLES),
                Field("password", "Mot de passe (facultatif)", "password"),
            ],
            "Ajouter",
        )
        notes = [f"{client.legal_name} — {client.address_line1}, {client.postcode} {client.city}"]
        notes += [hidden] if hidden else []
        # 001 §15.3: staff open (and see) motivated accesses to this client's data from here
        links = [("Accès aux données du client", f"/admin/clients/{client_id}/accesses")]
        return page(
            visit,
            "Client",
            tables=tables,
            forms=[form],
            notes=notes,
            errors=errors,
            status=status,
            links=links,
        )


@router.get("/admin/clients/{client_id}")
def client_page(visit: Staff, client_id: str) -> Response:
    """A client: its users and contracts; add a user."""
    return _client(visit, client_id, {}, 200)


@router.post("/admin/clients/{client_id}/users")
def client_user_add(posted: PostedStaff, client_id: str) -> Response:
    """Add an owner, member or guest to the client."""
    values = values_of(posted, USER_FIELDS)

    def work(session: Session) -> object:
        body = schemas.UserCreate(
            email=values["email"],
            name=values["name"],
            role=Role(values["role"]),
            password=SecretStr(values["password"]) if values["password"] else None,
        )
        return accounts.create_user(session, posted.visit.me, client_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _client(posted.visit, client_id, errors, status)

    return act(posted, f"/admin/clients/{client_id}", work, again, USER_FIELDS, "user_added")


@router.post("/admin/clients/{client_id}/users/{user_id}")
def client_user_change(posted: PostedStaff, client_id: str, user_id: str) -> Response:
    """Disable or enable a user."""

    def work(session: Session) -> object:
        body = schemas.UserUpdate(active=posted.get("active") == "yes")
        return accounts.update_user(session, posted.visit.me, user_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _client(posted.visit, client_id, errors, status)

    return act(posted, f"/admin/clients/{client_id}", work, again, (), "user_changed")
