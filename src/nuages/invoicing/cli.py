"""``nuages index`` and ``nuages invoicing``: index values, runs, dunning, documents.

A thin edge over the services, acting as provider staff ("cli"). Bad input prints one
line on stderr and exits 2; a refused action exits 1.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

import typer
from sqlalchemy import select

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import dunning, lines, pdf, runs
from nuages.invoicing.models import IndexValue, Invoice
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings

__all__ = ["index_app", "invoicing_app"]

index_app = typer.Typer(help="Index values for yearly price revisions.", no_args_is_help=True)
invoicing_app = typer.Typer(help="Invoices: runs, dunning, documents.", no_args_is_help=True)
CLI = Actor.system("cli")


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _day(text: str | None) -> dt.date:
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
) -> None:
    """Record the published value of an index for a month (000 §13.3, 004 §8.1)."""
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
            row = lines.set_index(session, CLI, name.lower(), first, amount)
            typer.echo(f"{row.name} {row.period:%Y-%m} = {row.value}")
    except NuagesError as exc:
        _fail(exc.detail, 1)


@index_app.command("list")
def index_list(name: str | None = typer.Argument(None)) -> None:
    """Index values entered."""
    with _database().unit() as session:
        stmt = select(IndexValue).order_by(IndexValue.name, IndexValue.period)
        if name:
            stmt = stmt.where(IndexValue.name == name.lower())
        for row in session.execute(stmt).scalars():
            typer.echo(f"{row.name} {row.period:%Y-%m} {row.value}")


@invoicing_app.command("legal-rate")
def legal_rate(
    valid_from: str = typer.Argument(..., help="YYYY-MM-DD"),
    valid_to: str = typer.Argument(..., help="YYYY-MM-DD (exclusive)"),
    rate_pct: str = typer.Argument(..., help="yearly %, e.g. 6.65"),
    series: str = typer.Option("FR", "--series", help="whose legal rate: FR or BE (000 §13.1)"),
) -> None:
    """Record a country's legal interest rate over its validity period (SPEC §17)."""
    try:
        rate = Decimal(rate_pct)
    except InvalidOperation:
        _fail(f"{rate_pct!r} is not a number")
    try:
        with _database().unit() as session:
            lines.set_legal_rate(session, CLI, _day(valid_from), _day(valid_to), rate, series)
    except NuagesError as exc:
        _fail(exc.detail, 1)
    typer.echo(f"legal rate {series} {rate} % from {valid_from} to {valid_to}")


@invoicing_app.command("run")
def run(
    on: str | None = typer.Option(None, "--on", help="run date (default: today)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show, write nothing"),
) -> None:
    """Invoice every contract due (each in its own transaction); print the report."""
    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    try:
        report = runs.run(_database(), CLI, registry, _day(on), dry_run=dry_run)
    except NuagesError as exc:
        _fail(exc.detail, 1)
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))


@invoicing_app.command("dunning")
def dunning_run(on: str | None = typer.Option(None, "--on", help="default: today")) -> None:
    """Take every dunning step due (reminders, fees, formal notices, suspensions)."""
    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    try:
        with _database().unit() as session:
            report = dunning.run(session, CLI, registry, _day(on))
    except NuagesError as exc:
        _fail(exc.detail, 1)
    for notice in report.notices:
        typer.echo(f"{notice.sent_on} {notice.step} {notice.text}")
    for problem in report.problems:
        typer.echo(f"problem: {problem}", err=True)


@invoicing_app.command("pdf")
def export_pdf(
    number: str = typer.Argument(..., help="document number, e.g. F-2026-000001"),
    out: str = typer.Argument(..., help="file to write"),
) -> None:
    """Write a document's Factur-X PDF."""
    database = _database()
    with database.unit() as session:
        invoice_id = session.execute(
            select(Invoice.id).where(Invoice.number == number)
        ).scalar_one_or_none()
    if invoice_id is None:
        _fail(f"no document {number}", 1)
    Path(out).write_bytes(pdf.render_stored(database, invoice_id))
    typer.echo(f"{number} → {out}")
