"""``nuages index`` and ``nuages invoicing``: index values, runs, dunning, documents.

A thin edge over the services, acting as provider staff ("cli"). Bad input prints one
line on stderr and exits 2; a refused action exits 1; a run where some contracts
failed exits 3 and lists them. The services are imported inside the commands so that
``--help`` starts fast (issue #19); ``--json`` prints one JSON document.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from nuages import cli_output as out

if TYPE_CHECKING:
    from nuages.contracts.offers import OfferRegistry
    from nuages.history.service import Actor
    from nuages.kernel.db import Database

__all__ = ["index_app", "invoicing_app"]

index_app = typer.Typer(help="Index values for yearly price revisions.", no_args_is_help=True)
invoicing_app = typer.Typer(help="Invoices: runs, dunning, documents.", no_args_is_help=True)


def _cli() -> Actor:
    from nuages.history.service import Actor

    return Actor.system("cli")


def _fail(message: str, code: int = 2) -> NoReturn:
    out.fail(message, code)


def _database() -> Database:
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    return Database(get_settings().effective_database_url)


def _registry() -> OfferRegistry:
    from nuages.contracts.offers import OfferRegistry
    from nuages.kernel.settings import get_settings

    return OfferRegistry.from_directory(get_settings().offers_dir)


def _day(text: str | None) -> dt.date:
    from nuages.kernel.clock import utc_now

    if text is None:
        return utc_now().date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)")


@index_app.command("set")
def index_set(
    name: str = typer.Argument(..., help="index name, e.g. syntec"),
    month: str = typer.Argument(..., help="YYYY-MM"),
    value: str = typer.Argument(..., help="the published value, e.g. 296.4"),
    as_json: bool = out.JSON,
) -> None:
    """Record the published value of an index for a month (000 §13.3, 004 §8.1)."""
    from nuages.invoicing import lines
    from nuages.kernel.errors import NuagesError

    try:
        first = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        _fail(f"{month!r} is not a month (YYYY-MM)")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        _fail(f"{value!r} is not a number")
    if not amount.is_finite():
        _fail(f"{value!r} is not a finite number")
    try:
        with _database().unit() as session:
            row = lines.set_index(session, _cli(), name.lower(), first, amount)
            data = {"name": row.name, "month": f"{row.period:%Y-%m}", "value": row.value}
    except NuagesError as exc:
        _fail(exc.detail, 1)
    out.emit(data, as_json, f"{data['name']} {data['month']} = {data['value']}")


@index_app.command("list")
def index_list(name: str | None = typer.Argument(None), as_json: bool = out.JSON) -> None:
    """Index values entered."""
    from sqlalchemy import select

    from nuages.invoicing.models import IndexValue

    with _database().unit() as session:
        stmt = select(IndexValue).order_by(IndexValue.name, IndexValue.period)
        if name:
            stmt = stmt.where(IndexValue.name == name.lower())
        rows = [
            {"name": row.name, "month": f"{row.period:%Y-%m}", "value": row.value}
            for row in session.execute(stmt).scalars()
        ]
    out.emit(rows, as_json, [f"{r['name']} {r['month']} {r['value']}" for r in rows])


@invoicing_app.command("legal-rate")
def legal_rate(
    valid_from: str = typer.Argument(..., help="YYYY-MM-DD"),
    valid_to: str = typer.Argument(..., help="YYYY-MM-DD (exclusive)"),
    rate_pct: str = typer.Argument(..., help="yearly %, e.g. 6.65"),
    series: str = typer.Option("FR", "--series", help="whose legal rate: FR or BE (000 §13.1)"),
    as_json: bool = out.JSON,
) -> None:
    """Record a country's legal interest rate over its validity period (SPEC §17)."""
    from nuages.invoicing import lines
    from nuages.kernel.errors import NuagesError

    try:
        rate = Decimal(rate_pct)
    except InvalidOperation:
        _fail(f"{rate_pct!r} is not a number")
    start, end = _day(valid_from), _day(valid_to)
    try:
        with _database().unit() as session:
            lines.set_legal_rate(session, _cli(), start, end, rate, series)
    except NuagesError as exc:
        _fail(exc.detail, 1)
    out.emit(
        {"series": series, "valid_from": start, "valid_to": end, "rate_pct": rate},
        as_json,
        f"legal rate {series} {rate} % from {valid_from} to {valid_to}",
    )


def _run_lines(report: dict[str, Any]) -> list[str]:
    kind = "preview" if report["dry_run"] else "run"
    shown = report["previews"] if report["dry_run"] else report["issued"]
    rows = [
        {k: v for k, v in doc.items() if not isinstance(v, list | dict)}
        for doc in shown
        if isinstance(doc, dict)
    ]
    text = [out.table(rows)] if rows else []
    text.append(
        f"{kind} {report['run_id'] or ''} on {report['run_on']}: {report['contracts']} "
        f"contract(s), {len(shown)} document(s), {len(report['problems'])} problem(s), "
        f"{report['skipped']} skipped".replace("  ", " ")
    )
    return text


@invoicing_app.command("run")
def run(
    on: str | None = typer.Option(None, "--on", help="run date (default: today)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show, write nothing"),
    as_json: bool = out.JSON,
) -> None:
    """Invoice every contract due (each in its own transaction); print the report.
    Exit 3 when some contracts could not be invoiced (listed on stderr; the others are)."""
    from nuages.invoicing import runs
    from nuages.kernel.errors import NuagesError

    registry = _registry()
    day = _day(on)
    try:
        with out.progress(
            "invoicing",
            "contract(s)",
            interrupted="each contract is its own transaction: the documents issued are "
            "kept; run `nuages invoicing run` again to invoice the rest",
        ) as bar:
            report = runs.run(_database(), _cli(), registry, day, dry_run=dry_run, progress=bar)
    except NuagesError as exc:
        _fail(exc.detail, 1)
    data = report.as_dict()
    out.emit(data, as_json, _run_lines(data))
    if report.problems:
        out.partial(
            [f"contract {p['contract_id']}: {p['problem']}" for p in report.problems],
            "contract(s)",
        )


@invoicing_app.command("dunning")
def dunning_run(
    on: str | None = typer.Option(None, "--on", help="default: today"),
    as_json: bool = out.JSON,
) -> None:
    """Take every dunning step due (reminders, fees, formal notices, suspensions); what
    a notice lacks (e.g. no legal rate entered) is listed on stderr."""
    from nuages.invoicing import dunning
    from nuages.kernel.errors import NuagesError

    registry = _registry()
    day = _day(on)
    try:
        with (
            out.progress(
                "dunning", interrupted="nothing was written (one transaction)", ticker=True
            ) as bar,
            _database().unit() as session,
        ):
            bar.step("overdue invoices")
            report = dunning.run(session, _cli(), registry, day)
            notices = [
                {"sent_on": n.sent_on, "step": n.step, "text": n.text} for n in report.notices
            ]
    except NuagesError as exc:
        _fail(exc.detail, 1)
    out.emit(
        {"notices": notices, "problems": report.problems},
        as_json,
        [f"{n['sent_on']} {n['step']} {n['text']}" for n in notices],
    )
    for problem in report.problems:  # the step was taken; the notice lacks something
        out.warn(f"problem: {problem}")


@invoicing_app.command("pdf")
def export_pdf(
    number: str = typer.Argument(..., help="document number, e.g. F-2026-000001"),
    out_file: str = typer.Argument(..., metavar="OUT", help="file to write"),
    as_json: bool = out.JSON,
) -> None:
    """Write a document's Factur-X PDF."""
    from sqlalchemy import select

    from nuages.invoicing import pdf
    from nuages.invoicing.models import Invoice

    database = _database()
    with database.unit() as session:
        invoice_id = session.execute(
            select(Invoice.id).where(Invoice.number == number)
        ).scalar_one_or_none()
    if invoice_id is None:
        _fail(f"no document {number} (list them with the API's /invoices)", 1)
    with out.progress("rendering", interrupted="no file was written") as bar:
        bar.step(number)
        data = pdf.render_stored(database, invoice_id)
    Path(out_file).write_bytes(data)
    out.emit(
        {"number": number, "written_to": out_file, "bytes": len(data)},
        as_json,
        f"{number} → {out_file}",
    )


@invoicing_app.command("deposit")
def deposit(
    contract: str = typer.Argument(..., help="contract id"),
    line: list[str] = typer.Option(  # noqa: B008 - typer's repeatable option
        [], "--line", help="an ordered hardware line (repeat; default: every one not invoiced)"
    ),
    as_json: bool = out.JSON,
) -> None:
    """Ask for the deposit of a hardware order (001 §4.6 (i)): issue its deposit
    invoice (Factur-X type 386), e-mailed like any invoice."""
    from nuages.accounts.principal import Principal
    from nuages.invoicing import deposits, schemas
    from nuages.kernel.errors import NuagesError

    try:
        with _database().unit() as session:
            done = deposits.request(
                session,
                Principal.operator(),
                _registry(),
                contract,
                schemas.DepositCreate(lines=line),
            )
            invoice = done.invoice
            data = {
                "contract_id": contract,
                "invoice_id": invoice.id,
                "number": invoice.number,
                "lines": done.line_ids,
                "order_total": done.order_total,
                "pct": done.pct,
                "total_net": invoice.total_net,
                "tax_total": invoice.tax_total,
                "grand_total": invoice.grand_total,
                "due_date": invoice.due_date,
            }
    except NuagesError as exc:
        _fail(exc.detail, 1)
    out.emit(
        data,
        as_json,
        f"deposit invoice {data['number']}: {data['total_net']} + VAT {data['tax_total']} = "
        f"{data['grand_total']} ({data['pct']} % of {data['order_total']}), "
        f"due {data['due_date'] or '-'}",
    )


def _add_receipt() -> None:
    from nuages.invoicing.cli_receipt import receipt_app

    invoicing_app.add_typer(receipt_app, name="receipt")


_add_receipt()
