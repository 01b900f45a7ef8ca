"""``nuages billing``: prepaid accounts from the command line, acting as provider staff.

Imports of the billing services are made inside the commands, so ``nuages billing
--help`` starts fast (issue #19). Output follows ``nuages.cli_output``: a human table
by default, ``--json`` for one JSON document; errors are one line on stderr.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from nuages import cli_output as out

if TYPE_CHECKING:
    from nuages.accounts.principal import Principal
    from nuages.kernel.db import Database
    from nuages.payments.models import DirectDebitBatch

billing_app = typer.Typer(help="Prepaid accounts, top-ups and metering.", no_args_is_help=True)
T = TypeVar("T")
DEFAULT_OUT = Path("pain008.xml")
# EntryKind's values, spelled here so `--help` does not import the models (a test keeps
# them equal).
ENTRY_KINDS = (
    "topup",
    "usage",
    "adjustment",
    "credit",
    "fee",
    "refund",
    "reversal",
)


def _staff() -> Principal:
    from nuages.accounts.principal import Principal

    # The operator at the console acts as provider staff; the history names the login.
    return Principal.operator()


def _database() -> Database:
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    return Database(get_settings().effective_database_url)


def _registry() -> Any:
    from nuages.billing import metering

    return metering.default_registry()


def _run(work: Callable[[], T]) -> T:
    """Run ``work``; a business error becomes a message and exit status 1."""
    from pydantic import ValidationError

    from nuages.kernel.errors import NuagesError

    try:
        return work()
    except NuagesError as exc:
        out.fail(exc.detail, out.EXIT_REFUSED)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        out.fail(problems, out.EXIT_USAGE)


def _moment(text: str | None) -> dt.datetime | None:
    from nuages.kernel.clock import ensure_aware

    if text is None:
        return None
    try:
        return ensure_aware(dt.datetime.fromisoformat(text))
    except ValueError as exc:
        out.fail(f"{text!r}: {exc} (give e.g. 2026-11-02T14:00:00Z)", out.EXIT_USAGE)


def _amount(text: str) -> Decimal:
    from nuages.kernel.money import parse_amount

    try:
        return parse_amount(text)  # the API's rule: no exponent, "_" or other digits
    except ValueError as exc:
        out.fail(str(exc), out.EXIT_USAGE)


@billing_app.command("meter")
def meter(
    now: str | None = typer.Option(None, help="meter up to this time (default: now)"),
    as_json: bool = out.JSON,
) -> None:
    """Debit every whole hour not metered yet (each VM-period exactly once)."""
    from nuages.billing import metering

    database = _database()
    until = _moment(now)
    with out.progress(
        "metering",
        "hour(s)",
        interrupted="each hour is its own transaction: the hours metered are kept; "
        "run `nuages billing meter` again to catch up the rest",
    ) as bar:
        report = _run(lambda: metering.run(database.unit, until, progress=bar))
    data = {
        "hours": report.periods,
        "entries_written": report.written,
        "suspended": report.suspended,
        "resumed": report.resumed,
        "warned": report.warned,
        "unpriced": sorted(report.unpriced),
    }
    out.emit(
        data,
        as_json,
        f"metered {len(report.periods)} hour(s): {report.written} entries written; suspended "
        f"{len(report.suspended)}, resumed {len(report.resumed)}, warned {len(report.warned)}",
    )
    if report.unpriced:
        out.warn(f"not priced by their offer: {', '.join(sorted(report.unpriced))}")


@billing_app.command("import-statement")
def import_statement(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: bool = out.JSON,
) -> None:
    """Reconcile a CAMT.053 bank statement: credit transfers by their RF reference and
    reverse returned direct debits; unmatched lines are listed."""
    from nuages.billing import camt

    database = _database()
    data = path.read_bytes()
    with out.progress(
        "statement",
        "line(s)",
        interrupted="each line is its own transaction: importing the statement again "
        "skips the lines already booked",
    ) as bar:
        report = _run(
            lambda: camt.import_statement(
                database.unit, _registry(), data, _staff().actor, progress=bar
            )
        )
    kinds = ("credited", "settled", "returns", "duplicates", "unmatched")

    def human() -> None:
        for kind in kinds:
            for line in getattr(report, kind):
                typer.echo(f"{kind:10} {line}")
        typer.echo(
            f"{len(report.credited)} credited, {len(report.settled)} settled, "
            f"{len(report.returns)} returns, "
            f"{len(report.duplicates)} already known, {len(report.unmatched)} unmatched"
        )

    out.emit({kind: getattr(report, kind) for kind in kinds}, as_json, human)


@billing_app.command("sepa-batch")
def sepa_batch(
    out_file: Annotated[
        Path, typer.Option("--out", help="where to write the pain.008 file")
    ] = DEFAULT_OUT,
    collection_date: str | None = typer.Option(None, help="YYYY-MM-DD (default: lead days)"),
    again: str | None = typer.Option(None, help="write out a stored batch again, by id"),
    seller: str | None = typer.Option(
        None, help="seller id, when the collections waiting have several creditors"
    ),
    as_json: bool = out.JSON,
) -> None:
    """Write the pending direct debits into one pain.008 file (credited when settled)."""
    from nuages.billing import sepa
    from nuages.payments.models import DirectDebitBatch

    database = _database()
    if again is not None:
        with database.unit() as session:
            stored = session.get(DirectDebitBatch, again)
            if stored is None:
                out.fail(f"no batch {again} (see the batch ids printed by earlier runs)")
            out_file.write_text(stored.xml, "utf-8")
        out.emit(
            {"batch": again, "written_to": out_file},
            as_json,
            f"batch {again} written again to {out_file}",
        )
        return
    try:
        when = dt.date.fromisoformat(collection_date) if collection_date else None
    except ValueError:
        out.fail(f"--collection-date {collection_date!r} is not YYYY-MM-DD", out.EXIT_USAGE)

    problems: list[dict[str, str]] = []

    def work() -> DirectDebitBatch | None:
        with database.unit() as session:
            return sepa.write_batch(
                session,
                _registry(),
                _staff().actor,
                collection_date=when,
                seller=seller,
                problems=problems,
            )

    with out.progress("direct debits", interrupted="no batch was stored", ticker=True) as bar:
        bar.step("pending collections")
        batch = _run(work)
    for problem in problems:  # 17.2: left out of the file, still requested
        out.warn(
            f"left out: debit {problem['debit']} (contract {problem['contract_id']}, mandate "
            f"{problem['mandate']}): {problem['problem']}"
        )
    if batch is None:
        out.emit({"batch": None, "left_out": problems}, as_json, "no direct debit is waiting")
        return
    # Written after the commit: the batch is stored, `--again` rewrites a lost file.
    out_file.write_text(batch.xml, "utf-8")
    out.emit(
        {
            "batch": batch.id,
            "transactions": batch.transactions,
            "total": batch.total,
            "currency": "EUR",
            "collection_date": batch.collection_date,
            "written_to": out_file,
            "left_out": problems,
        },
        as_json,
        f"batch {batch.id}: {batch.transactions} collection(s), {batch.total} EUR, "
        f"due {batch.collection_date}, written to {out_file}",
    )


@billing_app.command("settle-debit")
def settle_debit(
    end_to_end_id: Annotated[str, typer.Argument(help="the collection's end-to-end id")],
    as_json: bool = out.JSON,
) -> None:
    """Record that the bank booked a collection sent in a batch: credit it, once."""
    from nuages.billing import sepa

    database = _database()

    def work() -> tuple[str, str, bool]:
        with database.unit() as session:
            debit, now = sepa.settle(session, _staff().actor, _registry(), end_to_end_id)
            return debit.contract_id, str(debit.amount), now

    contract_id, amount, now = _run(work)
    data = {"end_to_end_id": end_to_end_id, "contract": contract_id, "amount": amount}
    if now:
        text = f"settled {end_to_end_id}: {amount} EUR credited to {contract_id}"
    else:
        text = f"{end_to_end_id} was already settled; nothing written"
    out.emit({**data, "settled_now": now}, as_json, text)


@billing_app.command("balance")
def balance(contract_id: str, as_json: bool = out.JSON) -> None:
    """A contract's account: balance, payment reference, burn and projection."""
    from nuages.billing import usage

    database = _database()

    def work() -> dict[str, Any]:
        with database.unit() as session:
            summary = usage.account_summary(session, _staff(), _registry(), contract_id)
            return dict(summary.model_dump(mode="python"))

    out.emit(_run(work), as_json)


@billing_app.command("entries")
def entries(
    contract_id: str,
    kind: str | None = typer.Option(None, help=f"only this kind: {', '.join(ENTRY_KINDS)}"),
    page: int = typer.Option(1, min=1),
    per_page: int = typer.Option(50, min=1, max=200),
    as_json: bool = out.JSON,
) -> None:
    """A contract's ledger entries, newest first."""
    from nuages.billing import ledger, schemas
    from nuages.billing.models import EntryKind

    if kind is not None and kind not in ENTRY_KINDS:
        out.fail(f"--kind {kind!r} is not one of {', '.join(ENTRY_KINDS)}", out.EXIT_USAGE)
    database = _database()

    def work() -> tuple[list[dict[str, Any]], int]:
        with database.unit() as session:
            items, total = ledger.list_entries(
                session,
                _staff(),
                contract_id,
                page,
                per_page,
                kind=EntryKind(kind) if kind else None,
            )
            return [
                schemas.EntryOut.model_validate(e).model_dump(mode="python") for e in items
            ], total

    rows, total = _run(work)
    out.emit({"total": total, "page": page, "entries": rows}, as_json, lambda: _rows(rows, total))


def _rows(rows: list[dict[str, Any]], total: int | None = None) -> None:
    if rows:
        typer.echo(out.table(rows))
    if total is not None:
        out.warn(f"{total} entries")


@billing_app.command("topup")
def topup(contract_id: str, amount: str, reference: str, as_json: bool = out.JSON) -> None:
    """Record a bank transfer received (REFERENCE: the bank's own reference)."""
    from nuages.billing import schemas, topups

    database = _database()

    def work() -> int:
        data = schemas.TransferCreate(amount=_amount(amount), reference=reference)
        with database.unit() as session:
            entry = topups.record_transfer(session, _staff(), _registry(), contract_id, data)
            return entry.seq

    seq = _run(work)
    out.emit({"contract": contract_id, "entry": seq}, as_json, f"entry #{seq} written")


@billing_app.command("adjust")
def adjust(
    contract_id: str,
    kind: str = typer.Argument(..., help="adjustment | credit | fee | refund"),
    amount: str = typer.Argument(...),
    reason: str = typer.Option(..., help="why; kept in the ledger and the history"),
    key: str | None = typer.Option(None, help="idempotency key: a retry writes nothing"),
    as_json: bool = out.JSON,
) -> None:
    """Write a staff movement with its reason."""
    from nuages.billing import schemas, topups

    database = _database()

    def work() -> int:
        data = schemas.AdjustmentCreate.model_validate(
            {"kind": kind, "amount": _amount(amount), "reason": reason, "idempotency_key": key}
        )
        with database.unit() as session:
            return topups.adjust(session, _staff(), _registry(), contract_id, data).seq

    seq = _run(work)
    out.emit({"contract": contract_id, "entry": seq}, as_json, f"entry #{seq}")


@billing_app.command("usage")
def usage_cmd(
    contract_id: str,
    since: str | None = None,
    until: str | None = None,
    as_json: bool = out.JSON,
) -> None:
    """What each VM and extension of a contract cost over [since, until)."""
    from nuages.billing import usage

    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            totals = usage.usage_totals(
                session, _staff(), contract_id, since=_moment(since), until=_moment(until)
            )
            return [t.model_dump(mode="python") for t in totals]

    out.emit(_run(work), as_json)


@billing_app.command("mandates")
def mandates(contract_id: str, as_json: bool = out.JSON) -> None:
    """A contract's SEPA mandates (IBAN masked)."""
    from nuages.billing import schemas, sepa

    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            return [
                schemas.MandateOut.model_validate(m).model_dump(mode="python")
                for m in sepa.list_mandates(session, _staff(), contract_id)
            ]

    out.emit(_run(work), as_json)


@billing_app.command("extensions")
def extensions_cmd(contract_id: str, as_json: bool = out.JSON) -> None:
    """A contract's extensions."""
    from nuages.billing import extensions, schemas

    database = _database()

    def work() -> list[dict[str, Any]]:
        with database.unit() as session:
            items, _total = extensions.list_extensions(session, _staff(), contract_id, 1, 200)
            return [schemas.ExtensionOut.model_validate(e).model_dump(mode="python") for e in items]

    out.emit(_run(work), as_json)


@billing_app.command("verify")
def verify(as_json: bool = out.JSON) -> None:
    """Check that every account's balance equals the sum of its entries (exit 1 on a
    mismatch, each listed)."""
    from nuages.billing import ledger

    database = _database()
    with database.unit() as session:
        wrong = ledger.verify(session)
    rows = [{"contract": c, "balance": stored, "entries": total} for c, stored, total in wrong]
    if as_json:
        out.emit({"ok": not wrong, "mismatches": rows}, True)
    elif not wrong:
        typer.echo("every balance equals the sum of its entries")
    for row in rows:
        out.warn(f"MISMATCH {row['contract']}: balance {row['balance']}, entries {row['entries']}")
    if wrong:
        raise typer.Exit(out.EXIT_REFUSED)
