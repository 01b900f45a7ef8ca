"""Back-office: the clients' audits (001 §16.8): every audit announced, and the form
closing a scheduled one with the provider's hours (those beyond the offer's free hours
billed at the contract's hourly rate on the next invoice), through ``gdpr.audits`` as
``POST /gdpr/audits/{id}/close`` does."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.compute.api import registry
from nuages.gdpr import audits
from nuages.kernel.errors import ValidationFailed
from nuages.portal.admin.common import Column, Field, Form, Table, act, page, values_of
from nuages.portal.web import PostedStaff, Staff, Visit

router = APIRouter()
FIELDS = ("audit_id", "hours")


def _page(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        rows = list(session.execute(audits.list_audits(visit.me).limit(200)).scalars())
        table = Table(
            "Audits",
            [
                Column("Client", "client_id", "code"),
                Column("Auditeur", "auditor"),
                Column("Périmètre", "scope"),
                Column("Début", "starts_on", "day"),
                Column("État", "state", "state"),
                Column("Heures du prestataire", "provider_hours"),
                Column("Heures facturées", "billed_hours"),
            ],
            rows,
            empty="Aucun audit.",
        )
        open_ones = tuple(
            (a.id, f"{a.auditor} · {a.starts_on.isoformat()}")
            for a in rows
            if a.state == "scheduled"
        )
        form = Form(
            "Clore un audit (001 §16.8)",
            "/admin/audits",
            [
                Field("audit_id", "Audit", "select", True, open_ones),
                Field(
                    "hours",
                    "Heures de travail du prestataire",
                    "text",
                    True,
                    hint="par exemple 5.5",
                ),
            ],
            "Clore et facturer le dépassement",
        )
        return page(visit, "Audits", tables=[table], forms=[form] if open_ones else [],
                    errors=errors, values=values, status=status)  # fmt: skip


@router.get("/admin/audits")
def audit_list(visit: Staff) -> Response:
    """The audits and the form to close a scheduled one."""
    return _page(visit, {}, {}, 200)


@router.post("/admin/audits")
def audit_close(posted: PostedStaff) -> Response:
    """Record the provider's hours; the hours beyond the free ones are billed."""
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        try:
            hours = Decimal(values["hours"].replace(",", "."))
        except InvalidOperation:
            raise ValidationFailed("hours: give a number of hours, e.g. 5.5") from None
        reg = registry(posted.visit.request)
        return audits.close_audit(session, posted.visit.me, reg, values["audit_id"], hours)

    def again(errors: dict[str, str], status: int) -> Response:
        return _page(posted.visit, errors, values, status)

    return act(posted, "/admin/audits", work, again, FIELDS, "audit_closed")
