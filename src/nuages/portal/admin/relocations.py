"""Back-office: moves of a contract's data outside the EU (001 §5.3). Staff record the
move on the contract's page (its VMs — one or all — or their backups, the site, its
country, the client's consent and safeguard for a country without adequacy, 001 §5.4);
the client is notified at once and may terminate without indemnity for 30 days. The
same rules as ``POST /contracts/{id}/relocations`` (``reversibility.relocation``)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.portal.admin.common import Column, Field, Form, Table, act, values_of
from nuages.portal.web import PostedStaff
from nuages.reversibility import relocation
from nuages.reversibility.schemas import RelocationCreate

router = APIRouter()
FIELDS = ("subject", "site", "country", "vm_id", "moves_at", "safeguard", "consented_on",
          "reason")  # fmt: skip


def parts(session: Session, me: Principal, contract_id: str) -> tuple[Table, Form]:
    """The contract's announced moves and the form recording one (shown on the
    back-office contract page)."""
    rows = relocation.list_relocations(session, me, contract_id)
    table = Table(
        "Déplacements des données hors UE",
        [
            Column("Objet", "subject"),
            Column("Site", "site"),
            Column("Pays", "country"),
            Column("Base du transfert", "transfer_basis"),
            Column("Notifié le", "notified_at", "when"),
            Column("Déplacement à partir du", "moves_at", "when"),
            Column("Résiliation sans indemnité jusqu'au", "exit_until", "when"),
            Column("Clause", "clause"),
        ],
        rows,
        empty="Aucun déplacement annoncé.",
    )
    form = Form(
        "Annoncer un déplacement des données hors UE (001 §5.3)",
        f"/admin/contracts/{contract_id}/relocations",
        [
            Field(
                "subject",
                "Objet",
                "select",
                True,
                (("vms", "Les machines"), ("backups", "Leurs sauvegardes")),
            ),
            Field("site", "Site de destination", required=True, hint="par exemple montreal-1"),
            Field("country", "Pays (code ISO)", hint="si aucun hôte du site ne le dit"),
            Field("vm_id", "Une seule machine (facultatif)"),
            Field(
                "moves_at",
                "Déplacement à partir du (facultatif)",
                "date",
                hint="par défaut le plus tôt que permet le préavis de 3 mois",
            ),
            Field("safeguard", "Garanties appropriées (001 §5.4)"),
            Field("consented_on", "Accord écrit du client le (001 §5.4)", "date"),
            Field("reason", "Raison (dite au client)", required=True),
        ],
        "Annoncer le déplacement",
    )
    return table, form


def _moment(text: str) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)


@router.post("/admin/contracts/{contract_id}/relocations")
def record(posted: PostedStaff, contract_id: str) -> Response:
    """Record the move: the client is notified and its 30-day exit opens (001 §5.3)."""
    from nuages.portal.admin.contracts import _detail

    visit = posted.visit
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        body = RelocationCreate.model_validate(
            {
                "subject": values["subject"] or "vms",
                "site": values["site"],
                "country": values["country"].upper() or None,
                "vm_id": values["vm_id"] or None,
                "moves_at": _moment(values["moves_at"]),
                "safeguard": values["safeguard"],
                "consented_on": values["consented_on"] or None,
                "reason": values["reason"],
            }
        )
        return relocation.record(session, visit.me, contract_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _detail(visit, contract_id, errors, values, status)

    return act(posted, f"/admin/contracts/{contract_id}", work, again, FIELDS, "relocated")
