"""``nuages invoicing receipt record``: staff record that an invoice whose e-mail bounced
was received another way (001 §4.1, §4.4; SPEC §17). A thin edge over
``receipts.record_other``; bad input exits 2, a refused action (already received) 1.
"""

from __future__ import annotations

import datetime as dt

import typer

from nuages import cli_output as out

__all__ = ["receipt_app"]

receipt_app = typer.Typer(
    help="Invoice receipts: record one received another way.", no_args_is_help=True
)


@receipt_app.command("record")
def record(
    number: str = typer.Argument(..., help="invoice number, e.g. F-2026-000001"),
    received_at: str = typer.Option(
        ..., "--received-at", help="ISO 8601 with time zone, e.g. 2026-01-25T10:00:00Z"
    ),
    means: str = typer.Option(
        ..., "--means", help="registered-letter, hand-delivered or email-resent"
    ),
    evidence: str = typer.Option(..., "--evidence", help="e.g. the registered letter's number"),
    as_json: bool = out.JSON,
) -> None:
    """Record the invoice's receipt: its due date and dispute window run from it."""
    from sqlalchemy import select

    from nuages.invoicing import receipts
    from nuages.invoicing.cli import _cli, _database, _registry
    from nuages.invoicing.models import Invoice
    from nuages.kernel.errors import NuagesError, ValidationFailed

    try:
        at = dt.datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError:
        out.fail(f"--received-at: not an ISO 8601 date-time: {received_at!r}", 2)
    if not evidence.strip():
        out.fail("--evidence: must not be empty", 2)
    registry = _registry()
    try:
        with _database().unit() as session:
            invoice = session.execute(
                select(Invoice).where(Invoice.number == number)
            ).scalar_one_or_none()
            if invoice is None:
                out.fail(f"no document {number} (list them with the API's /invoices)", 1)
            receipts.record_other(session, _cli(), registry, invoice, at, means, evidence)
            data = {"number": number, **receipts.status(session, invoice)}
    except ValidationFailed as exc:
        out.fail(exc.detail, 2)
    except NuagesError as exc:
        out.fail(exc.detail, 1)
    data = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in data.items()}
    out.emit(
        data, as_json, f"{number} received {data['received_at']}, due {data['effective_due_date']}"
    )
