"""Back-office: the provider's sub-processors (001 §16.9). The list (current ones
first, with their country and safeguard) and one form to add a sub-processor or to
replace a current one; either notifies every client the provider processes data for and
is recorded. Same rules as ``POST /gdpr/sub-processors`` (``gdpr.subprocessors``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.gdpr import subprocessors
from nuages.gdpr.schemas import SubProcessorCreate
from nuages.portal.admin.common import Column, Field, Form, Table, act, page, values_of
from nuages.portal.web import PostedStaff, Staff, Visit

router = APIRouter()
FIELDS = ("name", "service", "country", "address", "safeguard", "replaces_id")


def _page(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        rows = list(session.execute(subprocessors.list_subprocessors(visit.me)).scalars())
        table = Table(
            "Sous-traitants ultérieurs",
            [
                Column("Nom", "name"),
                Column("Service", "service"),
                Column("Pays", "country", "code"),
                Column("Adresse", "address"),
                Column("Garanties (RGPD art. 46)", "safeguard"),
                Column("Depuis le", "active_from", "when"),
                Column("Fin le", "ended_at", "when"),
            ],
            rows,
            empty="Aucun sous-traitant ultérieur.",
        )
        current = tuple((r.id, f"{r.name} ({r.country})") for r in rows if r.ended_at is None)
        form = Form(
            "Ajouter ou remplacer un sous-traitant ultérieur (001 §16.9)",
            "/admin/sub-processors",
            [
                Field("name", "Nom", required=True),
                Field("service", "Service rendu", required=True),
                Field("country", "Pays (code ISO)", required=True),
                Field("address", "Adresse"),
                Field("safeguard", "Garanties appropriées (hors UE sans adéquation)"),
                Field("replaces_id", "Remplace", "select", False, (("", "— (ajout)"), *current)),
            ],
            "Enregistrer et prévenir les clients",
        )
        return page(visit, "Sous-traitants ultérieurs", tables=[table], forms=[form],
                    errors=errors, values=values, status=status)  # fmt: skip


@router.get("/admin/sub-processors")
def subprocessor_list(visit: Staff) -> Response:
    """The sub-processors and the form to add or replace one."""
    return _page(visit, {}, {}, 200)


@router.post("/admin/sub-processors")
def subprocessor_add(posted: PostedStaff) -> Response:
    """Add (or replace) a sub-processor; every client is notified (001 §16.9)."""
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        body = SubProcessorCreate.model_validate(
            {**values, "country": values["country"].upper(),
             "replaces_id": values["replaces_id"] or None}
        )  # fmt: skip
        return subprocessors.add(session, posted.visit.me, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _page(posted.visit, errors, values, status)

    return act(posted, "/admin/sub-processors", work, again, FIELDS, "subprocessor_saved")
