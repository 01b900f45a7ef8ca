"""``nuages history``: checking the action history's chain."""

from __future__ import annotations

import typer

from nuages import cli_output as out

history_app = typer.Typer(help="The action history.", no_args_is_help=True)


@history_app.command("verify")
def verify(as_json: bool = out.JSON) -> None:
    """Recompute the hash chain; exit 1 naming the first broken entry."""
    from nuages.history import service
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    with out.progress("verifying the history", ticker=True) as bar:
        bar.step("hash chain")
        with database.sessions() as session:
            checked, broken = service.verify(session)
    if as_json:
        out.emit(
            {
                "intact": broken is None,
                "verified": checked,
                "broken": None
                if broken is None
                else {"seq": broken.seq, "id": broken.id, "reason": broken.reason},
            },
            True,
        )
    if broken is not None:
        typer.echo(
            f"BROKEN at entry #{broken.seq} (id {broken.id or '-'}): {broken.reason}; "
            f"{checked} entries before it are intact",
            err=True,
        )
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"history intact: {checked} entries verified")
