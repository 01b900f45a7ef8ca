"""Back-office: major change requests waiting for their quote (002 §3.8.4: a major
change "fera l'objet d'un devis préalable"). Staff give the price (a positive amount in
euros, at most cents) and a note; the client then sees the quoted price on its
contract's changes page. Ticking "accepted in writing" bills it at once, as
``nuages tickets change-quote --accepted`` does (``support.changes.quote_major``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.kernel.errors import ValidationFailed
from nuages.portal.admin.common import Column, Field, Form, Table, act, page, values_of
from nuages.portal.web import PostedStaff, Staff, Visit
from nuages.support import changes

router = APIRouter()
FIELDS = ("change_id", "amount", "note", "accepted")


def _page(visit: Visit, errors: dict[str, str], values: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        waiting = changes.awaiting_quotes(session, visit.me)
        rows = []
        for c in waiting:
            client = session.get(Client, c.client_id)
            rows.append({"id": c.id, "client": client.legal_name if client else c.client_id,
                         "contract_id": c.contract_id, "description": c.description,
                         "created_at": c.created_at})  # fmt: skip
        table = Table(
            "Changements majeurs en attente de devis",
            [
                Column("Client", "client"),
                Column("Contrat", "contract_id", "code"),
                Column("Description", "description"),
                Column("Demandé le", "created_at", "when"),
            ],
            rows,
            empty="Aucun changement en attente de devis.",
        )
        choices = tuple(
            (c.id, f"{r['client']} · {c.description[:60]}")
            for c, r in zip(waiting, rows, strict=True)
        )
        form = Form(
            "Chiffrer un changement majeur (002 §3.8.4)",
            "/admin/changes",
            [
                Field("change_id", "Demande", "select", True, choices),
                Field("amount", "Prix HT (EUR)", "text", True, hint="par exemple 2400.00"),
                Field("note", "Note du devis", "textarea"),
                Field("accepted", "Le client l'a accepté par écrit : facturer", "checkbox"),
            ],
            "Enregistrer le devis",
        )
        return page(visit, "Devis des changements", tables=[table],
                    forms=[form] if choices else [], errors=errors, values=values,
                    status=status)  # fmt: skip


@router.get("/admin/changes")
def change_quotes(visit: Staff) -> Response:
    """The major changes awaiting a quote and the form to quote one."""
    return _page(visit, {}, {}, 200)


def _amount(text: str) -> Decimal:
    """A price in euros: a positive number with at most two decimals (cents)."""
    try:
        amount = Decimal(text.strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ValidationFailed("amount: give a price in euros, e.g. 2400.00") from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed("amount: a quote is a positive amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("amount: a price has at most two decimals (cents)")
    return amount.quantize(Decimal("0.01"))


@router.post("/admin/changes")
def change_quote(posted: PostedStaff) -> Response:
    """Record the quote (and, accepted in writing, put it on the next invoice)."""
    values = values_of(posted, FIELDS)

    def work(session: Session) -> object:
        amount = _amount(values["amount"])
        accepted, note = values["accepted"] == "yes", values["note"].strip()[:500]
        me = posted.visit.me
        return changes.quote_major(session, me, values["change_id"], amount, accepted, note)

    def again(errors: dict[str, str], status: int) -> Response:
        return _page(posted.visit, errors, values, status)

    return act(posted, "/admin/changes", work, again, FIELDS, "change_quoted")
