"""Reading an account: its summary, and usage per resource and per period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.billing import balance, ledger, schemas
from nuages.billing.models import EntryKind, LedgerEntry
from nuages.billing.pricing import OfferPricing
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.pagination import paginate


def account_summary(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> schemas.AccountOut:
    """A contract's account as its Responsables see it (000 §13.2): balance, how to
    pay, the Minimum Amount, the current burn and when the money runs out."""
    contract = ledger.contract_for(session, actor, contract_id)
    offer = registry.for_contract(session, contract)
    ledger.prepaid_terms(offer)  # 409 for an invoiced offer
    pricing = OfferPricing(offer)
    now = utc_now()
    # Read only: an account not opened yet (a contract just ordered, nothing credited) is
    # shown as it will be opened, empty, instead of being written by a read (GET units
    # are read-only: writing here failed with a 500).
    account = ledger.get_account(session, contract.id)
    if account is None:
        return schemas.AccountOut(
            contract_id=contract.id,
            client_id=contract.client_id,
            currency=offer.offer.currency,
            balance=Decimal(0),
            payment_reference=ledger.payment_reference(contract.id),
            minimum_amount=pricing.prepaid.minimum_amount,
            contract_state=contract.state,
            negative_since=None,
            suspended_at=None,
            hourly_burn=Decimal(0),
            runs_out_at=None,
        )
    burn = balance.hourly_burn(session, pricing, contract.id, now)
    return schemas.AccountOut(
        contract_id=contract.id,
        client_id=contract.client_id,
        currency=account.currency,
        balance=account.balance,
        payment_reference=account.payment_reference,
        minimum_amount=pricing.prepaid.minimum_amount,
        contract_state=contract.state,
        negative_since=account.negative_since,
        suspended_at=account.suspended_at,
        hourly_burn=burn,
        runs_out_at=balance.runs_out_at(account.balance, burn, now),
    )


def _window(since: dt.datetime | None, until: dt.datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until: must be after since")


def list_usage(
    session: Session,
    actor: Principal,
    contract_id: str,
    page: int,
    per_page: int,
    *,
    resource_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[LedgerEntry], int]:
    """Usage debits of a contract, one per resource and period, newest first; periods
    starting in [since, until)."""
    ledger.contract_for(session, actor, contract_id)
    _window(since, until)
    stmt = ledger.entries_query(contract_id, kind=EntryKind.USAGE, resource_id=resource_id)
    if since is not None:
        stmt = stmt.where(LedgerEntry.period_start >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.period_start < until)
    return paginate(session, stmt, page, per_page)


def usage_totals(
    session: Session,
    actor: Principal,
    contract_id: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[schemas.UsageTotalOut]:
    """What each resource of a contract cost over periods starting in [since, until)."""
    ledger.contract_for(session, actor, contract_id)
    _window(since, until)
    stmt = (
        select(
            LedgerEntry.resource_type,
            LedgerEntry.resource_id,
            func.count(),
            func.sum(LedgerEntry.quantity),
            func.sum(LedgerEntry.amount),
        )
        .where(LedgerEntry.contract_id == contract_id, LedgerEntry.kind == EntryKind.USAGE.value)
        .group_by(LedgerEntry.resource_type, LedgerEntry.resource_id)
        .order_by(LedgerEntry.resource_type, LedgerEntry.resource_id)
    )
    if since is not None:
        stmt = stmt.where(LedgerEntry.period_start >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.period_start < until)
    return [
        schemas.UsageTotalOut(
            resource_type=rtype or "",
            resource_id=rid or "",
            periods=int(count),
            quantity=Decimal(quantity or 0),
            amount=Decimal(amount or 0),
        )
        for rtype, rid, count, quantity, amount in session.execute(stmt).all()
    ]
