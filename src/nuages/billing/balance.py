"""What the balance sets off: formation, negative-balance suspension, resumption, warnings.

- 000 §3.1, §13.2: a prepaid contract is formed once its Minimum Amount is credited.
- 000 §11.2: below zero, the provider may suspend without notice (``on_negative_balance``
  of the offer: ``suspend_without_notice``, ``notify_then_suspend`` after a grace time,
  or ``none``); billing places a ``negative-balance`` hold on the contract
  (``contracts.holds``), which suspends it and has compute pause its VMs (disks and
  addresses kept), and a notice is recorded (delivery belongs to the notices slice).
- 000 §5: SLA penalties are suspended, and lost, while the account is negative: every
  such span is kept in ``balance_negative_periods`` for the SLA calculator.
- A top-up bringing the balance back to zero or above lifts billing's hold, by itself
  (004 §7: service restored once the cause is remedied); the contract resumes when no
  other hold is left open.
- A low-balance warning is recorded when the balance, at the current hourly burn, runs
  out within ``NUAGES_BILLING_LOW_BALANCE_HOURS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from nuages.billing import ledger
from nuages.billing.models import (
    BillingAccount,
    Extension,
    LedgerEntry,
    NegativeBalancePeriod,
)
from nuages.billing.pricing import OfferPricing, floor_hour
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.compute.services import reads as compute_reads
from nuages.contracts import holds, revisions
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.calendar import Interval
from nuages.kernel.clock import utc_now
from nuages.kernel.money import round_ledger
from nuages.notices import announce
from nuages.terms.schema import Offer
from nuages.terms.schema_billing import Prepaid

UnitOfWork = Callable[[], AbstractContextManager[Session]]

# The suspension ground of billing's hold: billing only ever lifts its own hold.
NEGATIVE_GROUND = holds.NEGATIVE_BALANCE
CONTRACT_REASON = "prepaid account below zero (000 §11.2)"
BILLING = Actor.system("billing")


@dataclass
class Enforcement:
    """Contracts a pass over the accounts suspended and resumed."""

    suspended: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


def form_if_funded(
    session: Session, contract: Contract, account: BillingAccount, prepaid: Prepaid, who: Actor
) -> bool:
    """000 §3.1, §13.2: form a pending contract once its Minimum Amount is credited."""
    if contract.state != ContractState.PENDING or account.balance < prepaid.minimum_amount:
        return False
    contracts.transition(
        session,
        contract,
        ContractState.ACTIVE,
        who,
        f"minimum amount {prepaid.minimum_amount} {account.currency} credited (000 §3.1, §13.2)",
    )
    return True


def after_movement(
    session: Session,
    registry: OfferRegistry,
    contract: Contract,
    who: Actor,
    settings: BillingSettings | None = None,
) -> None:
    """Apply the balance rules after one entry was written to the contract's account:
    formation, then suspension or resumption (through billing's hold)."""
    account = ledger.get_account(session, contract.id)
    if account is None:
        return
    offer = registry.for_contract(session, contract)
    prepaid = ledger.prepaid_terms(offer)
    form_if_funded(session, contract, account, prepaid, who)
    settings = settings or get_billing_settings()
    settle(session, contract, account, offer_pricing(offer), utc_now(), settings)


def offer_pricing(offer: Offer) -> OfferPricing:
    """Pricing of an offer (kept apart so callers can cache it)."""
    return OfferPricing(offer)


def _went_negative_at(session: Session, account: BillingAccount, now: dt.datetime) -> dt.datetime:
    # Walk back from the newest entry to the one that took the balance below zero:
    # after a catch-up the crossing may lie hours before this run (000 §5 needs it).
    running = account.balance
    entries = session.execute(
        select(LedgerEntry.amount, LedgerEntry.at)
        .where(LedgerEntry.contract_id == account.contract_id)
        .order_by(LedgerEntry.seq.desc())
        .limit(5000)
    ).all()
    for amount, at in entries:
        before = running - amount
        if before >= 0:
            return min(at, now)
        running = before
    return now


def settle(
    session: Session,
    contract: Contract,
    account: BillingAccount,
    pricing: OfferPricing,
    now: dt.datetime,
    settings: BillingSettings,
) -> str | None:
    """Bring suspension in line with the balance; return "suspended", "resumed" or None.

    The VMs follow the hold: compute pauses and resumes them (and its reconciliation
    pass finishes what a crash or a busy VM left), so billing never touches them.
    """
    prepaid = pricing.prepaid
    if account.balance < 0:
        if account.negative_since is None:
            _open_negative(session, contract, account, _went_negative_at(session, account, now))
        assert account.negative_since is not None
        policy = prepaid.on_negative_balance
        if policy == "none":
            return None
        if account.suspended_at is not None:
            return None
        grace = dt.timedelta(hours=settings.negative_grace_hours)
        if policy == "notify_then_suspend" and account.negative_since + grace > now:
            return None
        _suspend(session, contract, account, pricing.offer, now)
        return "suspended"
    if account.negative_since is not None:
        _close_negative(session, account, now)
    if account.low_balance_warned_at is not None:
        burn = hourly_burn(session, pricing, contract.id, now)
        if burn == 0 or account.balance >= burn * settings.low_balance_hours:
            account.low_balance_warned_at = None
    if account.suspended_at is not None:
        _resume(session, contract, account, now)
        return "resumed"
    return None


def _open_negative(
    session: Session, contract: Contract, account: BillingAccount, since: dt.datetime
) -> None:
    account.negative_since = since
    session.add(
        NegativeBalancePeriod(
            contract_id=contract.id, client_id=contract.client_id, started_at=since
        )
    )
    session.flush()
    history.record(
        session,
        BILLING,
        object_type="account",
        object_id=contract.id,
        action="notice.negative_balance",
        params={"balance": str(account.balance), "since": since.isoformat(), "clause": "000 §11.2"},
        client_id=contract.client_id,
    )
    announce.balance_notice(
        session,
        BILLING,
        "negative_balance",
        contract_id=contract.id,
        client_id=contract.client_id,
        key=f"negative:{contract.id}:{since.isoformat()}",
        context={"balance": str(account.balance), "since": since.isoformat(timespec="minutes")},
    )


def _close_negative(session: Session, account: BillingAccount, now: dt.datetime) -> None:
    session.execute(
        update(NegativeBalancePeriod)
        .where(
            NegativeBalancePeriod.contract_id == account.contract_id,
            NegativeBalancePeriod.ended_at.is_(None),
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    account.negative_since = None


def _suspend(
    session: Session,
    contract: Contract,
    account: BillingAccount,
    offer: Offer,
    now: dt.datetime,
) -> None:
    account.suspended_at = now
    session.flush()
    hold_id = None
    if contract.state in (ContractState.ACTIVE, ContractState.ENDING, ContractState.SUSPENDED):
        hold, _new = holds.place(
            session, BILLING, offer, contract.id, NEGATIVE_GROUND, CONTRACT_REASON
        )
        hold_id = hold.id
    history.record(
        session,
        BILLING,
        object_type="account",
        object_id=contract.id,
        action="notice.suspension",
        params={
            "balance": str(account.balance),
            "hold_id": hold_id,
            "ground": NEGATIVE_GROUND,
            "clause": "000 §11.2",
        },
        client_id=contract.client_id,
    )


def _resume(
    session: Session,
    contract: Contract,
    account: BillingAccount,
    now: dt.datetime,
) -> None:
    account.suspended_at = None
    session.flush()
    lifted = holds.lift_ground(
        session, BILLING, contract.id, NEGATIVE_GROUND, "balance back to zero or above"
    )
    history.record(
        session,
        BILLING,
        object_type="account",
        object_id=contract.id,
        action="notice.resumption",
        params={"balance": str(account.balance), "hold_id": lifted.id if lifted else None},
        client_id=contract.client_id,
    )


def enforce_all(
    unit: UnitOfWork,
    registry: OfferRegistry,
    now: dt.datetime,
    settings: BillingSettings | None = None,
) -> Enforcement:
    """One pass over the accounts whose suspension does not match their balance (after
    metering, or to finish a grace time), each account in its own transaction."""
    settings = settings or get_billing_settings()
    outcome = Enforcement()
    with unit() as session:
        ids = set(
            session.execute(
                select(BillingAccount.contract_id).where(
                    or_(
                        and_(
                            BillingAccount.balance < 0,
                            or_(
                                BillingAccount.negative_since.is_(None),
                                BillingAccount.suspended_at.is_(None),
                            ),
                        ),
                        and_(
                            BillingAccount.balance >= 0,
                            or_(
                                BillingAccount.negative_since.is_not(None),
                                BillingAccount.suspended_at.is_not(None),
                            ),
                        ),
                    )
                )
            )
            .scalars()
            .all()
        )
    cache: dict[str, OfferPricing] = {}
    for contract_id in sorted(ids):
        with unit() as session:
            account = ledger.get_account(session, contract_id, lock=True)
            contract = session.get(Contract, contract_id)
            if account is None or contract is None:
                continue
            pricing = cache.get(contract.offer_hash)
            if pricing is None:
                pricing = offer_pricing(registry.for_contract(session, contract))
                cache[contract.offer_hash] = pricing
            done = settle(session, contract, account, pricing, now, settings)
        if done == "suspended":
            outcome.suspended.append(contract_id)
        elif done == "resumed":
            outcome.resumed.append(contract_id)
    return outcome


def warn_low_balances(
    unit: UnitOfWork,
    burn: dict[str, Decimal],
    now: dt.datetime,
    settings: BillingSettings | None = None,
) -> list[str]:
    """Record a low-balance notice for each account that, at its burn per hour, runs out
    within the configured time; once per episode (a top-up that lifts the projection
    clears the mark)."""
    settings = settings or get_billing_settings()
    horizon = Decimal(settings.low_balance_hours)
    ids = [c for c, b in burn.items() if b > 0]
    warned = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        # Only balances below the chunk's largest threshold can qualify: the database
        # returns those few, not every account.
        ceiling = max(burn[c] for c in chunk) * horizon
        with unit() as session:
            rows = session.execute(
                select(BillingAccount)
                .where(
                    BillingAccount.contract_id.in_(chunk),
                    BillingAccount.low_balance_warned_at.is_(None),
                    BillingAccount.balance >= 0,
                    BillingAccount.balance < ceiling,
                )
                .with_for_update()
            ).scalars()
            for account in rows:
                rate = burn[account.contract_id]
                if account.balance >= rate * horizon:
                    continue
                runs_out = now + dt.timedelta(hours=float(account.balance / rate))
                account.low_balance_warned_at = now
                history.record(
                    session,
                    BILLING,
                    object_type="account",
                    object_id=account.contract_id,
                    action="notice.low_balance",
                    params={
                        "balance": str(account.balance),
                        "hourly_burn": str(rate),
                        "runs_out_at": runs_out.isoformat(),
                    },
                    client_id=account.client_id,
                )
                announce.balance_notice(
                    session,
                    BILLING,
                    "low_balance",
                    contract_id=account.contract_id,
                    client_id=account.client_id,
                    key=f"low:{account.contract_id}:{now.isoformat()}",
                    context={
                        "balance": str(account.balance),
                        "currency": account.currency,
                        "runs_out_at": runs_out.isoformat(timespec="minutes"),
                    },
                )
                warned.append(account.contract_id)
    return warned


def hourly_burn(
    session: Session, pricing: OfferPricing, contract_id: str, now: dt.datetime
) -> Decimal:
    """What the contract's billed VMs and running extensions cost for the coming hour,
    at the revised price: the catalogue price times the cumulative factor of the price
    revisions in force (000 §13.3; ``billing.revisions`` debits the difference daily).
    Nothing once the contract has ended, unless its service continues (000 §18, 002 §10)."""
    contract = session.get(Contract, contract_id)
    if contract is None or (
        contract.ended_at is not None and contract.ended_at <= now and not pricing.billed_after_end
    ):
        return Decimal(0)
    hour = floor_hour(now)
    total = Decimal(0)
    for vm in compute_reads.contract_vms(session, contract_id, include_deleted=False):
        rate = pricing.flavours.get(vm.flavour_id)
        if rate is not None and pricing.is_billed(vm.vm_state, vm.suspended_reason):
            total += pricing.hourly(rate, hour)
    extensions = session.execute(
        select(Extension).where(
            Extension.contract_id == contract_id,
            Extension.state == "approved",
            Extension.active_from.is_not(None),
            Extension.active_from <= now,
            Extension.ends_at > now,
        )
    ).scalars()
    for ext in extensions:
        if ext.kind != "option":
            continue  # extra VMs are counted above as VMs; resources are a difference
        rate = pricing.options.get(ext.item_id)
        if rate is not None:
            total += pricing.hourly(rate, hour) * ext.quantity
    return revised(total, revisions.factor_at(session, contract_id, now))


def revised(burn: Decimal, factor: Decimal) -> Decimal:
    """A burn per hour at the catalogue price, at the revised price (000 §13.3)."""
    return burn if factor == 1 else round_ledger(burn * factor)


def negative_periods(
    session: Session, contract_id: str, start: dt.datetime, end: dt.datetime
) -> list[Interval]:
    """000 §5: the spans of ``[start, end)`` during which the contract's account was
    negative, as the SLA calculator's ``negative_balance`` intervals."""
    rows = session.execute(
        select(NegativeBalancePeriod.started_at, NegativeBalancePeriod.ended_at)
        .where(
            NegativeBalancePeriod.contract_id == contract_id,
            NegativeBalancePeriod.started_at < end,
            or_(NegativeBalancePeriod.ended_at.is_(None), NegativeBalancePeriod.ended_at > start),
        )
        .order_by(NegativeBalancePeriod.started_at)
    ).all()
    out: list[Interval] = []
    for started, ended in rows:
        lo, hi = max(started, start), min(ended or end, end)
        if lo < hi:
            out.append((lo, hi))
    return out


def runs_out_at(balance: Decimal, burn: Decimal, now: dt.datetime) -> dt.datetime | None:
    """When the balance reaches zero at ``burn`` per hour (None without burn or money)."""
    if burn <= 0 or balance <= 0:
        return None
    return now + dt.timedelta(hours=float(balance / burn))
