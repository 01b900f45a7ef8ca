"""``nuages metrics``: run the collector and the rollup by hand, read a VM's series
(docs/metrics.md). The services are imported inside the commands (fast ``--help``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from nuages import cli_output as out

metrics_app = typer.Typer(
    help="VM supervision series: collect, roll up, read (002 §3).", no_args_is_help=True
)


def _instant(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        out.fail(f"--{name}: {value!r} is not an ISO 8601 time", out.EXIT_USAGE)
    if moment.tzinfo is None:
        out.fail(f"--{name}: give a time zone (Z or +hh:mm)", out.EXIT_USAGE)
    return moment


@metrics_app.command("collect")
def collect(as_json: bool = out.JSON) -> None:
    """One collection pass now: every watched host's statistics in one bulk call per
    host, one row per VM for this minute (a second pass in the minute writes nothing).
    A host that does not answer is marked unreachable and listed; exit 3 then."""
    from nuages.compute.metrics.collect import collect as run
    from nuages.compute.runtime import ComputeRuntime
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    settings = get_settings()
    runtime = ComputeRuntime(settings, database=Database(settings.effective_database_url))
    try:
        with out.progress("collecting", ticker=True) as bar:
            bar.step("hosts")
            assert runtime.database is not None
            report = run(runtime.database, runtime)
    finally:
        runtime.close()
    data = {
        "at": report.at,
        "hosts": report.hosts,
        "unreachable": report.unreachable,
        "domains_read": report.read,
        "rows_written": report.written,
    }
    out.emit(
        data,
        as_json,
        f"{report.at:%Y-%m-%d %H:%M}Z: {report.hosts} host(s), {len(report.unreachable)} "
        f"unreachable; {report.read} domain(s) read, {report.written} row(s) written",
    )
    if report.unreachable:
        for host_id in report.unreachable:
            out.warn(f"host {host_id} did not answer; marked unreachable")
        raise typer.Exit(out.EXIT_PARTIAL)


@metrics_app.command("rollup")
def rollup(as_json: bool = out.JSON) -> None:
    """Roll the complete hours up, drop minutes older than 48 h and hours older than
    13 months (idempotent: run it as often as you like)."""
    from nuages.compute.metrics.series import rollup_and_prune
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    with database.unit() as session:
        report = rollup_and_prune(session)
    out.emit(
        {
            "hours": report.hours,
            "rows": report.rows,
            "minutes_pruned": report.minutes_pruned,
            "hours_pruned": report.hours_pruned,
        },
        as_json,
        f"{len(report.hours)} hour(s) rolled up ({report.rows} rows); pruned "
        f"{report.minutes_pruned} minute row(s), {report.hours_pruned} hour row(s)",
    )


@metrics_app.command("show")
def show(
    vm_id: Annotated[str, typer.Argument(help="the VM's id")],
    start: Annotated[str | None, typer.Option("--from", help="ISO 8601 with a zone")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601 with a zone")] = None,
    step: Annotated[str | None, typer.Option(help="1m (up to 48 h) or 1h (13 months)")] = None,
    as_json: bool = out.JSON,
) -> None:
    """A VM's series, as GET /api/v1/vms/{id}/metrics answers it (read as staff)."""
    from nuages.accounts.principal import Principal
    from nuages.compute.metrics.series import vm_series
    from nuages.kernel.db import Database
    from nuages.kernel.errors import NuagesError
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    try:
        with database.unit(readonly=True) as session:
            found: dict[str, Any] = vm_series(
                session,
                Principal.staff("cli"),
                vm_id,
                _instant(start, "from"),
                _instant(end, "to"),
                step,
            )
    except NuagesError as exc:
        out.fail(exc.detail)
    columns = ["at", "cpu_percent", "memory_used_bytes", "disk_read_bytes_per_s",
               "disk_write_bytes_per_s", "net_rx_bytes_per_s", "net_tx_bytes_per_s"]  # fmt: skip
    out.emit(found, as_json, lambda: typer.echo(out.table(found["points"], columns) or "no points"))
