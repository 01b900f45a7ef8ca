"""``nuages history``: checking the action history's chain."""

from __future__ import annotations

import typer

from nuages.history import service
from nuages.kernel.db import Database
from nuages.kernel.settings import get_settings

history_app = typer.Typer(help="The action history.", no_args_is_help=True)


@history_app.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 1 naming the first broken entry."""
    database = Database(get_settings().effective_database_url)
    with database.sessions() as session:
        checked, broken = service.verify(session)
    if broken is not None:
        typer.echo(
            f"BROKEN at entry #{broken.seq} (id {broken.id or '-'}): {broken.reason}; "
            f"{checked} entries before it are intact",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"history intact: {checked} entries verified")
