"""``nuages billing``: prepaid accounts from the command line, acting as provider staff."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.billing import camt, extensions, ledger, metering, schemas, sepa, topups, usage
from nuages.billing.models import EntryKind, SepaBatch
from nuages.kernel.clock import ensure_aware
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.money import parse_amount
from nuages.kernel.settings import get_settings

billing_app = typer.Typer(help="Prepaid accounts, top-ups and metering.", no_args_is_help=True)
T = TypeVar("T")
DEFAULT_OUT = Path("pain008.xml")


def _staff() -> Principal:
    # The operator at the console acts as provider staff; the history names the login.
    user = getpass.getuser()
    return Principal(
        user_id=f"cli:{user}"[:36],
        email=f"cli:{user}",
        role=Role.PROVIDER_ADMIN,
        client_id=None,
        scopes=frozenset(Scope),
    )


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _run(work: Callable[[], T]) -> T:
    """Run ``work``; a business error becomes a message and exit status 1."""
    try:
        return work()
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from None


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return ensure_aware(dt.datetime.fromisoformat(text))
    except ValueError as exc:
        typer.echo(f"error: {text!r}: {exc} (give e.g. 2026-11-02T14:00:00Z)", err=True)
        raise typer.Exit(2) from None


def _amount(text: str) -> Decimal:
    try:
        return parse_amount(text)  # the API's rule: no exponent, "_" or other digits
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@billing_app.command("meter")
def meter(
    now: str | None = typer.Option(None, help="meter up to this time (default: now)"),
) -> None:
    """Debit every whole hour not metered yet (each VM-period exactly once)."""
    database = _database()
    report = _run(lambda: metering.run(database.unit, _moment(now)))
    typer.echo(
        f"metered {len(report.periods)} hour(s): {report.written} entries written; suspended "
        f"{len(report.suspended)}, resumed {len(report.resumed)}, warned {len(report.warned)}"
    )
    if report.unpriced:
        typer.echo(f"not priced by their offer: {', '.join(sorted(report.unpriced))}", err=True)


@billing_app.command("import-statement")
def import_statement(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
) -> None:
    """Reconcile a CAMT.053 bank statement: credit transfers by their RF reference and
    reverse returned direct debits; unmatched lines are listed."""
    database = _database()
    data = path.read_bytes()
    report = _run(
        lambda: camt.import_statement(
            database.unit, metering.default_registry(), data, _staff().actor
        )
    )
    for kind in ("credited", "settled", "returns", "duplicates", "unmatched"):
        for line in getattr(report, kind):
            typer.echo(f"{kind:10} {line}")
    typer.echo(
        f"{len(report.credited)} credited, {len(report.settled)} settled, "
        f"{len(report.returns)} returns, "
        f"{len(report.duplicates)} already known, {len(report.unmatched)} unmatched"
    )


@billing_app.command("sepa-batch")
def sepa_batch(
    out: Annotated[Path, typer.Option(help="where to write the pain.008 file")] = DEFAULT_OUT,
    collection_date: str | None = typer.Option(None, help="YYYY-MM-DD (default: lead days)"),
    again: str | None = typer.Option(None, help="write out a stored batch again, by id"),
    seller: str | None = typer.Option(
        None, help="seller id, when the collections waiting have several creditors"
    ),
) -> None:
    """Write the pending direct debits into one pain.008 file (credited when settled)."""
    database = _database()
    if again is not None:
        with database.unit() as session:
            stored = session.get(SepaBatch, again)
            if stored is None:
                typer.echo(f"error: no batch {again}", err=True)
                raise typer.Exit(1)
            out.write_text(stored.xml, "utf-8")
        typer.echo(f"batch {again} written again to {out}")
        return
    when = dt.date.fromisoformat(collection_date) if collection_date else None

    problems: list[dict[str, str]] = []

    def work() -> SepaBatch | None:
        with database.unit() as session:
            return sepa.write_batch(
                session,
                metering.default_registry(),
                _staff().actor,
                collection_date=when,
                seller=seller,
                problems=problems,
            )

    batch = _run(work)
    for problem in problems:  # 17.2: left out of the file, still requested
        typer.echo(
            f"left out: debit {problem['debit']} (contract {problem['contract_id']}, mandate "
            f"{problem['mandate']}): {problem['problem']}",
            err=True,
        )
    if batch is None:
        typer.echo("no direct debit is waiting")
        return
    # Written after the commit: the batch is stored, `--again` rewrites a lost file.
    out.write_text(batch.xml, "utf-8")
    typer.echo(
        f"batch {batch.id}: {batch.transactions} collection(s), {batch.total} EUR, "
        f"due {batch.collection_date}, written to {out}"
    )


@billing_app.command("settle-debit")
def settle_debit(
    end_to_end_id: Annotated[str, typer.Argument(help="the collection's end-to-end id")],
) -> None:
    """Record that the bank booked a collection sent in a batch: credit it, once."""
    database = _database()

    def work() -> tuple[str, str, bool]:
        with database.unit() as session:
            debit, now = sepa.settle(
                session, _staff().actor, metering.default_registry(), end_to_end_id
            )
            return debit.contract_id, str(debit.amount), now

    contract_id, amount, now = _run(work)
    if now:
        typer.echo(f"settled {end_to_end_id}: {amount} EUR credited to {contract_id}")
    else:
        typer.echo(f"{end_to_end_id} was already settled; nothing written")


@billing_app.command("balance")
def balance(contract_id: str) -> None:
    """A contract's account: balance, payment reference, burn and projection."""
    database = _database()

    def work() -> schemas.AccountOut:
        with database.unit() as session:
            return usage.account_summary(
                session, _staff(), metering.default_registry(), contract_id
            )

    _echo(_run(work).model_dump(mode="json"))


@billing_app.command("entries")
def entries(
    contract_id: str,
    kind: Annotated[EntryKind | None, typer.Option()] = None,
    page: int = typer.Option(1, min=1),
    per_page: int = typer.Option(50, min=1, max=200),
) -> None:
    """A contract's ledger entries, newest first."""
    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            items, total = ledger.list_entries(
                session, _staff(), contract_id, page, per_page, kind=kind
            )
            typer.echo(f"{total} entries", err=True)
            return [schemas.EntryOut.model_validate(e).model_dump(mode="json") for e in items]

    _echo(_run(work))


@billing_app.command("topup")
def topup(contract_id: str, amount: str, reference: str) -> None:
    """Record a bank transfer received (REFERENCE: the bank's own reference)."""
    database = _database()

    def work() -> int:
        data = schemas.TransferCreate(amount=_amount(amount), reference=reference)
        with database.unit() as session:
            entry = topups.record_transfer(
                session, _staff(), metering.default_registry(), contract_id, data
            )
            return entry.seq

    typer.echo(f"entry #{_run(work)} written")


@billing_app.command("adjust")
def adjust(
    contract_id: str,
    kind: str = typer.Argument(..., help="adjustment | credit | fee | refund"),
    amount: str = typer.Argument(...),
    reason: str = typer.Option(..., help="why; kept in the ledger and the history"),
    key: str | None = typer.Option(None, help="idempotency key: a retry writes nothing"),
) -> None:
    """Write a staff movement with its reason."""
    database = _database()

    def work() -> int:
        data = schemas.AdjustmentCreate.model_validate(
            {"kind": kind, "amount": _amount(amount), "reason": reason, "idempotency_key": key}
        )
        with database.unit() as session:
            return topups.adjust(
                session, _staff(), metering.default_registry(), contract_id, data
            ).seq

    typer.echo(f"entry #{_run(work)}")


@billing_app.command("usage")
def usage_cmd(contract_id: str, since: str | None = None, until: str | None = None) -> None:
    """What each VM and extension of a contract cost over [since, until)."""
    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            totals = usage.usage_totals(
                session, _staff(), contract_id, since=_moment(since), until=_moment(until)
            )
            return [t.model_dump(mode="json") for t in totals]

    _echo(_run(work))


@billing_app.command("mandates")
def mandates(contract_id: str) -> None:
    """A contract's SEPA mandates (IBAN masked)."""
    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            return [
                schemas.MandateOut.model_validate(m).model_dump(mode="json")
                for m in sepa.list_mandates(session, _staff(), contract_id)
            ]

    _echo(_run(work))


@billing_app.command("extensions")
def extensions_cmd(contract_id: str) -> None:
    """A contract's extensions."""
    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            items, _total = extensions.list_extensions(session, _staff(), contract_id, 1, 200)
            return [schemas.ExtensionOut.model_validate(e).model_dump(mode="json") for e in items]

    _echo(_run(work))


@billing_app.command("verify")
def verify() -> None:
    """Check that every account's balance equals the sum of its entries."""
    database = _database()
    with database.unit() as session:
        wrong = ledger.verify(session)
    if wrong:
        for contract_id, stored, total in wrong:
            typer.echo(f"MISMATCH {contract_id}: balance {stored}, entries {total}", err=True)
        raise typer.Exit(1)
    typer.echo("every balance equals the sum of its entries")
