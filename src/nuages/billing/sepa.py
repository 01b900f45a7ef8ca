"""SEPA direct debit (000 §13.2 "prélèvement émis par IS.Star"): mandates, collections,
pain.008 batches and returned debits.

A client (its owner) or staff registers a mandate; the IBAN and BIC are checked with
``schwifty``. A direct-debit top-up is requested under the active mandate and goes out
in the next batch: ``write_batch`` builds a pain.008.001.02 file with ``sepaxml``
(validated against the ISO 20022 schema), keeps it in ``sepa_batches`` and credits each
collection to its account (the money is then on its way). If the debtor's bank returns
a collection, ``record_return`` reverses its top-up with a new entry.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from decimal import Decimal
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaDD
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.billing import balance, ledger, schemas, topups
from nuages.billing.models import (
    BillingAccount,
    DirectDebit,
    EntryKind,
    SepaBatch,
    SepaMandate,
)
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.compute.runtime import ComputeRuntime
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import pain008
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from nuages.kernel.pagination import paginate
from nuages.kernel.settings import Settings, get_settings

log = logging.getLogger("nuages.billing.sepa")
SCHEMA = "pain.008.001.02"


def check_iban(text: str) -> IBAN:
    """The IBAN, checked (checksum, national format, SEPA zone), else a 422."""
    try:
        iban = IBAN(text)
    except SchwiftyException as exc:
        raise ValidationFailed(f"iban: not a valid IBAN ({exc})") from None
    if not iban.in_sepa_zone:
        raise ValidationFailed(f"iban: {iban.country_code} accounts are outside the SEPA zone")
    return iban


def check_bic(text: str | None, iban: IBAN) -> str:
    """The BIC given (checked) or the one the IBAN's bank code names, else a 422."""
    if text is None:
        derived = iban.bic
        if derived is None:
            raise ValidationFailed("bic: cannot be derived from this IBAN; give it")
        return str(derived.compact)
    try:
        bic = BIC(text)
    except SchwiftyException as exc:
        raise ValidationFailed(f"bic: not a valid BIC ({exc})") from None
    return str(bic.compact)


def _owner_or_staff(actor: Principal) -> None:
    # A guest reads; only an owner (Responsable, 000 §1) or staff commit the client's money.
    if not (actor.is_staff or actor.role == Role.CLIENT_OWNER):
        raise Forbidden("only an owner or provider staff manage direct debits")


def create_mandate(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.MandateCreate,
) -> SepaMandate:
    """Register the SEPA Core mandate a client signed for a contract's top-ups.

    A contract has at most one active mandate (409 while one is active). Nothing is
    written when the IBAN or BIC is refused.
    """
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    _account, offer = ledger.account_for(session, registry, contract, lock=True)
    topups.check_means(offer, "direct_debit")
    iban = check_iban(data.iban)
    bic = check_bic(data.bic, iban)
    if data.signed_on > utc_now().date():
        raise ValidationFailed("signed_on: a mandate cannot be signed in the future")
    if active_mandate(session, contract.id) is not None:
        raise Conflict("the contract already has an active mandate; revoke it first")
    mandate = SepaMandate(
        contract_id=contract.id,
        client_id=contract.client_id,
        reference="NUA-" + secrets.token_hex(8).upper(),
        iban=str(iban.compact),
        bic=bic,
        holder_name=data.holder_name,
        signed_on=data.signed_on,
        state="active",
        used=False,
    )
    session.add(mandate)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="mandate",
        object_id=mandate.id,
        action="billing.mandate.create",
        params={"contract_id": contract.id, "iban": schemas.mask_iban(mandate.iban), "bic": bic},
        client_id=contract.client_id,
    )
    return mandate


def active_mandate(session: Session, contract_id: str) -> SepaMandate | None:
    """The contract's active mandate, if any."""
    return session.execute(
        select(SepaMandate).where(
            SepaMandate.contract_id == contract_id, SepaMandate.state == "active"
        )
    ).scalar_one_or_none()


def list_mandates(session: Session, actor: Principal, contract_id: str) -> list[SepaMandate]:
    """The contract's mandates, newest first."""
    ledger.contract_for(session, actor, contract_id)
    return list(
        session.execute(
            select(SepaMandate)
            .where(SepaMandate.contract_id == contract_id)
            .order_by(SepaMandate.created_at.desc())
        ).scalars()
    )


def revoke_mandate(session: Session, actor: Principal, contract_id: str) -> SepaMandate:
    """Revoke the contract's active mandate; collections not yet sent are cancelled."""
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    mandate = active_mandate(session, contract.id)
    if mandate is None:
        raise NotFound("the contract has no active mandate")
    mandate.state = "revoked"
    mandate.revoked_at = utc_now()
    session.execute(
        update(DirectDebit)
        .where(DirectDebit.mandate_id == mandate.id, DirectDebit.state == "requested")
        .values(state="cancelled", updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="mandate",
        object_id=mandate.id,
        action="billing.mandate.revoke",
        params={"contract_id": contract.id},
        client_id=contract.client_id,
    )
    return mandate


def request_debit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DirectDebitCreate,
) -> tuple[DirectDebit, bool]:
    """Ask for a direct-debit top-up under the active mandate; return it and whether
    this call created it (a retry with the same reference finds the first request)."""
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    account, offer = ledger.account_for(session, registry, contract, lock=True)
    topups.check_means(offer, "direct_debit")
    topups.check_currency(account, data.currency)
    key = f"dd:{contract.id}:{data.reference}"
    existing = session.execute(
        select(DirectDebit).where(DirectDebit.request_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.amount != data.amount:
            raise Conflict(f"reference {data.reference!r} already names another direct debit")
        return existing, False
    mandate = active_mandate(session, contract.id)
    if mandate is None:
        raise InvalidTransition("the contract has no active SEPA mandate")
    debit = DirectDebit(
        contract_id=contract.id,
        client_id=contract.client_id,
        mandate_id=mandate.id,
        amount=data.amount,
        currency=account.currency,
        request_key=key,
        end_to_end_id="NUA" + secrets.token_hex(10).upper(),
        state="requested",
    )
    session.add(debit)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="direct_debit",
        object_id=debit.id,
        action="billing.direct_debit.request",
        params={"contract_id": contract.id, "amount": str(data.amount)},
        client_id=contract.client_id,
    )
    return debit, True


def list_debits(
    session: Session, actor: Principal, contract_id: str, page: int, per_page: int
) -> tuple[list[DirectDebit], int]:
    """The contract's direct debits, newest first."""
    ledger.contract_for(session, actor, contract_id)
    stmt = (
        select(DirectDebit)
        .where(DirectDebit.contract_id == contract_id)
        .order_by(DirectDebit.created_at.desc(), DirectDebit.id)
    )
    return paginate(session, stmt, page, per_page)


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def write_batch(
    session: Session,
    registry: OfferRegistry,
    who: Actor,
    *,
    collection_date: dt.date | None = None,
    settings: Settings | None = None,
    billing: BillingSettings | None = None,
    runtime: ComputeRuntime | None = None,
    problems: list[dict[str, str]] | None = None,
) -> SepaBatch | None:
    """Put every requested collection into one pain.008 file, store it, mark the
    collections submitted and credit them (once each); None when nothing is waiting.

    A debit the file cannot hold is left out, stays requested and is appended to
    ``problems`` (and to the batch's history entry); the others go on (17.2)."""
    settings = settings or get_settings()
    billing = billing or get_billing_settings()
    today = utc_now().date()
    when = collection_date or today + dt.timedelta(days=billing.sepa_lead_days)
    if when <= today:
        raise ValidationFailed("collection_date: must be after today")
    debits = list(
        session.execute(
            select(DirectDebit, SepaMandate)
            .join(SepaMandate, SepaMandate.id == DirectDebit.mandate_id)
            .where(DirectDebit.state == "requested", SepaMandate.state == "active")
            .order_by(DirectDebit.created_at, DirectDebit.id)
            .with_for_update(of=DirectDebit)
        ).all()
    )
    if not debits:
        return None

    def new_file() -> SepaDD:
        return SepaDD(
            {
                "name": settings.seller_name,
                "IBAN": settings.seller_iban,
                "BIC": settings.seller_bic,
                "batch": True,
                "creditor_id": settings.seller_sepa_creditor_id,
                "currency": "EUR",
            },
            schema=SCHEMA,
            clean=True,
        )

    planned: list[tuple[tuple[DirectDebit, SepaMandate], dict[str, Any]]] = []
    for debit, mandate in debits:
        account = session.get(BillingAccount, debit.contract_id)
        reference = account.payment_reference if account is not None else debit.contract_id
        payment = {
            "name": mandate.holder_name,
            "IBAN": mandate.iban,
            "BIC": mandate.bic,
            "amount": _cents(debit.amount),
            "type": "RCUR" if mandate.used else "FRST",
            "collection_date": when,
            "mandate_id": mandate.reference,
            "mandate_date": mandate.signed_on,
            "description": f"Top-up {reference}",
            "endtoend_id": debit.end_to_end_id,
        }
        planned.append(((debit, mandate), payment))
    # 17.2: a debit the file cannot hold (a legacy holder name with a control character)
    # stays requested and is reported; the other clients' debits are collected.
    sepa, xml, collected, refused = pain008.split_exportable(new_file, planned)
    debits = collected  # type: ignore[assignment]
    for (debit, mandate), problem in refused:
        log.warning("SEPA batch: debit %s left out: %s", debit.end_to_end_id, problem)
        if problems is not None:
            problems.append(
                {
                    "debit": debit.end_to_end_id,
                    "contract_id": debit.contract_id,
                    "mandate": mandate.reference,
                    "problem": problem,
                }
            )
    if sepa is None or xml is None:
        return None
    msg_id = str(sepa.msg_id)[:35]
    total = sum((d.amount for d, _ in debits), Decimal(0))
    batch = SepaBatch(
        id=msg_id,
        created_at=utc_now(),
        collection_date=when,
        transactions=len(debits),
        total=total,
        xml=xml.decode("utf-8"),
    )
    session.add(batch)
    for debit, mandate in debits:
        debit.sequence_type = "RCUR" if mandate.used else "FRST"
        mandate.used = True
        debit.state = "submitted"
        debit.batch_id = msg_id
        debit.collection_date = when
        session.flush()
        contract = session.get(Contract, debit.contract_id)
        assert contract is not None
        account = ledger.get_account(session, contract.id, lock=True)
        assert account is not None
        entry, _ = topups.credit_topup(
            session,
            registry,
            contract,
            account,
            amount=debit.amount,
            key=f"topup:dd:{debit.end_to_end_id}",
            reference=debit.end_to_end_id,
            description=f"SEPA direct debit, mandate {mandate.reference}, due {when.isoformat()}",
            who=who,
            means="direct_debit",
            runtime=runtime,
        )
        debit.topup_seq = entry.seq
    session.flush()
    history.record(
        session,
        who,
        object_type="sepa_batch",
        object_id=msg_id,
        action="billing.sepa_batch",
        params={
            "transactions": len(debits),
            "total": str(total),
            "collection": when.isoformat(),
            "left_out": [
                {"debit": d.end_to_end_id, "problem": problem} for (d, _), problem in refused
            ],
        },
    )
    return batch


def record_return(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    end_to_end_id: str,
    reason: str,
    *,
    contract_id: str | None = None,
    runtime: ComputeRuntime | None = None,
) -> tuple[DirectDebit, bool]:
    """A submitted collection came back unpaid: reverse its top-up with a new entry
    (once; a second report of the same return changes nothing). Return the debit and
    whether this call reversed it."""
    stmt = select(DirectDebit).where(DirectDebit.end_to_end_id == end_to_end_id)
    if contract_id is not None:
        stmt = stmt.where(DirectDebit.contract_id == contract_id)
    debit = session.execute(stmt.with_for_update()).scalar_one_or_none()
    if debit is None:
        raise NotFound(f"no direct debit {end_to_end_id}")
    if debit.state == "returned":
        return debit, False
    if debit.state != "submitted" or debit.topup_seq is None:
        raise InvalidTransition(f"a {debit.state} direct debit cannot be returned")
    contract = session.get(Contract, debit.contract_id)
    account = ledger.get_account(session, debit.contract_id, lock=True)
    assert contract is not None and account is not None
    ledger.post(
        session,
        account,
        kind=EntryKind.REVERSAL,
        amount=-debit.amount,
        key=f"reversal:dd:{debit.end_to_end_id}",
        reference=debit.end_to_end_id,
        description=f"direct debit returned ({reason})",
        actor_id=who.id,
        corrects_seq=debit.topup_seq,
    )
    debit.state = "returned"
    debit.returned_at = utc_now()
    debit.return_reason = reason
    session.flush()
    history.record(
        session,
        who,
        object_type="direct_debit",
        object_id=debit.id,
        action="billing.direct_debit.return",
        params={"amount": str(debit.amount), "reason": reason},
        client_id=debit.client_id,
    )
    balance.after_movement(session, registry, contract, who, runtime)
    return debit, True


def return_debit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DebitReturnCreate,
    runtime: ComputeRuntime | None = None,
) -> DirectDebit:
    """Staff record a returned collection of a contract (R-transaction)."""
    contract = ledger.contract_for(session, actor, contract_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff record returned debits")
    debit, _ = record_return(
        session,
        actor.actor,
        registry,
        data.end_to_end_id,
        data.reason,
        contract_id=contract.id,
        runtime=runtime,
    )
    return debit
