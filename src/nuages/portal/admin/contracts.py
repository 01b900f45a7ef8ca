"""Back-office: contracts — confirming an invoiced order (001 §2.5), recording a bank
transfer that may form a prepaid one (000 §3.1, §13.2), holds placed and lifted with
their ground, clause and expected duration (004 §7; 000 §11.1: a wrongful one is not
billed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nuages.billing import schemas as billing_schemas
from nuages.billing import topups
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.invoicing import deposits
from nuages.invoicing import schemas as invoicing_schemas
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.settings import get_settings
from nuages.portal.admin import formal, relocations
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
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import Paging, PostedStaff, Staff, Visit

router = APIRouter()
STATES = tuple((s.value, s.value) for s in ContractState)


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _is_invoiced(visit: Visit, contract: object) -> bool:
    try:
        offer = _registry(visit).current(contract.offer_id)  # type: ignore[attr-defined]
    except Exception:  # an offer withdrawn since: no confirmation button
        return False
    return bool(offer.billing.mode != "prepaid")


def _list(visit: Visit, errors: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    state = visit.request.query_params.get("state", "")
    state = state if state in dict(STATES) else ""
    with visit.read() as session:
        shown, total = contracts.list_contracts(
            session, visit.me, paging.page, paging.per_page, state=state or None
        )
        table = Table(
            "Contrats",
            [
                Column("Offre", "offer_id", "link", "/admin/contracts/{id}"),
                Column("Client", "client_id", "code"),
                Column("État", "state", "state"),
                Column("Accepté le", "accepted_at", "day"),
                Column("Formé le", "activated_at", "day"),
            ],
            shown,
            buttons=[
                Button(
                    "Confirmer la commande",
                    "/admin/contracts/{id}/confirm",
                    lambda c: c.state == ContractState.PENDING.value and _is_invoiced(visit, c),
                )
            ],
            total=total,
            paging=paging,
            filters={"state": state},
        )
        filters = [Filter("state", "État", (("", "tous"), *STATES), state)]
        return page(
            visit, "Contrats", tables=[table], filters=filters, errors=errors, status=status
        )


@router.get("/admin/contracts")
def contract_list(visit: Staff) -> Response:
    """Every contract, by state; pending invoiced orders can be confirmed here."""
    return _list(visit, {}, 200)


@router.post("/admin/contracts/{contract_id}/confirm")
def contract_confirm(posted: PostedStaff, contract_id: str) -> Response:
    """Confirm an invoiced order: the contract is formed (001 §2.5)."""
    visit = posted.visit

    def work(session: Session) -> object:
        reason = posted.get("reason") or "order confirmed in the back-office"
        return contracts.confirm(session, visit.me, _registry(visit), contract_id, reason)

    return act(posted, "/admin/contracts", work, lambda e, s: _list(visit, e, s), (), "done")


def _detail(
    visit: Visit, contract_id: str, errors: dict[str, str], values: dict[str, str], status: int
) -> Response:
    with visit.read() as session:
        contract = contracts.get_contract(session, visit.me, contract_id)
        offer = attempt(session, partial(_registry(visit).for_contract, session, contract))
        rows = holds.list_holds(session, visit.me, contract.id)
        grounds = holds.grounds_of(offer) if offer is not None else {}
        table = Table(
            "Suspensions",
            [
                Column("Motif", "ground", "state"),
                Column("Clause", "clause"),
                Column("Raison", "reason"),
                Column("Depuis", "placed_at", "when"),
                Column("Fin prévue", "expected_end_at", "when"),
                Column("Levée le", "lifted_at", "when"),
            ],
            rows,
            buttons=[
                Button(
                    "Lever",
                    f"/admin/contracts/{contract_id}/holds/{{id}}/lift",
                    lambda h: h.lifted_at is None,
                    ask="Raison de la levée",
                )
            ],
            empty="Aucune suspension.",
        )
        forms = [
            Form(
                "Suspendre (poser une suspension)",
                f"/admin/contracts/{contract_id}/holds",
                [
                    Field(
                        "ground",
                        "Motif",
                        "select",
                        True,
                        tuple((g, f"{g} ({v.clause})") for g, v in grounds.items()),
                    ),
                    Field("reason", "Raison (dite au client)", required=True),
                    Field("expected_end_at", "Fin prévue (facultatif)", "date"),
                ],
                "Suspendre",
            )
        ]
        if offer is not None and offer.billing.mode == "prepaid":
            forms.append(
                Form(
                    "Enregistrer un virement reçu",
                    f"/admin/contracts/{contract_id}/transfer",
                    [
                        Field("amount", "Montant", required=True, hint="par exemple 100.00"),
                        Field("reference", "Référence bancaire du crédit", required=True),
                        Field("received_on", "Reçu le", "date"),
                    ],
                    "Créditer",
                )
            )
            # A "webhook" card provider books its card payments from its signed events
            # (billing.topups.card_event); recording one by hand is refused then.
            terminal = get_settings().seller_card_provider == "terminal"
            if terminal and "card" in offer.billing.prepaid.top_up_means:  # type: ignore[union-attr]
                forms.append(
                    Form(
                        "Enregistrer un paiement par carte (terminal du prestataire)",
                        f"/admin/contracts/{contract_id}/card",
                        [
                            Field("card_amount", "Montant payé par carte", required=True,
                                  hint="par exemple 100.00"),
                            Field("card_reference", "Référence d'autorisation du terminal",
                                  required=True),
                        ],
                        "Créditer le paiement par carte",
                    )
                )  # fmt: skip
        hardware = deposits.pending_lines(session, contract.id, offer) if offer else []
        if hardware:
            # 001 §4.6 (i): "pourra être demandé" — the provider chooses to ask.
            forms.append(
                Form(
                    "Demander l'acompte sur le matériel commandé (001 §4.6 (i))",
                    f"/admin/contracts/{contract_id}/deposit",
                    [
                        Field(
                            "deposit_line",
                            "Commande de matériel",
                            "select",
                            False,
                            (
                                ("", "tout le matériel non facturé"),
                                *((r.id, r.description or r.item_id) for r in hardware),
                            ),
                        )
                    ],
                    "Émettre la facture d'acompte",
                )
            )
        tables = [table, formal.table(session, contract.id)]
        forms.append(formal.form(contract_id))
        title = offer.offer.title if offer is not None else contract.offer_id
        notes = [f"{title} — {contract.state} — {contract.state_reason or ''}"]
        moves, move_form = relocations.parts(session, visit.me, contract.id)  # 001 §5.3
        if offer is not None and offer.catalogue.hosting.relocation is not None:
            forms.append(move_form)
        return page(
            visit,
            "Contrat",
            tables=[*tables, moves],
            forms=forms,
            notes=notes,
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/contracts/{contract_id}")
def contract_page(visit: Staff, contract_id: str) -> Response:
    """One contract: its holds, and the forms to place one or record a transfer."""
    return _detail(visit, contract_id, {}, {}, 200)


def _moment(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("expected_end_at: a date such as 2026-12-31") from None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@router.post("/admin/contracts/{contract_id}/holds")
def hold_place(posted: PostedStaff, contract_id: str) -> Response:
    """Place a hold: the contract's VMs are paused, the client told why (004 §7)."""
    visit = posted.visit
    values = values_of(posted, ("ground", "reason", "expected_end_at"))

    def work(session: Session) -> object:
        return holds.staff_place(
            session,
            visit.me,
            _registry(visit),
            contract_id,
            values["ground"],
            values["reason"],
            _moment(values["expected_end_at"]),
        )

    def again(errors: dict[str, str], status: int) -> Response:
        return _detail(visit, contract_id, errors, values, status)

    back = f"/admin/contracts/{contract_id}"
    return act(posted, back, work, again, ("ground", "reason", "expected_end_at"))


@router.post("/admin/contracts/{contract_id}/holds/{hold_id}/lift")
def hold_lift(posted: PostedStaff, contract_id: str, hold_id: str) -> Response:
    """Lift a hold (with its reason); the VMs resume when no hold is left."""
    visit = posted.visit

    def work(session: Session) -> object:
        reason = posted.get("reason").strip()
        if not reason:
            raise ValidationFailed("reason: say why the hold is lifted")
        return holds.staff_lift(session, visit.me, contract_id, hold_id, reason, False)

    def again(errors: dict[str, str], status: int) -> Response:
        return _detail(visit, contract_id, errors, {}, status)

    return act(posted, f"/admin/contracts/{contract_id}", work, again, ())


@router.post("/admin/contracts/{contract_id}/transfer")
def transfer(posted: PostedStaff, contract_id: str) -> Response:
    """Record a bank transfer received: it credits the account, and forms the contract
    once the minimum amount is reached (000 §3.1)."""
    visit = posted.visit
    values = values_of(posted, ("amount", "reference", "received_on"))

    def work(session: Session) -> object:
        try:
            amount = Decimal(values["amount"].replace(",", "."))
        except InvalidOperation:
            raise ValidationFailed("amount: a number such as 100.00") from None
        body = billing_schemas.TransferCreate.model_validate(
            {
                "amount": str(amount),
                "currency": "EUR",
                "reference": values["reference"],
                "received_on": values["received_on"] or None,
            }
        )
        return topups.record_transfer(session, visit.me, _registry(visit), contract_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _detail(visit, contract_id, errors, values, status)

    back = f"/admin/contracts/{contract_id}"
    return act(posted, back, work, again, ("amount", "reference", "received_on"))


@router.post("/admin/contracts/{contract_id}/card")
def card_payment(posted: PostedStaff, contract_id: str) -> Response:
    """Record a card payment taken on the provider's terminal (its authorisation
    reference credits the account once; 000 §13.2 lists the card among top-up means)."""
    visit = posted.visit
    values = values_of(posted, ("card_amount", "card_reference"))

    def work(session: Session) -> object:
        try:
            amount = Decimal(values["card_amount"].replace(",", "."))
        except InvalidOperation:
            raise ValidationFailed("card_amount: a number such as 100.00") from None
        body = billing_schemas.TransferCreate.model_validate(
            {"amount": str(amount), "currency": "EUR", "reference": values["card_reference"]}
        )
        return topups.record_card(session, visit.me, _registry(visit), contract_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        if "amount" in errors:
            errors["card_amount"] = errors.pop("amount")
        if "reference" in errors:
            errors["card_reference"] = errors.pop("reference")
        return _detail(visit, contract_id, errors, values, status)

    back = f"/admin/contracts/{contract_id}"
    return act(posted, back, work, again, ("amount", "reference", "card_amount", "card_reference"))


@router.post("/admin/contracts/{contract_id}/deposit")
def deposit(posted: PostedStaff, contract_id: str) -> Response:
    """Ask for the deposit of a hardware order: its deposit invoice is issued and
    e-mailed (001 §4.6 (i))."""
    visit = posted.visit
    values = values_of(posted, ("deposit_line",))

    def work(session: Session) -> object:
        chosen = [values["deposit_line"]] if values["deposit_line"] else []
        body = invoicing_schemas.DepositCreate(lines=chosen)
        return deposits.request(session, visit.me, _registry(visit), contract_id, body)

    def again(errors: dict[str, str], status: int) -> Response:
        if "lines" in errors:
            errors["deposit_line"] = errors.pop("lines")
        return _detail(visit, contract_id, errors, values, status)

    back = f"/admin/contracts/{contract_id}"
    return act(posted, back, work, again, ("deposit_line", "lines"))


formal.DETAIL.append(_detail)  # the formal-notice forms re-render this page on refusal
