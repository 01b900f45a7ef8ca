"""Back-office: data breaches (001 §16.7). Staff open one with every field the clause
lists (the form refuses one left out, naming it, nothing written); the affected clients
are resolved from the scope and notified at once; each breach's page shows, beside its
detection time, when each client's e-mail was queued and sent. Same rules as
``POST /gdpr/breaches`` (``gdpr.breaches``)."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.gdpr import breaches
from nuages.gdpr.schemas import BreachCreate
from nuages.portal.admin.common import Column, Field, Form, Table, act, page, values_of
from nuages.portal.client.extensions import local_moment
from nuages.portal.web import PostedStaff, Staff, Visit

router = APIRouter()
TEXT = ("summary", "circumstances", "nature", "data_concerned", "data_volume",
        "person_categories", "persons_count", "consequences", "measures", "occurred_at",
        "detected_at", "contact_name", "contact_email", "contact_phone")  # fmt: skip
FIELDS = (*TEXT, "scope", "hosts", "sites", "all_clients")
LONG = {"circumstances", "data_concerned", "consequences", "measures"}


LABELS = {
    "summary": "Résumé",
    "circumstances": "Circonstances",
    "nature": "Nature de la violation",
    "data_concerned": "Contenu des données concernées",
    "data_volume": "Quantité de données concernées",
    "person_categories": "Catégories de personnes concernées",
    "persons_count": "Nombre de personnes concernées",
    "consequences": "Conséquences probables",
    "measures": "Mesures prises ou proposées",
    "occurred_at": "Date et heure de l'incident (heure de Paris)",
    "detected_at": "Date et heure de sa détection (heure de Paris)",
    "contact_name": "DPO ou contact",
    "contact_email": "E-mail du contact",
    "contact_phone": "Téléphone du contact",
}


def _form() -> Form:
    kinds = {"persons_count": "number", "occurred_at": "datetime-local",
             "detected_at": "datetime-local", "contact_email": "email"}  # fmt: skip
    fields = [
        Field(
            name,
            LABELS[name],
            "textarea" if name in LONG else kinds.get(name, "text"),
            name != "contact_phone",
        )
        for name in TEXT
    ]
    fields += [
        Field("scope", "Clients touchés (identifiants, séparés par des espaces)", "textarea"),
        Field("hosts", "Ou les clients des hôtes (noms, séparés par des espaces)"),
        Field("sites", "Ou les clients des sites (noms, séparés par des espaces)"),
        Field("all_clients", "Ou tous les clients", "checkbox"),
    ]
    return Form("Notifier une violation de données (001 §16.7)", "/admin/breaches", fields,
                "Notifier les clients")  # fmt: skip


def _list(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        rows = list(session.execute(breaches.list_breaches(visit.me).limit(200)).scalars())
        table = Table(
            "Violations de données",
            [
                Column("Résumé", "summary", "link", "/admin/breaches/{id}"),
                Column("Incident", "occurred_at", "when"),
                Column("Détection", "detected_at", "when"),
                Column("Ouverte le", "opened_at", "when"),
            ],
            rows,
            empty="Aucune violation.",
        )
        return page(visit, "Violations de données", tables=[table], forms=[_form()],
                    errors=errors, values=values, status=status)  # fmt: skip


@router.get("/admin/breaches")
def breach_list(visit: Staff) -> Response:
    """The breaches, newest detection first, and the form to notify one."""
    return _list(visit, {}, {}, 200)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,;]+", text) if w]


@router.post("/admin/breaches")
def breach_open(posted: PostedStaff) -> Response:
    """Record the breach and notify every affected client at once (001 §16.7)."""
    visit = posted.visit
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        data: dict[str, object] = {n: values[n] for n in TEXT}
        data["persons_count"] = values["persons_count"] or None
        data["occurred_at"] = local_moment(values["occurred_at"], "occurred_at")
        data["detected_at"] = local_moment(values["detected_at"], "detected_at")
        data["scope"] = {
            "all": values["all_clients"] == "yes",
            "client_ids": _words(values["scope"]),
            "hosts": _words(values["hosts"]),
            "sites": _words(values["sites"]),
        }
        return breaches.open_breach(session, visit.me, BreachCreate.model_validate(data))

    def again(errors: dict[str, str], status: int) -> Response:
        return _list(visit, errors, values, status)

    return act(posted, "/admin/breaches", work, again, FIELDS, "breach_notified")


@router.get("/admin/breaches/{breach_id}")
def breach_page(visit: Staff, breach_id: str) -> Response:
    """One breach: its fields, its detection time and each client's notice with the
    time it was queued and sent."""
    with visit.read() as session:
        breach = breaches.get_breach(session, visit.me, breach_id)
        shown = [
            {"id": n, "label": visit._(LABELS[n]), "value": str(getattr(breach, n))}
            for n in TEXT
            if n not in {"occurred_at", "detected_at"} and getattr(breach, n) != ""
        ]
        details = Table("Violation", [Column("Élément", "label"), Column("Valeur", "value")], shown)
        sent = Table(
            "Notifications aux clients",
            [
                Column("Client", "client_id", "code"),
                Column("État", "state", "state"),
                Column("En file le", "queued_at", "when"),
                Column("Envoyée le", "sent_at", "when"),
            ],
            breaches.notified(session, visit.me, breach),
            empty="Aucune notification.",
        )
        notes = [
            visit._("Incident : {at}", at=visit.when(breach.occurred_at)),
            visit._("Détection : {at}", at=visit.when(breach.detected_at)),
        ]
        return page(visit, breach.summary, tables=[details, sent], notes=notes)
