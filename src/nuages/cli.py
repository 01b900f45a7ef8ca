"""The ``nuages`` command: a thin edge over the services.

Each slice exposes its own Typer app; this module assembles them and holds the
commands that start processes.
"""

from __future__ import annotations

import logging

import typer

from nuages.kernel.settings import Settings, get_settings

app = typer.Typer(
    name="nuages",
    help="Run, operate and bill a virtual-machine hosting offer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


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
def up(host: str | None = HOST, port: int | None = PORT) -> None:
    """Run everything in one process: API, worker and scheduler (SQLite + local libvirt)."""
    from nuages import server
    from nuages.notices.mailer import MailerConfigError
    from nuages.sellers.identity import SellerFileError

    _logging()
    try:
        server.run_all(_listen_settings(host, port), typer.echo)
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
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from nuages.kernel import migrate

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(...)) -> None:
    """Revert the migrations down to REVISION ('base' removes every table)."""
    from nuages.kernel import migrate

    migrate.downgrade(get_settings().effective_database_url, revision)
    typer.echo(f"database at {revision}")


def _register() -> None:
    """Attach every slice's sub-commands."""
    from nuages.accounts.cli import admin_app, client_app
    from nuages.billing.cli import billing_app
    from nuages.compute.cli import compute_app, host_app, image_app
    from nuages.contracts.cli import contract_app
    from nuages.history.cli import history_app
    from nuages.invoicing.cli import index_app, invoicing_app
    from nuages.notices.cli import notices_app
    from nuages.sellers.cli import sellers_app
    from nuages.terms.cli import offers_app, terms_app

    app.add_typer(admin_app, name="admin")
    app.add_typer(client_app, name="client")
    app.add_typer(billing_app, name="billing")
    app.add_typer(compute_app, name="compute")
    app.add_typer(contract_app, name="contract")
    app.add_typer(host_app, name="host")
    app.add_typer(image_app, name="image")
    app.add_typer(history_app, name="history")
    app.add_typer(index_app, name="index")
    app.add_typer(invoicing_app, name="invoicing")
    app.add_typer(notices_app, name="notices")
    app.add_typer(offers_app, name="offers")
    app.add_typer(sellers_app, name="sellers")
    app.add_typer(terms_app, name="terms")


_register()


def main() -> None:
    """Entry point of the ``nuages`` script."""
    app()
