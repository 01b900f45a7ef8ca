"""``nuages payments``: bank statements reconciled against top-ups and invoices,
acting as provider staff. Services are imported inside the command (fast ``--help``).

An edge (like ``cli.py``): the payments slice sits below billing and invoicing (they
call its mandates and pain.008 builder), so the command that hands the statement import
its reconciler (``invoicing.reconcile``) lives here, not in the slice."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nuages import cli_output as out

payments_app = typer.Typer(
    help="Payments: bank statements for invoices and top-ups.", no_args_is_help=True
)


@payments_app.command("import-statement")
def import_statement(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: bool = out.JSON,
) -> None:
    """Reconcile a CAMT.053 or CAMT.054 file: transfers paying invoices (by number or
    RF reference, else by amount and debtor) or crediting prepaid accounts, collections
    settled, returned debits (reason code) reopening invoices or reversing top-ups;
    every line reported, unmatched ones with a suggestion for staff."""
    from nuages.billing import cli as billing_cli
    from nuages.invoicing import reconcile
    from nuages.payments import statements

    database = billing_cli._database()
    data = path.read_bytes()
    with out.progress(
        "statement",
        "line(s)",
        interrupted="each line is its own transaction: importing the statement again "
        "books nothing twice",
    ) as bar:
        report = billing_cli._run(
            lambda: statements.import_statement(
                database.unit,
                billing_cli._registry(),
                data,
                billing_cli._staff().actor,
                reconcile.reconcile,
                bar,
            )
        )

    def human() -> None:
        if report.already_imported:
            typer.echo(f"{report.kind} {report.message_id}: already imported, nothing booked")
        for line in report.lines:
            target = f" → {line.target}" if line.target else ""
            hint = f" (suggestion: {line.suggestion})" if line.suggestion else ""
            typer.echo(
                f"{line.line:4} {line.outcome:10} {line.amount:>10} {line.currency} "
                f"{line.bank_reference or '?'}{target}: {line.detail}{hint}"
            )
        counts = report.counts()
        typer.echo(", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no line")

    out.emit(report.as_dict(), as_json, human)
