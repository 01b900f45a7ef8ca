"""Back-office: price indices (000 §13.3 Syntec and ElecVert, 004 §8.1 Syntec) and legal
interest rates per country (SPEC §17, 000 §13.1: three times the Belgian rate), each
entered once as published; and the notices outbox (issue #11: none may be lost)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.invoicing import lines, reading, schemas
from nuages.kernel.pagination import paginate
from nuages.notices import service as notices
from nuages.notices.models import Notice
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
from nuages.portal.web import Paging, PostedStaff, Staff, Visit

router = APIRouter()
INDEX_FIELDS = ("name", "month", "value")
RATE_FIELDS = ("series", "valid_from", "valid_to", "rate_pct")


def _rates(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        indices = reading.list_indices(session, visit.me, None)
        rates = reading.list_legal_rates(session, visit.me)
        tables = [
            Table(
                "Indices",
                [
                    Column("Indice", "name"),
                    Column("Mois", "period", "day"),
                    Column("Valeur", "value"),
                    Column("Saisi le", "entered_at", "when"),
                ],
                indices,
                empty="Aucun indice saisi.",
            ),
            Table(
                "Taux d'intérêt légaux",
                [
                    Column("Pays", "series"),
                    Column("Du", "valid_from", "day"),
                    Column("Au", "valid_to", "day"),
                    Column("Taux (%)", "rate_pct"),
                ],
                rates,
                empty="Aucun taux saisi.",
            ),
        ]
        forms = [
            Form(
                "Saisir un indice publié",
                "/admin/rates/index",
                [
                    Field(
                        "name",
                        "Indice",
                        "select",
                        True,
                        (("syntec", "Syntec"), ("elecvert", "ElecVert (SEDILEC)")),
                    ),
                    Field("month", "Mois (AAAA-MM)", required=True),
                    Field("value", "Valeur", required=True),
                ],
                "Enregistrer",
            ),
            Form(
                "Saisir un taux d'intérêt légal",
                "/admin/rates/legal",
                [
                    Field("series", "Pays", "select", True, (("FR", "France"), ("BE", "Belgique"))),
                    Field("valid_from", "Du", "date", True),
                    Field("valid_to", "Au", "date", True),
                    Field("rate_pct", "Taux (%)", required=True),
                ],
                "Enregistrer",
            ),
        ]
        return page(
            visit,
            "Indices et taux légaux",
            tables=tables,
            forms=forms,
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/rates")
def rates_page(visit: Staff) -> Response:
    """Indices and legal rates entered, and the forms to enter new ones."""
    return _rates(visit, {}, {}, 200)


@router.post("/admin/rates/index")
def index_set(posted: PostedStaff) -> Response:
    """Enter a published index value (final once entered: a different one is a 409)."""
    visit = posted.visit
    values = values_of(posted, INDEX_FIELDS)

    def work(session: Session) -> object:
        body = schemas.IndexSet.model_validate(values)
        return lines.set_index(session, visit.me.actor, body.name, body.first_day, body.value)

    return act(posted, "/admin/rates", work, lambda e, s: _rates(visit, e, values, s), INDEX_FIELDS)


@router.post("/admin/rates/legal")
def legal_rate_set(posted: PostedStaff) -> Response:
    """Enter the legal interest rate of a period for a country."""
    visit = posted.visit
    values = values_of(posted, RATE_FIELDS)

    def work(session: Session) -> object:
        body = schemas.LegalRateSet.model_validate(values)
        return lines.set_legal_rate(
            session, visit.me.actor, body.valid_from, body.valid_to, body.rate_pct, body.series
        )

    return act(posted, "/admin/rates", work, lambda e, s: _rates(visit, e, values, s), RATE_FIELDS)


STATES = (
    ("", "tous"),
    ("queued", "en attente"),
    ("sending", "en cours"),
    ("sent", "envoyés"),
    ("failed", "en échec"),
    ("bounced", "rejetés après envoi"),
)


def _outbox(visit: Visit, errors: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    state = visit.request.query_params.get("state", "")
    state = state if state in dict(STATES) else ""
    with visit.read() as session:
        stmt = notices.list_notices(visit.me, state=state or None)
        shown, total = paginate(session, stmt, paging.page, paging.per_page)
        rows: list[Any] = shown
        resent = notices.resent_among(session, [n.id for n in shown if n.state == "bounced"])
        table = Table(
            "Avis",
            [
                Column("Créé le", "created_at", "when"),
                Column("Type", "kind"),
                Column("Clause", "clause"),
                Column("Objet", "subject"),
                Column("État", "state", "state"),
                Column("Tentatives", "attempts"),
                Column("Erreur", "last_error"),
                Column("Alerte", "alert"),
            ],
            rows,
            buttons=[
                Button("Renvoyer", "/admin/notices/{id}/retry", lambda n: n.state == "failed"),
                # A bounced notice goes again as a copy, once the address is corrected.
                Button(
                    "Renvoyer à l'adresse corrigée",
                    "/admin/notices/{id}/resend",
                    lambda n: n.state == "bounced" and n.id not in resent,
                ),
            ],
            total=total,
            paging=paging,
            filters={"state": state},
        )
        # Legal notices that bounced after acceptance (DSN): what to send another way.
        alerts = session.execute(
            notices.list_notices(visit.me, state="bounced")
            .where(Notice.alert != "")
            .with_only_columns(Notice.alert)
            .limit(10)
        ).scalars()
        return page(
            visit,
            "Boîte d'envoi des avis",
            tables=[table],
            notes=list(alerts),
            filters=[Filter("state", "État", STATES, state)],
            errors=errors,
            status=status,
        )


@router.get("/admin/notices")
def outbox(visit: Staff) -> Response:
    """The notices outbox by delivery state; failed ones can be sent again."""
    return _outbox(visit, {}, 200)


@router.post("/admin/notices/{notice_id}/retry")
def outbox_retry(posted: PostedStaff, notice_id: str) -> Response:
    """Put a failed notice back in the outbox (never one a server already accepted)."""
    visit = posted.visit

    def work(session: Session) -> object:
        return notices.retry(session, visit.me, notice_id)

    return act(posted, "/admin/notices", work, lambda e, s: _outbox(visit, e, s))


@router.post("/admin/notices/{notice_id}/resend")
def outbox_resend(posted: PostedStaff, notice_id: str) -> Response:
    """Send a bounced notice again as a new notice, once the client's address is fixed
    (refused while the bounced address is still the recipient)."""
    visit = posted.visit

    def work(session: Session) -> object:
        return notices.resend(session, visit.me, notice_id)

    return act(posted, "/admin/notices", work, lambda e, s: _outbox(visit, e, s))
