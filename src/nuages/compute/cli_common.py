"""What the compute commands (``nuages host``, ``image``, ``compute``, ``backup``) share:
the principal they act as, the runtime they open, how they fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from nuages.kernel.errors import NuagesError

if TYPE_CHECKING:
    from nuages.accounts.principal import Principal
    from nuages.compute.runtime import ComputeRuntime
    from nuages.kernel.db import Database


def _cli() -> Principal:
    from nuages.accounts.principal import Principal

    # The command line acts as provider staff; the history names it "cli".
    return Principal.staff("cli")


def _runtime() -> ComputeRuntime:
    from nuages.compute.runtime import ComputeRuntime
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ComputeRuntime(settings, database=Database(settings.effective_database_url))


def _fail(exc: NuagesError) -> NoReturn:
    typer.echo(f"error: {exc.detail}", err=True)
    raise typer.Exit(1)


def _db(runtime: ComputeRuntime) -> Database:
    assert runtime.database is not None
    return runtime.database
