"""000 §11.1: a suspension is billed unless it was manifestly wrongful. When staff lift
a hold as wrongful (``contracts.holds.lift(…, wrongful=True)``), the usage debited for
the held time is given back as one ``credit`` entry.

The held time is ``[placed_at, lifted_at)``; each usage entry of the contract whose
period overlaps it is credited in proportion to the overlap (a VM-hour half inside the
hold gives back half its price). The entry's idempotency key names the hold, so a job
delivered twice credits once. Invoiced contracts have no account: their held time
comes back as a credit note on the next invoice (``invoicing/wrongful.py``, the same job).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.billing import balance, ledger
from nuages.billing.models import EntryKind, LedgerEntry
from nuages.compute.net import cut_holds
from nuages.contracts.holds import NETWORK_SCOPE
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.kernel.money import round_ledger

BILLING = Actor.system("billing")


def held_usage(session: Session, hold: ContractHold) -> Decimal:
    """What the contract's usage entries debited for the hold's time (a positive sum);
    for a network cut's hold (scope ``network``), only its cut VMs' entries: the rest of
    the contract was not suspended."""
    assert hold.lifted_at is not None
    start, end = hold.placed_at, hold.lifted_at
    query = select(LedgerEntry.amount, LedgerEntry.period_start, LedgerEntry.period_end).where(
        LedgerEntry.contract_id == hold.contract_id,
        LedgerEntry.kind == EntryKind.USAGE.value,
        LedgerEntry.period_start < end,
        LedgerEntry.period_end > start,
    )
    if hold.scope == NETWORK_SCOPE:
        query = query.where(
            LedgerEntry.resource_type == "vm",
            LedgerEntry.resource_id.in_(cut_holds.vms_of(session, hold.id)),
        )
    rows = session.execute(query).all()
    total = Decimal(0)
    for amount, lo, hi in rows:
        if lo is None or hi is None or hi <= lo:
            continue
        inside = (min(hi, end) - max(lo, start)).total_seconds()
        total += -amount * Decimal(str(inside)) / Decimal(str((hi - lo).total_seconds()))
    return round_ledger(total)


def credit_wrongful_hold(
    session: Session, registry: OfferRegistry, hold_id: str
) -> LedgerEntry | None:
    """Credit the held time of a hold lifted as wrongful (once); None when there is
    nothing to credit (not wrongful, not lifted, no prepaid account, nothing debited)."""
    hold = session.get(ContractHold, hold_id)
    if hold is None or not hold.wrongful or hold.lifted_at is None:
        return None
    account = ledger.get_account(session, hold.contract_id, lock=True)
    if account is None:
        return None
    amount = held_usage(session, hold)
    if amount <= 0:
        return None
    entry, new = ledger.post(
        session,
        account,
        kind=EntryKind.CREDIT,
        amount=amount,
        key=f"wrongful-hold:{hold.id}",
        at=hold.lifted_at,
        description=f"Suspension injustifiée ({hold.ground}) : temps suspendu crédité (000 §11.1)",
    )
    if new:
        history.record(
            session,
            BILLING,
            object_type="account",
            object_id=hold.contract_id,
            action="billing.credit.wrongful_hold",
            params={"hold_id": hold.id, "amount": str(amount), "clause": "000 §11.1"},
            client_id=hold.client_id,
        )
        contract = session.get(Contract, hold.contract_id)
        if contract is not None:
            balance.after_movement(session, registry, contract, BILLING)
    return entry


def run_job(database: Database, registry: OfferRegistry, hold_id: str) -> LedgerEntry | None:
    """The job ``billing_credit_wrongful_hold``."""
    with database.unit() as session:
        return credit_wrongful_hold(session, registry, hold_id)
