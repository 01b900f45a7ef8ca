"""Use cases around what gets invoiced: ordered lines, invoicing profiles, pending
charges (fees others add), index values and legal interest rates staff enter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import schemas, seats
from nuages.invoicing.models import (
    ContractLine,
    IndexValue,
    InvoicingProfile,
    LegalRate,
    PendingCharge,
)
from nuages.invoicing.pricing import Item, PricingProblem, price_of
from nuages.kernel.access import get_visible
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.kernel.money import round_cents
from nuages.payments import mandates
from nuages.terms.schema import Offer


def _staff(actor: Principal) -> None:
    actor.require(Scope.BILLING)
    if not actor.is_staff:
        raise Forbidden("only provider staff do this")


def billing_contract(session: Session, actor: Principal, contract_id: str) -> Contract:
    """A contract the caller may see on the billing side, else 403 (no billing
    permission) or 404 (another client's)."""
    actor.require(Scope.BILLING)
    return get_visible(session, actor, Contract, contract_id, "contract")


def add_line(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.LineCreate,
) -> ContractLine:
    """Staff record an ordered item on a contract (an option, a user count, a flavour);
    ``replaces_id`` makes it an upgrade of an earlier line, which ends that day."""
    contract = billing_contract(session, actor, contract_id)
    _staff(actor)
    offer = registry.for_contract(session, contract)
    try:
        price_of(
            offer,
            Item(
                item_id=data.item_id,
                quantity=data.quantity,
                since=data.since,
                unit_price=data.unit_price,
            ),
        )
    except PricingProblem as exc:
        raise ValidationFailed(f"item_id: {exc}") from None
    if data.until is not None and data.until <= data.since:
        raise ValidationFailed("until: a line ends after it starts (periods are [since, until))")
    replaced = None
    if data.replaces_id is not None:
        replaced = session.get(ContractLine, data.replaces_id)
        if replaced is None or replaced.contract_id != contract.id:
            raise NotFound("no such line on this contract")
        if replaced.until is not None and replaced.until <= data.since:
            raise Conflict("the replaced line had already ended")
        if data.since <= replaced.since:
            raise ValidationFailed("since: an upgrade starts after the line it replaces")
        _refuse_committed(replaced, data.since)
        replaced.until = data.since
    line = ContractLine(
        contract_id=contract.id,
        client_id=contract.client_id,
        item_id=data.item_id,
        quantity=data.quantity,
        unit_price=data.unit_price,
        since=data.since,
        until=data.until,
        replaces_id=replaced.id if replaced else None,
        vm_id=data.vm_id,
        description=data.description,
    )
    session.add(line)
    session.flush()
    committed = []
    if replaced is not None and data.item_id == replaced.item_id:
        # 001 §4.1–4.3: seats dropped by a smaller count stay billed to their 12 months.
        committed = seats.commit_removed(
            session, offer, replaced, data.since, int(min(data.quantity, replaced.quantity))
        )
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="invoicing.line.add",
        params={
            "line_id": line.id,
            "item_id": data.item_id,
            "quantity": str(data.quantity),
            "since": data.since.isoformat(),
            "replaces": line.replaces_id,
            **({"committed_seats": seats.summary(committed)} if committed else {}),
        },
        client_id=contract.client_id,
    )
    return line


def _refuse_committed(line: ContractLine, until: dt.date) -> None:
    """Committed seats are billed to the end of their commitment: they cannot be
    ended or replaced before it (001 §4.1–4.3)."""
    if line.commits_seats_of is not None and line.until is not None and until < line.until:
        raise Conflict(
            f"these seats were removed and stay billed until {line.until.isoformat()} "
            f"(each user is subscribed for at least 12 months, {seats.CLAUSE})"
        )


def end_line(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    line_id: str,
    until: dt.date,
) -> ContractLine:
    """Staff end an ordered line (a downgrade or a cancelled option). Ending a user
    count before its seats' 12 months leaves them billed to their end as committed seat
    lines (001 §4.1–4.3)."""
    contract = billing_contract(session, actor, contract_id)
    line = session.get(ContractLine, line_id)
    if line is None or line.contract_id != contract.id:
        raise NotFound("no such line")
    _staff(actor)
    if until <= line.since:
        raise ValidationFailed("until: a line ends after it starts")
    if line.until is not None and line.until <= until:
        raise Conflict("the line already ended")
    _refuse_committed(line, until)
    line.until = until
    offer = registry.for_contract(session, contract)
    committed = seats.commit_removed(session, offer, line, until, 0)
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="invoicing.line.end",
        params={
            "line_id": line.id,
            "until": until.isoformat(),
            **({"committed_seats": seats.summary(committed)} if committed else {}),
        },
        client_id=contract.client_id,
    )
    return line


def list_lines(session: Session, actor: Principal, contract_id: str) -> list[ContractLine]:
    """The contract's ordered lines."""
    contract = billing_contract(session, actor, contract_id)
    return list(
        session.execute(
            select(ContractLine)
            .where(ContractLine.contract_id == contract.id)
            .order_by(ContractLine.since, ContractLine.created_at)
        ).scalars()
    )


def set_profile(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.ProfileSet,
) -> ProfileView:
    """The client (owner) or staff set the billing address, the chosen period where
    the offer allows a choice (003 §14.1) and the SEPA mandate (003 §14.2, 004 §8.2)."""
    contract = billing_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    offer = registry.for_contract(session, contract)
    invoiced = offer.billing.invoiced
    if data.period is not None and (
        invoiced is None or data.period not in invoiced.periods_allowed
    ):
        allowed = ", ".join(invoiced.periods_allowed) if invoiced else "none (prepaid)"
        raise ValidationFailed(f"period: offer {offer.id} allows {allowed}")
    profile = session.get(InvoicingProfile, contract.id)
    if profile is None:
        profile = InvoicingProfile(contract_id=contract.id, client_id=contract.client_id)
        session.add(profile)
    profile.period = data.period
    profile.address = data.address
    profile.postcode = data.postcode
    profile.city = data.city
    profile.buyer_reference = data.buyer_reference
    session.flush()
    if data.mandate is not None:
        # One mandate model (payments): a live mandate of the contract is amended (a new
        # reference, IBAN or bank goes to the bank with the original data), else created.
        client = session.get(Client, contract.client_id)
        assert client is not None
        mandates.put(
            session,
            actor.actor,
            contract_id=contract.id,
            client_id=contract.client_id,
            terms=mandates.Terms(
                iban=data.mandate.iban,
                bic=data.mandate.bic,
                holder_name=client.legal_name[:70],
                signed_on=data.mandate.signed_on,
                prenotice_days=data.mandate.prenotice_days,
                reference=data.mandate.mandate_id,
            ),
        )
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="invoicing.profile.set",
        params={
            "period": data.period,
            "mandate": data.mandate.mandate_id if data.mandate else None,
        },
        client_id=contract.client_id,
    )
    return profile_view(session, profile)


@dataclass(frozen=True)
class ProfileView:
    """A profile as shown: its own fields and the contract's live mandate's."""

    contract_id: str
    period: str | None
    address: str
    postcode: str
    city: str
    buyer_reference: str
    mandate_id: str | None
    mandate_signed_on: dt.date | None
    iban: str | None
    bic: str | None


def profile_view(session: Session, profile: InvoicingProfile) -> ProfileView:
    """The profile with the contract's live mandate (``payments.mandates``)."""
    mandate = mandates.active_mandate(session, profile.contract_id)
    return ProfileView(
        contract_id=profile.contract_id,
        period=profile.period,
        address=profile.address,
        postcode=profile.postcode,
        city=profile.city,
        buyer_reference=profile.buyer_reference,
        mandate_id=mandate.reference if mandate else None,
        mandate_signed_on=mandate.signed_on if mandate else None,
        iban=mandate.iban if mandate else None,
        bic=mandate.bic if mandate else None,
    )


def get_profile(session: Session, actor: Principal, contract_id: str) -> ProfileView:
    """The contract's invoicing profile (404 when none was set)."""
    contract = billing_contract(session, actor, contract_id)
    profile = session.get(InvoicingProfile, contract.id)
    if profile is None:
        raise NotFound("no invoicing profile set for this contract")
    return profile_view(session, profile)


def add_charge(
    session: Session,
    who: Actor,
    contract: Contract,
    *,
    kind: str,
    description: str,
    amount: Decimal,
    idempotency_key: str,
    taxable: bool = True,
) -> tuple[PendingCharge, bool]:
    """Put a sum on the contract's next invoice, once per ``idempotency_key``; return
    the charge and whether this call wrote it (a different sum under the same key is a
    409). Dunning (001 §4.4 fees, interest) and other slices (fees of 001 §7, 004 §17.2)
    call this."""
    amount = round_cents(amount)
    existing = session.execute(
        select(PendingCharge).where(PendingCharge.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.amount != amount or existing.contract_id != contract.id:
            raise Conflict(f"idempotency key {idempotency_key!r} already names another charge")
        return existing, False
    charge = PendingCharge(
        contract_id=contract.id,
        client_id=contract.client_id,
        kind=kind,
        description=description[:300],
        amount=amount,
        vat_category="S" if taxable else "E",
        idempotency_key=idempotency_key,
    )
    session.add(charge)
    session.flush()
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="invoicing.charge.add",
        params={"kind": kind, "amount": str(amount), "key": idempotency_key},
        client_id=contract.client_id,
    )
    return charge, True


def charges_of(session: Session, contract_id: str) -> list[PendingCharge]:
    """Every charge of a contract, billed or not, oldest first."""
    return list(
        session.execute(
            select(PendingCharge)
            .where(PendingCharge.contract_id == contract_id)
            .order_by(PendingCharge.created_at, PendingCharge.id)
        ).scalars()
    )


def staff_charge(
    session: Session, actor: Principal, contract_id: str, data: schemas.ChargeCreate
) -> PendingCharge:
    """Staff add a fee to a contract's next invoice (e.g. 001 §7 EUR 250 per transfer)."""
    contract = billing_contract(session, actor, contract_id)
    _staff(actor)
    charge, _ = add_charge(
        session,
        actor.actor,
        contract,
        kind="fee",
        description=data.description,
        amount=data.amount,
        idempotency_key=data.idempotency_key,
        taxable=data.taxable,
    )
    return charge


def set_index(
    session: Session, who: Actor, name: str, month: dt.date, value: Decimal
) -> IndexValue:
    """Record the published value of index ``name`` for ``month`` (000 §13.3, 004 §8.1).

    A value is final once entered: documents may rest on it; entering the same value
    again is harmless, a different one is a 409.
    """
    if value <= 0:
        raise ValidationFailed("value: an index value is positive")
    month = month.replace(day=1)
    row = session.execute(
        select(IndexValue).where(IndexValue.name == name, IndexValue.period == month)
    ).scalar_one_or_none()
    if row is not None:
        if row.value != value:
            raise Conflict(f"{name} {month:%Y-%m} is already {row.value}")
        return row
    row = IndexValue(name=name, period=month, value=value, entered_by=who.label)
    session.add(row)
    session.flush()
    history.record(
        session,
        who,
        object_type="index",
        object_id=f"{name}:{month:%Y-%m}",
        action="invoicing.index.set",
        params={"value": str(value)},
    )
    return row


def index_names(offers: list[Offer]) -> set[str]:
    """Every index a revision formula of these offers reads."""
    return {i.name for o in offers for i in o.indexation.indices}


def set_legal_rate(
    session: Session,
    who: Actor,
    valid_from: dt.date,
    valid_to: dt.date,
    rate_pct: Decimal,
    series: str = "FR",
) -> LegalRate:
    """Record a country's legal interest rate over its validity period (SPEC §17,
    000 §13.1: the Belgian series for a Belgian-law contract)."""
    if series not in ("FR", "BE"):
        raise ValidationFailed(f"series: {series!r} is not a legal-rate series (FR or BE)")
    if valid_to <= valid_from:
        raise ValidationFailed("valid_to: the period ends after it starts")
    if rate_pct < 0:
        raise ValidationFailed("rate_pct: a legal rate is never negative")
    overlap = (
        session.execute(
            select(LegalRate).where(
                LegalRate.series == series,
                LegalRate.valid_from < valid_to,
                LegalRate.valid_to > valid_from,
            )
        )
        .scalars()
        .first()
    )
    if overlap is not None:
        raise Conflict(
            f"a legal rate of series {series} is already entered from {overlap.valid_from}"
        )
    row = LegalRate(series=series, valid_from=valid_from, valid_to=valid_to, rate_pct=rate_pct)
    session.add(row)
    session.flush()
    history.record(
        session,
        who,
        object_type="legal_rate",
        object_id=f"{series}:{valid_from.isoformat()}",
        action="invoicing.legal_rate.set",
        params={"series": series, "valid_to": valid_to.isoformat(), "rate_pct": str(rate_pct)},
    )
    return row
