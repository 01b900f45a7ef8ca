"""``nuages sla``: monthly reports and outages seen by the operator (issue 22).

Every command takes ``--json``; exit codes: 0 done, 1 refused, 2 bad input.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer

import nuages.models  # noqa: F401 - every table, for the foreign keys of a fresh process
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings

sla_app = typer.Typer(
    help="Service levels: monthly reports, credits and outages.", no_args_is_help=True
)

CLI = Principal(
    user_id="cli",
    email="cli@localhost",
    role=Role.PROVIDER_ADMIN,
    client_id=None,
    scopes=frozenset(Scope),
)
JSON = typer.Option(False, "--json", help="print JSON")


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": message, "exit": code}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _registry() -> OfferRegistry:
    return OfferRegistry.from_directory(get_settings().offers_dir)


@sla_app.command("report")
def report(
    month: str = typer.Option(..., "--month", help="YYYY-MM, a month that is over"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the reports, issue nothing"),
    as_json: bool = JSON,
) -> None:
    """Issue a month's SLA reports (corrected versions where figures moved) and apply
    the credits due; with --dry-run, list the month's issued reports only.

    Example: nuages sla report --month 2026-11 --json
    """
    from nuages.sla import jobs, reports, views

    try:
        year, mon = reports.parse_month(month)
        reports.check_month(year, mon)
        if dry_run:
            with _database().unit(readonly=True) as session:
                items, _ = views.list_reports(
                    session, CLI, month=month, contract_id=None, page=1, per_page=10_000
                )
                rows: Any = [i.model_dump(mode="json") for i in items]
        else:
            rows = jobs.run(_database(), Actor.system("cli"), _registry(), year, mon)
    except NuagesError as exc:
        _fail(exc.detail, 2 if exc.status == 422 else 1, as_json)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif isinstance(rows, dict):
        typer.echo(", ".join(f"{k} {v}" for k, v in rows.items()))
    else:
        for row in rows:
            typer.echo(
                f"{row['month']} {row['contract_id']} v{row['version']} "
                f"{row['availability_pct']} % met={row['objective_met']} "
                f"credit {row['credit_amount']}"
            )


@sla_app.command("outages")
def outages_cmd(
    limit: int = typer.Option(50, min=1, max=1000),
    recorded: bool = typer.Option(
        False, "--recorded", help="Outages reconciliation recorded, with staff's cause."
    ),
    unclassified: bool = typer.Option(
        False,
        "--unclassified",
        help="With --recorded: only those awaiting staff's cause (counted not excusable).",
    ),
    as_json: bool = JSON,
) -> None:
    """The newest staff-declared outages, with their cause and the VMs they took down;
    ``--recorded``: those reconciliation recorded (VM found down, host unreachable),
    with the cause staff reclassified them to and why.

    Example: nuages sla outages --limit 20 --json
    """
    from nuages.sla import outages

    rows: list[dict[str, Any]]
    with _database().unit(readonly=True) as session:
        if recorded or unclassified:
            found, _ = outages.list_recorded(session, CLI, 1, limit, unclassified=unclassified)
            rows = [
                {
                    "id": r.id,
                    "scope": r.source,
                    "scope_ref": r.vm_id,
                    "start": r.start.isoformat(),
                    "end": r.end.isoformat() if r.end else None,
                    "cause": r.cause,
                    "description": f"recorded {r.recorded_cause}"
                    + (f"; reclassified: {r.reason}" if r.reason else ""),
                    "vm_ids": [r.vm_id],
                }
                for r in found
            ]
        else:
            items, _ = outages.list_incidents(session, CLI, 1, limit)
            rows = [
                {
                    "id": r.id,
                    "scope": r.scope,
                    "scope_ref": r.scope_ref,
                    "start": r.start.isoformat(),
                    "end": r.end.isoformat() if r.end else None,
                    "cause": r.cause,
                    "description": r.description,
                    "vm_ids": outages.vms_of(session, r.id),
                }
                for r in items
            ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        typer.echo(
            f"{row['id']} {row['scope']}:{row['scope_ref'] or '-'} {row['start']} → "
            f"{row['end'] or 'ongoing'} {row['cause']} ({len(row['vm_ids'])} VMs) "
            f"{row['description']}"
        )
