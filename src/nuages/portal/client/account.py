"""A contract's prepaid account (000 §13.2, for those holding the billing permission: a
member never sees money, 000 §5): balance and run-out date, entries, how to top up
(transfer with the payment reference, SEPA direct debit under a mandate, card: how to
pay, since nuages holds no card data and starts no card payment: with the ``terminal``
card provider staff record the authorisation reference (``billing.topups.record_card``);
with the ``webhook`` provider its signed event credits it (``billing.topups.card_event``))."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.billing import ledger, schemas, sepa, usage
from nuages.billing.models import EntryKind
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.errors import NotFound, NuagesError
from nuages.kernel.settings import get_settings
from nuages.portal import service as portal
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
KINDS = [k.value for k in EntryKind]
MANDATE_FIELDS = ("iban", "bic", "holder_name", "signed_on")


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _page(
    visit: Visit,
    contract_id: str,
    kind: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    paging = Paging.of(visit.request)
    kind = kind if kind in KINDS else ""
    with visit.read() as session:
        summary = usage.account_summary(session, visit.me, _registry(visit), contract_id)
        contract = contracts.get_contract(session, visit.me, contract_id)
        means = list(
            ledger.prepaid_terms(_registry(visit).for_contract(session, contract)).top_up_means
        )
        entries, total = ledger.list_entries(
            session,
            visit.me,
            contract_id,
            paging.page,
            paging.per_page,
            kind=EntryKind(kind) if kind else None,
        )
        mandates = attempt(session, partial(sepa.list_mandates, session, visit.me, contract_id))
        debits = attempt(session, partial(sepa.list_debits, session, visit.me, contract_id, 1, 10))
        return visit.render(
            "client/account.html",
            status=status,
            account=summary,
            entries=entries,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            kind=kind,
            kinds=KINDS,
            filters={"kind": kind},
            mandates=mandates or [],
            debits=debits[0] if debits else [],
            errors=errors or {},
            values=values or {},
            once=visit.once(),
            means=means,
            card_provider=get_settings().seller_card_provider,
        )


@router.get("/contracts/{contract_id}/account")
def account_page(visit: SignedIn, contract_id: str, kind: str = "") -> Response:
    """Balance, run-out date, entries (filtered by kind) and how to top up."""
    return _page(visit, contract_id, kind)


@router.post("/contracts/{contract_id}/account/mandate")
def add_mandate(posted: PostedForm, contract_id: str) -> Response:
    """Register a signed SEPA mandate (IBAN and BIC checked by the billing slice)."""
    visit = posted.visit
    values = {name: posted.get(name) for name in MANDATE_FIELDS}
    try:
        body = schemas.MandateCreate.model_validate({**values, "bic": values["bic"] or None})
        with visit.write() as session:
            portal.claim(
                session, visit.me.user_id, posted.once, f"/contracts/{contract_id}/account"
            )
            sepa.create_mandate(session, visit.me, _registry(visit), contract_id, body)
    except portal.AlreadySent as sent:
        return visit.redirect(
            sent.result_url or f"/contracts/{contract_id}/account", "already_sent"
        )
    except (NuagesError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            raise
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _page(visit, contract_id, "", field_errors(exc, MANDATE_FIELDS), values, status)
    return visit.redirect(f"/contracts/{contract_id}/account", "mandate_added")


@router.post("/contracts/{contract_id}/account/debit")
def ask_debit(posted: PostedForm, contract_id: str) -> Response:
    """Ask for a direct-debit top-up (within the offer's caps); credited once settled."""
    visit = posted.visit
    values = {"amount": posted.get("amount")}
    try:
        body = schemas.DirectDebitCreate(
            amount=values["amount"],
            reference=f"portal-{posted.once}"[:64],
        )
        with visit.write() as session:
            portal.claim(
                session, visit.me.user_id, posted.once, f"/contracts/{contract_id}/account"
            )
            sepa.request_debit(session, visit.me, _registry(visit), contract_id, body)
    except portal.AlreadySent as sent:
        return visit.redirect(
            sent.result_url or f"/contracts/{contract_id}/account", "already_sent"
        )
    except (NuagesError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            raise
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _page(visit, contract_id, "", field_errors(exc, ("amount",)), values, status)
    return visit.redirect(f"/contracts/{contract_id}/account", "debit_asked")
