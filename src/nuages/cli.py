"""The ``nuages`` command: a thin edge over the services.

Each slice exposes its own Typer app; this module assembles them and holds the
commands that start processes. The slices are attached lazily (``LAZY``): ``nuages
--help`` and ``nuages billing meter`` import only what they run, never Typst,
libvirt or the other slices (issue #19: start in well under a second).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from nuages import cli_output as out
from nuages.cli_completion import completion
from nuages.cli_doctor import doctor
from nuages.cli_lazy import LAZY, NuagesGroup

if TYPE_CHECKING:
    from nuages.kernel.settings import Settings

__all__ = ["LAZY", "app", "main"]

app = typer.Typer(
    name="nuages",
    cls=NuagesGroup,
    help="Run, operate and bill a virtual-machine hosting offer.",
    epilog=out.EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def get_settings() -> Settings:
    # Imported on use: pydantic-settings is not needed for `nuages --help`.
    from nuages.kernel import settings

    return settings.get_settings()


HOST = typer.Option(None, "--host", help="address the API listens on [NUAGES_API_HOST]")
PORT = typer.Option(
    None, "--port", min=1, max=65535, help="port the API listens on [NUAGES_API_PORT]"
)


def _listen_settings(host: str | None, port: int | None) -> Settings:
    """The settings, with --host/--port (when given) over NUAGES_API_HOST/PORT."""
    settings = get_settings()
    update: dict[str, object] = {}
    if host is not None:
        update["api_host"] = host
    if port is not None:
        update["api_port"] = port
    return settings.model_copy(update=update) if update else settings


@app.command()
def up(
    host: str | None = HOST,
    port: int | None = PORT,
    demo: bool = typer.Option(
        False, "--demo", help="make one demo client per offer with an owner login (printed)"
    ),
) -> None:
    """Run everything in one process: API, portal, worker and scheduler (SQLite + local
    libvirt, registered as a host with the tiny image when none exist)."""
    from nuages import server
    from nuages.notices.mailer import MailerConfigError
    from nuages.sellers.identity import SellerFileError

    _logging()
    try:
        server.run_all(_listen_settings(host, port), typer.echo, demo=demo)
    except MailerConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except SellerFileError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo("error: fix the seller files above (`nuages sellers check`)", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(host: str | None = HOST, port: int | None = PORT) -> None:
    """Run the API only (with `nuages worker` beside it, e.g. on PostgreSQL + Redis)."""
    from nuages import server

    _logging()
    settings = _listen_settings(host, port)
    database = server.prepare(settings)
    typer.echo(f"nuages API: http://{settings.api_host}:{settings.api_port}/api/v1")
    server.serve_api(settings, database)


@app.command()
def worker(
    workers: int = typer.Option(2, min=1, max=64, help="worker threads"),
    periodic: bool = typer.Option(True, help="also run the periodic scheduler"),
) -> None:
    """Run the job worker (and the periodic scheduler) apart from the API."""
    from nuages import server

    _logging()
    server.prepare(get_settings())
    server.make_consumer(workers, periodic).run()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads"), as_json: bool = out.JSON) -> None:
    """Apply the migrations up to REVISION (default: the newest).

    Example: nuages db upgrade
    """
    from nuages.kernel import migrate

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url, revision)
    out.emit({"revision": revision}, as_json, f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(...), as_json: bool = out.JSON) -> None:
    """Revert the migrations down to REVISION ('base' removes every table).

    Example: nuages db downgrade base
    """
    from nuages.kernel import migrate

    migrate.downgrade(get_settings().effective_database_url, revision)
    out.emit({"revision": revision}, as_json, f"database at {revision}")


app.command("doctor")(doctor)
app.command("completion")(completion)


def main() -> None:
    """Entry point of the ``nuages`` script."""
    out.run_main(app)
