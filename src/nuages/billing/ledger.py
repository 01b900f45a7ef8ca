"""The ledger: accounts, entries written exactly once, balances, listings.

Every movement of money is one ``LedgerEntry`` with a unique idempotency key, inserted
with ``INSERT … ON CONFLICT DO NOTHING``: a retried request or a re-run job finds the
entry already there and writes nothing. Entries are never updated or deleted (database
triggers), and the account's balance moves in the database with every inserted entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from stdnum.iso7064 import mod_97_10

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.billing.models import (
    NEGATIVE_KINDS,
    POSITIVE_KINDS,
    BillingAccount,
    EntryKind,
    LedgerEntry,
)
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.access import get_visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, InvalidTransition, ValidationFailed
from nuages.kernel.money import round_ledger
from nuages.kernel.pagination import paginate
from nuages.terms.schema import Offer
from nuages.terms.schema_billing import Prepaid

# Numeric(18, 6): anything at or above a trillion does not fit a ledger amount.
MAX_AMOUNT = Decimal("1e12")


def payment_reference(contract_id: str) -> str:
    """The ISO 11649 creditor reference ("RF" + check digits + 16 characters) a client
    writes on a transfer so the bank-statement import finds its account."""
    body = hashlib.sha256(contract_id.encode()).hexdigest()[:16].upper()
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def insert_ignoring(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(rows if len(rows) != 1 else rows[0]).on_conflict_do_nothing()


def prepaid_terms(offer: Offer) -> Prepaid:
    """The offer's ``[billing.prepaid]`` table; 409 for an invoiced offer."""
    if offer.billing.mode != "prepaid" or offer.billing.prepaid is None:
        raise InvalidTransition(
            f"offer {offer.id} is invoiced: its contracts pay invoices, not a prepaid account"
        )
    return offer.billing.prepaid


def contract_for(session: Session, actor: Principal, contract_id: str) -> Contract:
    """The contract behind an account, for a caller holding the billing permission.

    403 without the billing scope (a member never sees money, 000 §5); 404 for another
    client's contract (never 403, its existence is not ours to reveal).
    """
    actor.require(Scope.BILLING)
    return get_visible(session, actor, Contract, contract_id, "contract")


def get_account(session: Session, contract_id: str, *, lock: bool = False) -> BillingAccount | None:
    """The account of a contract, read fresh from the database (the balance moves in
    triggers); ``lock`` takes its row lock until the transaction ends (PostgreSQL)."""
    stmt = select(BillingAccount).where(BillingAccount.contract_id == contract_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def ensure_account(
    session: Session, contract: Contract, offer: Offer, *, lock: bool = False
) -> BillingAccount:
    """The contract's prepaid account, created on first use (concurrent callers create
    it once: the insert ignores a conflict)."""
    prepaid_terms(offer)
    account = get_account(session, contract.id, lock=lock)
    if account is not None:
        return account
    row = {
        "contract_id": contract.id,
        "client_id": contract.client_id,
        "currency": offer.offer.currency,
        "balance": Decimal(0),
        "payment_reference": payment_reference(contract.id),
        "created_at": utc_now(),
    }
    session.execute(insert_ignoring(session, BillingAccount.__table__, [row]))
    account = get_account(session, contract.id, lock=lock)
    assert account is not None  # inserted just now, or by a concurrent caller
    return account


def account_for(
    session: Session, registry: OfferRegistry, contract: Contract, *, lock: bool = False
) -> tuple[BillingAccount, Offer]:
    """The contract's account and the terms it accepted (prepaid offers only)."""
    offer = registry.for_contract(session, contract)
    return ensure_account(session, contract, offer, lock=lock), offer


def check_amount(kind: EntryKind, amount: Decimal) -> Decimal:
    """``amount`` rounded to the ledger's precision, refused if its sign or size does not
    fit ``kind`` (the database checks the sign again)."""
    if not amount.is_finite():
        raise ValidationFailed("amount: not a finite number")
    value = round_ledger(amount)
    if abs(value) >= MAX_AMOUNT:
        raise ValidationFailed("amount: too large for a ledger entry")
    if value == 0:
        raise ValidationFailed("amount: a ledger entry never moves zero")
    if kind in POSITIVE_KINDS and value < 0:
        raise ValidationFailed(f"amount: a {kind.value} entry is positive")
    if kind in NEGATIVE_KINDS and value > 0:
        raise ValidationFailed(f"amount: a {kind.value} entry is negative")
    return value


def post(
    session: Session,
    account: BillingAccount,
    *,
    kind: EntryKind,
    amount: Decimal,
    key: str,
    at: dt.datetime | None = None,
    reference: str = "",
    description: str = "",
    actor_id: str | None = None,
    corrects_seq: int | None = None,
) -> tuple[LedgerEntry, bool]:
    """Write one entry exactly once; return it and whether this call wrote it.

    A second call with the same ``key`` and the same movement returns the first entry
    (``False``); the same key for a different movement is a 409: keys name one movement.
    """
    value = check_amount(kind, amount)
    now = utc_now()
    row = {
        "contract_id": account.contract_id,
        "client_id": account.client_id,
        "kind": kind.value,
        "amount": value,
        "currency": account.currency,
        "at": at or now,
        "recorded_at": now,
        "idempotency_key": key,
        "reference": reference,
        "description": description,
        "actor_id": actor_id,
        "corrects_seq": corrects_seq,
    }
    stmt = insert_ignoring(session, LedgerEntry.__table__, [row]).returning(
        LedgerEntry.__table__.c.seq
    )
    seq = session.execute(stmt).scalar_one_or_none()
    entry = session.execute(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    ).scalar_one()
    if seq is None and (
        entry.contract_id != account.contract_id
        or entry.kind != kind.value
        or entry.amount != value
    ):
        raise Conflict(f"idempotency key {key!r} already names another movement")
    return entry, seq is not None


# Columns a bulk write fills, in order (``seq`` comes from the database).
BULK_COLUMNS = (
    "contract_id",
    "client_id",
    "kind",
    "amount",
    "currency",
    "at",
    "recorded_at",
    "idempotency_key",
    "reference",
    "description",
    "actor_id",
    "resource_type",
    "resource_id",
    "period_start",
    "period_end",
    "quantity",
    "unit_price",
    "corrects_seq",
)
_STAGE_DDL = """CREATE TEMP TABLE IF NOT EXISTS ledger_stage (
    contract_id varchar(36), client_id varchar(36), kind varchar(16), amount numeric(18, 6),
    currency varchar(3), at timestamptz, recorded_at timestamptz,
    idempotency_key varchar(160), reference varchar(140), description varchar(300),
    actor_id varchar(36), resource_type varchar(16), resource_id varchar(36),
    period_start timestamptz, period_end timestamptz, quantity numeric(18, 6),
    unit_price numeric(18, 6), corrects_seq bigint) ON COMMIT DELETE ROWS"""
# Built from the constant column list above, never from input.
_COLUMNS = ", ".join(BULK_COLUMNS)
_MARKS = ", ".join("?" for _ in BULK_COLUMNS)
_COPY_SQL = f"COPY ledger_stage ({_COLUMNS}) FROM STDIN"
_FROM_STAGE_SQL = (
    f"INSERT INTO ledger_entries ({_COLUMNS}) SELECT {_COLUMNS} FROM ledger_stage "  # noqa: S608
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_INSERT_SQL = (
    f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES ({_MARKS}) "  # noqa: S608
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


def _copy_field(value: Any) -> str:
    # PostgreSQL COPY text format: \N for NULL, ISO times, decimals as written.
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bulk_insert(session: Session, rows: Sequence[tuple[Any, ...]]) -> int:
    """Write many entries (tuples in ``BULK_COLUMNS`` order), skipping every one whose
    idempotency key already exists; return how many were written. Amounts must
    already be rounded and signed.

    PostgreSQL: ``COPY`` (text) into a temporary table, then one ``INSERT … SELECT …
    ON CONFLICT DO NOTHING`` (the balance trigger then runs once per statement).
    SQLite: one prepared ``INSERT … ON CONFLICT DO NOTHING`` run for every row
    (executemany), values through the columns' own type processing as the ORM does.
    Values repeat across a batch (the period, its end, the price): each distinct
    non-text value is converted once.
    """
    if not rows:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor()
    try:
        if dialect.name == "postgresql":
            cursor.execute(_STAGE_DDL)
            with cursor.copy(_COPY_SQL) as copy:
                copy.write(_copy_text(rows))
            cursor.execute(_FROM_STAGE_SQL)
            written = cursor.rowcount
            cursor.execute("TRUNCATE ledger_stage")
        else:
            cursor.executemany(_INSERT_SQL, _processed(rows, dialect))
            written = cursor.rowcount
    finally:
        cursor.close()
    return int(written)


def _copy_text(rows: Sequence[tuple[Any, ...]]) -> str:
    memo: dict[Any, str] = {}
    lines = []
    for row in rows:
        fields = []
        for value in row:
            if isinstance(value, str):
                # Ids, keys and our own descriptions never hold a tab, a newline or a
                # backslash; anything else is escaped as COPY's text format requires.
                if "\\" in value or not value.isprintable():
                    value = _copy_escape(value)
                fields.append(value)
                continue
            try:
                fields.append(memo[value])
            except KeyError:
                text = memo[value] = _copy_field(value)
                fields.append(text)
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def _processed(rows: Sequence[tuple[Any, ...]], dialect: Any) -> list[tuple[Any, ...]]:
    table = LedgerEntry.__table__
    plan: list[tuple[Any, dict[Any, Any]]] = [
        (table.c[name].type.dialect_impl(dialect).bind_processor(dialect), {})
        for name in BULK_COLUMNS
    ]
    out = []
    for row in rows:
        values = []
        for value, (proc, memo) in zip(row, plan, strict=True):
            if proc is not None and value is not None:
                try:
                    value = memo[value]
                except KeyError:
                    processed = proc(value)
                    memo[value] = processed
                    value = processed
            values.append(value)
        out.append(tuple(values))
    return out


def balance(session: Session, contract_id: str) -> Decimal:
    """The account's balance as the database holds it now (0 without an account)."""
    value = session.execute(
        select(BillingAccount.balance).where(BillingAccount.contract_id == contract_id)
    ).scalar_one_or_none()
    return Decimal(value) if value is not None else Decimal(0)


def sum_of_entries(session: Session, contract_id: str) -> Decimal:
    """The sum of the account's entries: what its balance must always equal."""
    total = session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.contract_id == contract_id
        )
    ).scalar_one()
    return Decimal(total)


def verify(session: Session) -> list[tuple[str, Decimal, Decimal]]:
    """Accounts whose stored balance differs from the sum of their entries, as
    (contract id, balance, sum); an empty list means the books agree."""
    sums = (
        select(LedgerEntry.contract_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.contract_id)
        .subquery()
    )
    rows = session.execute(
        select(BillingAccount.contract_id, BillingAccount.balance, sums.c.total).outerjoin(
            sums, sums.c.contract_id == BillingAccount.contract_id
        )
    ).all()
    out = []
    for contract_id, stored, total in rows:
        expected = Decimal(total if total is not None else 0)
        if Decimal(stored) != expected:
            out.append((contract_id, Decimal(stored), expected))
    return out


def entries_query(
    contract_id: str,
    *,
    kind: EntryKind | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    resource_id: str | None = None,
) -> Select[LedgerEntry]:
    """Entries of one account, newest first, filtered by kind, time [since, until)
    and resource."""
    stmt = (
        select(LedgerEntry)
        .where(LedgerEntry.contract_id == contract_id)
        .order_by(LedgerEntry.seq.desc())
    )
    if kind is not None:
        stmt = stmt.where(LedgerEntry.kind == kind.value)
    if since is not None:
        stmt = stmt.where(LedgerEntry.at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.at < until)
    if resource_id is not None:
        stmt = stmt.where(LedgerEntry.resource_id == resource_id)
    return stmt


def list_entries(
    session: Session,
    actor: Principal,
    contract_id: str,
    page: int,
    per_page: int,
    *,
    kind: EntryKind | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[LedgerEntry], int]:
    """One page of an account's entries (000 §13.2: the balance and its history are
    visible to the Responsables)."""
    contract_for(session, actor, contract_id)
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until: must be after since")
    stmt = entries_query(contract_id, kind=kind, since=since, until=until)
    return paginate(session, stmt, page, per_page)


def list_accounts(
    session: Session, actor: Principal, page: int, per_page: int, client_id: str | None = None
) -> tuple[list[BillingAccount], int]:
    """Accounts the caller may see: staff every one (or one client's), a client its own."""
    actor.require(Scope.BILLING)
    stmt = select(BillingAccount).order_by(BillingAccount.created_at, BillingAccount.contract_id)
    if not actor.is_staff:
        stmt = stmt.where(BillingAccount.client_id == actor.client_id)
    elif client_id is not None:
        stmt = stmt.where(BillingAccount.client_id == client_id)
    return paginate(session, stmt, page, per_page)
