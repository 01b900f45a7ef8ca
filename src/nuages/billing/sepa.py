"""SEPA direct debit of prepaid top-ups (000 §13.2 "prélèvement émis par IS.Star"):
collections and returned debits; the mandates and the pain.008 files are the payments
slice's (``payments.mandates``, ``payments.batches``), shared with invoices.

A client (its owner) or staff registers a mandate (``payments.mandates`` checks the IBAN
and BIC). A direct-debit top-up is requested under the active mandate
and goes out in the next batch: ``write_batch`` hands the pending collections to
``payments.batches.write`` (one pain.008.001.02 builder, validated against the ISO 20022
schema, kept as a ``DirectDebitBatch``) and marks each collection ``in_batch``.
Nothing is credited yet: a collection on its way is not money received. ``settle``
credits it, once, when the bank books it (the statement import, or staff by hand); if
the debtor's bank returns it, ``record_return`` marks it returned and, only if it had
been settled, reverses its top-up with a new entry.

Amounts are capped (``BillingSettings.direct_debit_*_cap``) per mandate and per contract
over a rolling window, so no request, however well formed, can make the provider draw
an unbounded sum on a client's bank account.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.billing import balance, ledger, schemas, topups
from nuages.billing.models import (
    DEBIT_TRANSITIONS,
    BillingAccount,
    DebitState,
    DirectDebit,
    EntryKind,
)
from nuages.billing.settings import BillingSettings, get_billing_settings
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
from nuages.payments import batches, mandates
from nuages.payments.models import DirectDebitBatch, Mandate
from nuages.sellers import identity as sellers
from nuages.sellers.identity import Seller

log = logging.getLogger("nuages.billing.sepa")


# The mandate checks live in the payments slice (one mandate model); kept here by name.
check_iban = mandates.check_iban
check_bic = mandates.check_bic


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
) -> Mandate:
    """Register the SEPA Core mandate a client signed for a contract's top-ups.

    A contract has at most one active mandate (409 while one is active). Nothing is
    written when the IBAN or BIC is refused.
    """
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    _account, offer = ledger.account_for(session, registry, contract, lock=True)
    topups.check_means(offer, "direct_debit")
    return mandates.create(
        session,
        actor.actor,
        contract_id=contract.id,
        client_id=contract.client_id,
        terms=mandates.Terms(
            iban=data.iban,
            bic=data.bic,
            holder_name=data.holder_name,
            signed_on=data.signed_on,
            prenotice_days=data.prenotice_days,
        ),
        action="billing.mandate.create",
    )


def active_mandate(session: Session, contract_id: str) -> Mandate | None:
    """The contract's active mandate, if any."""
    return mandates.active_mandate(session, contract_id)


def list_mandates(session: Session, actor: Principal, contract_id: str) -> list[Mandate]:
    """The contract's mandates, newest first."""
    ledger.contract_for(session, actor, contract_id)
    return mandates.list_mandates(session, contract_id)


def revoke_mandate(session: Session, actor: Principal, contract_id: str) -> Mandate:
    """Revoke the contract's active mandate; collections not yet sent are cancelled."""
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    mandate = mandates.revoke(session, actor.actor, contract.id, action="billing.mandate.revoke")
    session.execute(
        update(DirectDebit)
        .where(DirectDebit.mandate_id == mandate.id, DirectDebit.state == DebitState.PENDING)
        .values(state=DebitState.CANCELLED.value, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return mandate


def amend_mandate(
    session: Session, actor: Principal, contract_id: str, data: schemas.MandateCreate
) -> Mandate:
    """Amend the contract's active mandate (SEPA Core rulebook AT-24): a new IBAN or
    BIC is told to the bank in the next collection, with the original data."""
    contract = ledger.contract_for(session, actor, contract_id)
    _owner_or_staff(actor)
    mandate = mandates.active_mandate(session, contract.id, lock=True)
    if mandate is None:
        raise NotFound("the contract has no active mandate")
    return mandates.amend(
        session,
        actor.actor,
        mandate,
        mandates.Terms(
            iban=data.iban,
            bic=data.bic,
            holder_name=data.holder_name,
            signed_on=data.signed_on,
            prenotice_days=data.prenotice_days,
        ),
    )


def request_debit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DirectDebitCreate,
    settings: BillingSettings | None = None,
) -> tuple[DirectDebit, bool]:
    """Ask for a direct-debit top-up under the active mandate; return it and whether
    this call created it (a retry with the same reference finds the first request).

    422 when the amount would take the mandate's or the contract's collections of the
    rolling window above their cap; nothing is written then.
    """
    settings = settings or get_billing_settings()
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
    check_caps(session, settings, contract.id, mandate.id, data.amount)
    debit = DirectDebit(
        contract_id=contract.id,
        client_id=contract.client_id,
        mandate_id=mandate.id,
        amount=data.amount,
        currency=account.currency,
        request_key=key,
        end_to_end_id="NUA" + secrets.token_hex(10).upper(),
        state=DebitState.PENDING.value,
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


# Collections that count towards the caps: every one not returned nor cancelled.
_COUNTED = (DebitState.PENDING.value, DebitState.IN_BATCH.value, DebitState.SETTLED.value)


def check_caps(
    session: Session, settings: BillingSettings, contract_id: str, mandate_id: str, amount: Decimal
) -> None:
    """422 unless ``amount`` keeps the mandate's and the contract's collections of the
    last ``direct_debit_cap_days`` within ``direct_debit_mandate_cap`` and
    ``direct_debit_contract_cap``."""
    since = utc_now() - dt.timedelta(days=settings.direct_debit_cap_days)

    def collected(where: ColumnElement[bool]) -> Decimal:
        total = session.execute(
            select(func.sum(DirectDebit.amount)).where(
                DirectDebit.state.in_(_COUNTED), DirectDebit.created_at >= since, where
            )
        ).scalar()  # typed by the column (LedgerAmount): exact on both databases
        return Decimal(total) if total is not None else Decimal(0)

    days = settings.direct_debit_cap_days
    checks = (
        ("mandate", settings.direct_debit_mandate_cap, DirectDebit.mandate_id == mandate_id),
        ("contract", settings.direct_debit_contract_cap, DirectDebit.contract_id == contract_id),
    )
    for what, cap, where in checks:
        spent = collected(where)
        if spent + amount > cap:
            raise ValidationFailed(
                f"amount: {amount} would take this {what}'s direct debits of the last {days} "
                f"days to {spent + amount}, above its cap of {cap}; pay the rest by transfer"
            )


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


def write_batch(
    session: Session,
    registry: OfferRegistry,
    who: Actor,
    *,
    collection_date: dt.date | None = None,
    settings: Settings | None = None,
    billing: BillingSettings | None = None,
    seller: str | None = None,
    problems: list[dict[str, str]] | None = None,
) -> DirectDebitBatch | None:
    """Put every pending collection into one pain.008 file, store it and mark the
    collections ``in_batch``; None when nothing is waiting. Nothing is credited here:
    ``settle`` does it when the bank books the money.

    The creditor is the seller of the contract's offer's provider (000 §13.2
    "prélèvement émis par IS.Star"); a file has one creditor, so when the collections
    waiting belong to several sellers, ``seller`` names the one to collect for (the
    others wait). The example identity is refused (``SellerNotConfigured``).

    A debit the file cannot hold is left out, stays pending and is appended to
    ``problems`` (and to the batch's history entry); the others go on (17.2)."""
    settings = settings or get_settings()
    billing = billing or get_billing_settings()
    today = utc_now().date()
    debits = list(
        session.execute(
            select(DirectDebit, Mandate)
            .join(Mandate, Mandate.id == DirectDebit.mandate_id)
            .where(DirectDebit.state == DebitState.PENDING, Mandate.state.in_(mandates.LIVE))
            .order_by(DirectDebit.created_at, DirectDebit.id)
            .with_for_update(of=DirectDebit)
        ).all()
    )
    if not debits:
        return None
    # The debtor hears of each collection 14 calendar days ahead (SEPA rulebook) unless
    # the mandate agreed less: by default the file is collected when the longest
    # pre-notification of its debits has run; a date given earlier leaves out (pending)
    # the debits whose pre-notification it would cut short.
    lead = max(pain008.prenotice_lead(m.prenotice_days) for _, m in debits)
    when = collection_date or today + dt.timedelta(days=max(billing.sepa_lead_days, lead))
    if when <= today:
        raise ValidationFailed("collection_date: must be after today")
    early: list[tuple[DirectDebit, Mandate, str]] = []
    for debit, mandate in debits:
        problem = pain008.lead_problem(today, when, mandate.prenotice_days)
        if problem is not None:
            early.append((debit, mandate, problem))
    if early:
        late = {d.id for d, _, _ in early}
        debits = [row for row in debits if row[0].id not in late]
        for debit, mandate, problem in early:
            if problems is not None:
                problems.append(
                    {
                        "debit": debit.end_to_end_id,
                        "contract_id": debit.contract_id,
                        "mandate": mandate.reference,
                        "problem": problem,
                    }
                )
        if not debits:
            return None
    creditors: dict[str, Seller] = {}
    of_debit: dict[str, Seller] = {}
    for debit, _mandate in debits:
        contract = session.get(Contract, debit.contract_id)
        assert contract is not None
        offer = registry.for_contract(session, contract)
        if offer.content_hash not in creditors:
            creditors[offer.content_hash] = sellers.real_seller_for(offer, settings)
        of_debit[debit.id] = creditors[offer.content_hash]
    if seller is not None:
        sellers.book(sellers.directory_of(settings)).get(seller)  # 422 for an unknown id
    ids = sorted({s.id for s in of_debit.values()})
    if seller is None and len(ids) > 1:
        raise ValidationFailed(
            f"seller: the collections waiting belong to sellers {', '.join(ids)}; "
            "a SEPA file has one creditor: name one"
        )
    chosen = seller or ids[0]
    debits = [row for row in debits if of_debit[row[0].id].id == chosen]
    if not debits:
        return None
    creditor = of_debit[debits[0][0].id]

    collections: list[batches.Collection[DirectDebit]] = []
    for debit, mandate in debits:
        account = session.get(BillingAccount, debit.contract_id)
        reference = account.payment_reference if account is not None else debit.contract_id
        collections.append(
            batches.Collection(
                key=debit,
                mandate=mandate,
                amount=debit.amount,
                end_to_end_id=debit.end_to_end_id,
                description=f"Top-up {reference}",
                debtor_name=mandate.holder_name,
                notice=debit,
            )
        )
    # 17.2: a debit the file cannot hold (a legacy holder name with a control character)
    # stays requested and is reported; the other clients' debits are collected.
    written = batches.write(
        session, who, kind="topup", creditor=creditor, collection_date=when, collections=collections
    )
    for item, problem in written.refused:
        log.warning("SEPA batch: debit %s left out: %s", item.end_to_end_id, problem)
        if problems is not None:
            problems.append(
                {
                    "debit": item.end_to_end_id,
                    "contract_id": item.key.contract_id,
                    "mandate": item.mandate.reference,
                    "problem": problem,
                }
            )
    batch = written.batch
    if batch is None:
        return None
    for item in written.collected:
        debit = item.key
        debit.sequence_type = item.sequence_type
        debit.state = DebitState.IN_BATCH.value
        debit.batch_id = batch.id
        debit.collection_date = when
    session.flush()
    batches.prenotify(session, who, creditor, written, today)
    history.record(
        session,
        who,
        object_type="sepa_batch",
        object_id=batch.id,
        action="billing.sepa_batch",
        params={
            "transactions": batch.count,
            "total": str(batch.total),
            "collection": when.isoformat(),
            # Each collection moved pending → in_batch with this entry (nothing credited).
            "in_batch": [c.key.id for c in written.collected],
            "left_out": [
                {"debit": c.end_to_end_id, "problem": problem} for c, problem in written.refused
            ],
        },
    )
    return batch


def _move(session: Session, debit: DirectDebit, target: DebitState, **values: object) -> None:
    # Compare-and-swap on the state, checked against the table: two settlements (or a
    # settlement racing a return) cannot both win.
    current = DebitState(debit.state)
    if target not in DEBIT_TRANSITIONS[current]:
        raise InvalidTransition(f"a {current.value} direct debit cannot become {target.value}")
    moved = session.execute(
        update(DirectDebit)
        .where(DirectDebit.id == debit.id, DirectDebit.state == current.value)
        .values(state=target.value, updated_at=utc_now(), **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the direct debit changed meanwhile; read it again")
    session.refresh(debit)


def _find_debit(session: Session, end_to_end_id: str, contract_id: str | None) -> DirectDebit:
    stmt = select(DirectDebit).where(DirectDebit.end_to_end_id == end_to_end_id)
    if contract_id is not None:
        stmt = stmt.where(DirectDebit.contract_id == contract_id)
    debit = session.execute(stmt.with_for_update()).scalar_one_or_none()
    if debit is None:
        raise NotFound(f"no direct debit {end_to_end_id}")
    return debit


def settle(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    end_to_end_id: str,
    *,
    contract_id: str | None = None,
) -> tuple[DirectDebit, bool]:
    """The bank booked a collection sent in a batch: credit its top-up, exactly once
    (the state moves ``in_batch → settled`` by compare-and-swap and the entry's key is
    ``topup:dd:<end-to-end id>``), then form the contract or lift a negative-balance
    suspension as any top-up does (000 §3.1, §11.2). Return the debit and whether this
    call settled it; a second report of the same settlement changes nothing."""
    debit = _find_debit(session, end_to_end_id, contract_id)
    if debit.state == DebitState.SETTLED:
        return debit, False
    if debit.state != DebitState.IN_BATCH:
        raise InvalidTransition(f"a {debit.state} direct debit cannot be settled")
    contract = session.get(Contract, debit.contract_id)
    account = ledger.get_account(session, debit.contract_id, lock=True)
    mandate = session.get(Mandate, debit.mandate_id)
    assert contract is not None and account is not None and mandate is not None
    now = utc_now()
    _move(session, debit, DebitState.SETTLED, settled_at=now)
    due = debit.collection_date.isoformat() if debit.collection_date else "?"
    entry, _ = topups.credit_topup(
        session,
        registry,
        contract,
        account,
        amount=debit.amount,
        key=f"topup:dd:{debit.end_to_end_id}",
        reference=debit.end_to_end_id,
        description=f"SEPA direct debit, mandate {mandate.reference}, collected {due}",
        who=who,
        means="direct_debit",
    )
    debit.topup_seq = entry.seq
    session.flush()
    history.record(
        session,
        who,
        object_type="direct_debit",
        object_id=debit.id,
        action="billing.direct_debit.settle",
        params={"amount": str(debit.amount), "seq": entry.seq, "batch_id": debit.batch_id},
        client_id=debit.client_id,
    )
    return debit, True


def record_return(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    end_to_end_id: str,
    reason: str,
    *,
    contract_id: str | None = None,
) -> tuple[DirectDebit, bool]:
    """A collection came back unpaid. Sent but not settled: it is marked returned and
    the ledger is untouched (it was never credited). Settled: its top-up is reversed by
    a new entry, once. A second report of the same return changes nothing. Return the
    debit and whether this call recorded the return."""
    debit = _find_debit(session, end_to_end_id, contract_id)
    if debit.state == DebitState.RETURNED:
        return debit, False
    was_settled = debit.state == DebitState.SETTLED
    _move(session, debit, DebitState.RETURNED, returned_at=utc_now(), return_reason=reason)
    contract = session.get(Contract, debit.contract_id)
    assert contract is not None
    if was_settled:
        account = ledger.get_account(session, debit.contract_id, lock=True)
        assert account is not None and debit.topup_seq is not None
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
    history.record(
        session,
        who,
        object_type="direct_debit",
        object_id=debit.id,
        action="billing.direct_debit.return",
        params={"amount": str(debit.amount), "reason": reason, "reversed": was_settled},
        client_id=debit.client_id,
    )
    if was_settled:
        balance.after_movement(session, registry, contract, who)
    return debit, True


def settle_debit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DebitSettleCreate,
) -> DirectDebit:
    """Staff record that the bank booked a collection of a contract: it is credited."""
    contract = ledger.contract_for(session, actor, contract_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff record settled debits")
    debit, _ = settle(session, actor.actor, registry, data.end_to_end_id, contract_id=contract.id)
    return debit


def return_debit(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.DebitReturnCreate,
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
    )
    return debit


def list_batches(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[DirectDebitBatch], int]:
    """The prepaid accounts' pain.008 files, newest first (staff only: they mix clients)."""
    if not actor.is_staff:
        raise NotFound("no such batch")
    stmt = (
        select(DirectDebitBatch)
        .where(DirectDebitBatch.kind == "topup")
        .order_by(DirectDebitBatch.created_at.desc(), DirectDebitBatch.id)
    )
    return paginate(session, stmt, page, per_page)


def get_batch(session: Session, actor: Principal, batch_id: str) -> DirectDebitBatch:
    """One prepaid pain.008 file (staff only)."""
    batch = session.get(DirectDebitBatch, batch_id) if actor.is_staff else None
    if batch is None or batch.kind != "topup":
        raise NotFound("no such batch")
    return batch
