"""Top-ups and staff movements: bank transfers, credits, fees, refunds, corrections.

Every top-up is idempotent by its bank reference: the key ``topup:transfer:<ref>`` is
shared by transfers staff record by hand and by the statement import, so the same
credit can never be counted twice whichever way it arrives. A card payment the
provider confirms by its signed event (``card_event``) is credited once per event id
(``card-webhook:<id>``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.billing import balance, ledger, schemas
from nuages.billing.models import BillingAccount, EntryKind, LedgerEntry
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.errors import AlreadyExists, Forbidden, InvalidTransition, ValidationFailed
from nuages.payments import cards
from nuages.terms.schema import Offer


def transfer_key(bank_reference: str) -> str:
    """The idempotency key of a bank transfer: its bank reference, case and spaces aside."""
    return "topup:transfer:" + "".join(bank_reference.split()).upper()


def _require_staff(actor: Principal, what: str) -> None:
    if not actor.is_staff:
        raise Forbidden(f"only provider staff {what}")


def check_means(offer: Offer, means: str) -> None:
    """409 unless the offer lets the client top up this way (000 §13.2)."""
    prepaid = ledger.prepaid_terms(offer)
    if means not in prepaid.top_up_means:
        raise InvalidTransition(f"offer {offer.id} does not take top-ups by {means}")


def check_currency(account: BillingAccount, currency: str) -> None:
    """422 unless ``currency`` is the account's."""
    if currency != account.currency:
        raise ValidationFailed(
            f"currency: the account is kept in {account.currency}, not {currency}"
        )


def credit_topup(
    session: Session,
    registry: OfferRegistry,
    contract: Contract,
    account: BillingAccount,
    *,
    amount: Decimal,
    key: str,
    reference: str,
    description: str,
    who: Actor,
    means: str,
) -> tuple[LedgerEntry, bool]:
    """Credit money received, once per key; then form the contract or lift a negative-
    balance suspension if the new balance allows it (000 §3.1, §11.2)."""
    entry, created = ledger.post(
        session,
        account,
        kind=EntryKind.TOPUP,
        amount=amount,
        key=key,
        reference=reference,
        description=description,
        actor_id=who.id,
    )
    if created:
        history.record(
            session,
            who,
            object_type="account",
            object_id=contract.id,
            action="billing.topup",
            params={"amount": str(entry.amount), "means": means, "reference": reference},
            client_id=contract.client_id,
        )
        balance.after_movement(session, registry, contract, who)
    return entry, created


def record_transfer(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.TransferCreate,
) -> LedgerEntry:
    """Staff record a bank transfer received for a contract (000 §13.2).

    A bank reference already credited is a 409 and writes nothing.
    """
    description = "bank transfer"
    if data.received_on is not None:
        description += f" received on {data.received_on.isoformat()}"
    if data.note:
        description += f": {data.note}"
    return _staff_credit(
        session, actor, registry, contract_id, data,
        means="transfer", key=transfer_key(data.reference), description=description,
        act="record received transfers", what=f"bank reference {data.reference}",
    )  # fmt: skip


def _staff_credit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.TransferCreate,
    *,
    means: str,
    key: str,
    description: str,
    act: str,
    what: str,
) -> LedgerEntry:
    """A payment staff saw arrive (transfer, card terminal) credited once: the key
    already in the ledger is a 409 and writes nothing."""
    contract = ledger.contract_for(session, actor, contract_id)
    _require_staff(actor, act)
    account, offer = ledger.account_for(session, registry, contract, lock=True)
    check_means(offer, means)
    check_currency(account, data.currency)
    existing = session.execute(
        select(LedgerEntry.seq).where(LedgerEntry.idempotency_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        raise AlreadyExists(f"{what} is already credited (#{existing})")
    entry, _ = credit_topup(
        session, registry, contract, account, amount=data.amount, key=key,
        reference=data.reference, description=description[:300], who=actor.actor, means=means,
    )  # fmt: skip
    return entry


_SIGNS = {
    "credit": (EntryKind.CREDIT, Decimal(1)),
    "fee": (EntryKind.FEE, Decimal(-1)),
    "refund": (EntryKind.REFUND, Decimal(-1)),
}


def adjust(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.AdjustmentCreate,
) -> LedgerEntry:
    """Staff write a credit, a fee, a refund or a correction, with its reason, into the
    ledger and the action history. A retry with the same ``idempotency_key`` returns
    the first entry; the same key for another movement is a 409."""
    contract = ledger.contract_for(session, actor, contract_id)
    _require_staff(actor, "adjust accounts")
    account, _offer = ledger.account_for(session, registry, contract, lock=True)
    if data.kind == "adjustment":
        kind, amount = EntryKind.ADJUSTMENT, data.amount
    else:
        if data.amount <= 0:
            raise ValidationFailed(f"amount: give a {data.kind} as a positive amount")
        kind, sign = _SIGNS[data.kind]
        amount = sign * data.amount
    if kind is EntryKind.REFUND and ledger.balance(session, contract.id) < data.amount:
        # 000 §13.2: only a credit balance is refunded.
        raise InvalidTransition("a refund cannot exceed the account's credit balance")
    key_part = data.idempotency_key or uuid.uuid4().hex
    entry, created = ledger.post(
        session,
        account,
        kind=kind,
        amount=amount,
        key=f"staff:{contract.id}:{key_part}",
        description=data.reason,
        actor_id=actor.user_id,
    )
    if created:
        history.record(
            session,
            actor.actor,
            object_type="account",
            object_id=contract.id,
            action=f"billing.{kind.value}",
            params={"amount": str(entry.amount), "reason": data.reason, "seq": entry.seq},
            client_id=contract.client_id,
        )
        balance.after_movement(session, registry, contract, actor.actor)
    return entry


def card_key(authorisation: str) -> str:
    """The idempotency key of a card payment: the terminal's authorisation reference."""
    return "topup:card:" + "".join(authorisation.split()).upper()


def record_card(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.TransferCreate,
) -> LedgerEntry:
    """Staff record a card payment taken on the provider's own terminal or acquirer
    portal (000 §13.2 "carte"; nuages handles no card data, like invoicing's
    ``TerminalProvider``): ``reference`` is the terminal's authorisation reference, so
    the same payment is credited once (409 the second time, nothing written). Refused
    (422) when the settings choose the ``webhook`` provider: its signed event books the
    payment (``card_event``), and one recorded by hand as well would count it twice."""
    cards.card_provider().capture(
        amount=data.amount, currency=data.currency, reference=data.reference,
        idempotency_key=card_key(data.reference),
    )  # fmt: skip
    return _staff_credit(
        session, actor, registry, contract_id, data,
        means="card", key=card_key(data.reference),
        description="card payment" + (f": {data.note}" if data.note else ""),
        act="record card payments", what=f"card payment {data.reference}",
    )  # fmt: skip


def event_key(event_id: str) -> str:
    """The idempotency key of a card top-up the provider confirmed by its event."""
    return f"card-webhook:{event_id}"


@dataclass(frozen=True)
class CardTopup:
    """What a provider's card event did to a prepaid account."""

    contract: Contract
    account: BillingAccount
    entry: LedgerEntry
    created: bool  # False: the event was already credited (a redelivery)


def card_event(session: Session, registry: OfferRegistry, event: cards.CardEvent) -> CardTopup:
    """Credit the card payment a signed provider event confirms to the prepaid account of
    the contract its ``metadata.topup_contract`` names (000 §13.2 "carte"), once per
    event id: a redelivered event writes nothing and says so. Crediting forms a pending
    contract once its Minimum Amount is in (000 §3.1: the contract is formed when the
    provider confirms the transaction; ``balance.form_if_funded``).

    422 for an unknown contract (as for an unknown invoice: a webhook never gets an
    ambiguous 404) or another currency than the account's; 409 for an invoiced
    contract or an offer that takes no card top-ups. Nothing is written then.
    """
    assert event.topup_contract is not None
    contract = session.get(Contract, event.topup_contract)
    if contract is None:
        raise ValidationFailed(f"event: no contract {event.topup_contract}")
    key = event_key(event.event_id)
    account, offer = ledger.account_for(session, registry, contract, lock=True)
    check_means(offer, "card")
    check_currency(account, event.currency)
    entry, created = credit_topup(
        session, registry, contract, account, amount=event.amount, key=key,
        reference=event.provider_ref,
        description=f"card payment confirmed by the provider ({event.provider_ref})"[:300],
        who=Actor.system("card-webhook"), means="card",
    )  # fmt: skip
    fresh = ledger.get_account(session, contract.id)
    assert fresh is not None
    return CardTopup(contract=contract, account=fresh, entry=entry, created=created)
