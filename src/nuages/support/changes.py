"""Managed-service change requests (002 §3.8.4): "Standard" changes are free within the
monthly number the quote sets; "Significatif" ones are priced from the catalogue;
"Majeur" ones are a project on a prior quote. The quota is counted per calendar month of
the contract's time zone. A priced change is refused (422, nothing written) unless the
client accepts its price; accepted, the price goes on the next invoice."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.services import access as vm_access
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.invoicing.lines import add_charge
from nuages.kernel.access import get_visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.managed.models import SupportAgreement
from nuages.support import schemas
from nuages.support.models import ChangeRequest
from nuages.terms import apply

CLAUSE = "002 §3.8.4"


def _month(session: Session, registry: OfferRegistry, contract: Contract) -> str:
    calendar = apply.calendar_for(registry.for_contract(session, contract))
    today = calendar.local_date(utc_now())
    return f"{today.year:04d}-{today.month:02d}"


def used_in(session: Session, contract_id: str, month: str) -> int:
    """Standard changes counted against the month's quota."""
    return int(
        session.execute(
            select(func.count())
            .select_from(ChangeRequest)
            .where(
                ChangeRequest.contract_id == contract_id,
                ChangeRequest.month == month,
                ChangeRequest.within_quota.is_(True),
            )
        ).scalar_one()
    )


def _managed(session: Session, contract: Contract) -> SupportAgreement:
    # Locks the agreement row (PostgreSQL): two requests at once cannot both take the
    # month's last free standard change. SQLite serialises writers anyway.
    row = session.execute(
        select(SupportAgreement)
        .where(SupportAgreement.contract_id == contract.id)
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or not row.managed:
        raise Conflict(
            f"contract_id: the contract has no managed service ({CLAUSE}); staff record its "
            "quote with `nuages tickets agreement --managed`"
        )
    return row


def request_change(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.ChangeRequestCreate,
) -> ChangeRequest:
    """Record a change request, priced by its class and the month's quota."""
    contract = get_visible(session, actor, Contract, contract_id, "contract")
    actor.require(Scope.WRITE)
    if data.vm_id is not None:
        try:
            vm = vm_access.load_vm(session, actor, data.vm_id)
        except NotFound:
            raise NotFound("vm_id: no such VM") from None
        if vm.contract_id != contract.id:
            raise ValidationFailed("vm_id: the VM belongs to another contract")
    agreement = _managed(session, contract)
    month = _month(session, registry, contract)
    within = False
    price: Decimal | None = None
    state = "accepted"
    if data.kind == "standard":
        used = used_in(session, contract.id, month)
        if used < agreement.standard_changes_per_month:
            within = True
        else:
            price = agreement.standard_change_price or agreement.significant_change_price
            if price is None:
                raise Conflict(
                    f"kind: the {agreement.standard_changes_per_month} standard changes of "
                    f"{month} are used ({CLAUSE}) and the quote prices no further one"
                )
            why = (
                f"the month's {agreement.standard_changes_per_month} free standard changes "
                f"({CLAUSE}, quota of {month}) are used; this one costs EUR {price}"
            )
    elif data.kind == "significant":
        price = agreement.significant_change_price
        if price is None:
            raise Conflict(f"kind: no catalogue price for a significant change is set ({CLAUSE})")
        why = f"a significant change is paid per the service catalogue ({CLAUSE}): EUR {price}"
    else:
        state = "awaiting_quote"  # 002 §3.8.4: "fera l'objet d'un devis préalable"
    if price is not None:
        if not actor.has(Scope.BILLING):
            raise Forbidden("accepting a price needs the 'billing' permission (an owner)")
        if not data.accept_price:
            raise ValidationFailed(f"accept_price: {why}; send accept_price true to order it")
        if data.accepted_amount is not None and data.accepted_amount != price:
            raise ValidationFailed(
                f"accepted_amount: the price is EUR {price}, not {data.accepted_amount}"
            )
    row = ChangeRequest(
        contract_id=contract.id,
        client_id=contract.client_id,
        vm_id=data.vm_id,
        kind=data.kind,
        description=data.description,
        month=month,
        within_quota=within,
        price=price,
        price_accepted=price is not None,
        state=state,
        requested_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    if price is not None:
        charge, _ = add_charge(
            session,
            actor.actor,
            contract,
            kind="fee",
            description=f"{data.kind.capitalize()} change: {data.description[:120]} ({CLAUSE})",
            amount=price,
            idempotency_key=f"change:{row.id}",
        )
        row.charge_id = charge.id
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="change_request",
        object_id=row.id,
        action="support.change.request",
        params={
            "kind": data.kind,
            "month": month,
            "within_quota": within,
            "price": str(price) if price is not None else None,
        },
        client_id=contract.client_id,
    )
    return row


def list_changes(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> schemas.ChangeRequestList:
    """The contract's change requests, newest first, with this month's quota use."""
    actor.require(Scope.READ)
    contract = get_visible(session, actor, Contract, contract_id, "contract")
    month = _month(session, registry, contract)
    agreement = session.get(SupportAgreement, contract.id)
    rows = session.execute(
        select(ChangeRequest)
        .where(ChangeRequest.contract_id == contract.id)
        .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id)
    ).scalars()
    return schemas.ChangeRequestList(
        month=month,
        quota=agreement.standard_changes_per_month if agreement else 0,
        used=used_in(session, contract.id, month),
        items=[schemas.ChangeRequestOut.model_validate(r) for r in rows],
    )


def awaiting_quotes(session: Session, actor: Principal) -> list[ChangeRequest]:
    """Staff: every major change request still waiting for its quote, oldest first
    (002 §3.8.4: "fera l'objet d'un devis préalable")."""
    actor.require(Scope.READ)
    if not actor.is_staff:
        raise Forbidden("only provider staff list the changes awaiting a quote")
    return list(
        session.execute(
            select(ChangeRequest)
            .where(ChangeRequest.kind == "major", ChangeRequest.state == "awaiting_quote")
            .order_by(ChangeRequest.created_at, ChangeRequest.id)
            .limit(500)
        ).scalars()
    )


def _bill_quote(session: Session, actor: Principal, row: ChangeRequest, contract: Contract) -> None:
    # One charge per change (idempotency key), whoever records the acceptance: staff's
    # written-acceptance path (quote_major) and the client's own (accept_quote).
    assert row.price is not None
    charge, _ = add_charge(
        session, actor.actor, contract, kind="fee",
        description=f"Major change (quote): {row.description[:120]} ({CLAUSE})",
        amount=row.price, idempotency_key=f"change:{row.id}",
    )  # fmt: skip
    row.price_accepted, row.state, row.charge_id = True, "accepted", charge.id


def quote_major(
    session: Session,
    actor: Principal,
    change_id: str,
    amount: Decimal,
    accepted: bool,
    note: str = "",
) -> ChangeRequest:
    """Staff record the quote of a major change and, once the client accepted it in
    writing, put it on the next invoice (002 §3.8.4)."""
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff quote a major change")
    row = session.get(ChangeRequest, change_id)
    if row is None:
        raise NotFound("no such change request")
    if row.kind != "major" or row.state not in ("awaiting_quote", "quoted"):
        raise Conflict(
            f"only a major change awaiting its quote is quoted (this one is {row.state})"
        )
    if amount <= 0:
        raise ValidationFailed("amount: a quote is a positive amount")
    contract = session.get(Contract, row.contract_id)
    assert contract is not None
    row.price, row.state = amount, "quoted"
    if accepted:
        _bill_quote(session, actor, row, contract)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="change_request",
        object_id=row.id,
        action="support.change.quote",
        params={"amount": str(amount), "accepted": accepted, "note": note},
        client_id=row.client_id,
    )
    return row


def _quoted_for_owner(
    session: Session, actor: Principal, change_id: str, what: str
) -> tuple[ChangeRequest, Contract]:
    # Visibility first: another client's change is a 404, never a 403 that confirms it.
    actor.require(Scope.READ)
    row = session.get(ChangeRequest, change_id, with_for_update=True)
    if row is None or not actor.can_see_client(row.client_id):
        raise NotFound("no such change request")
    contract = get_visible(session, actor, Contract, row.contract_id, "contract")
    actor.require(Scope.WRITE)
    if actor.is_staff or not actor.has(Scope.BILLING):
        raise Forbidden(
            f"only an owner (Responsable) of the client may {what} a quote ({CLAUSE}); staff "
            "record a written acceptance with `nuages tickets change-quote --accepted`"
        )
    if row.state != "quoted":
        raise Conflict(
            f"only a quoted change can be accepted or declined (this one is {row.state})"
        )
    return row, contract


def accept_quote(session: Session, actor: Principal, change_id: str) -> ChangeRequest:
    """The client's owner accepts a major change's quote: billed once at the quoted price
    on the next invoice (002 §3.8.4 "devis préalable"); a second acceptance is a 409."""
    row, contract = _quoted_for_owner(session, actor, change_id, "accept")
    _bill_quote(session, actor, row, contract)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="change_request",
        object_id=row.id,
        action="support.change.accept",
        params={"amount": str(row.price), "charge_id": row.charge_id},
        client_id=row.client_id,
    )
    return row


def decline_quote(session: Session, actor: Principal, change_id: str) -> ChangeRequest:
    """The client's owner declines a major change's quote: nothing is billed, the change
    is closed as ``declined`` (002 §3.8.4)."""
    row, _ = _quoted_for_owner(session, actor, change_id, "decline")
    row.state = "declined"
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="change_request",
        object_id=row.id,
        action="support.change.decline",
        params={"amount": str(row.price)},
        client_id=row.client_id,
    )
    return row


def accept_in_writing(
    session: Session, actor: Principal, change_id: str, note: str = ""
) -> ChangeRequest:
    """Staff record the client's written acceptance of a quote at its quoted price (the
    same bill as ``quote_major(..., accepted=True)``; a second time is a 409)."""
    row = session.get(ChangeRequest, change_id)
    if row is None or (not actor.is_staff and not actor.can_see_client(row.client_id)):
        raise NotFound("no such change request")
    if row.state != "quoted" or row.price is None:
        raise Conflict(f"only a quoted change can be accepted (this one is {row.state})")
    return quote_major(session, actor, change_id, row.price, True, note)
