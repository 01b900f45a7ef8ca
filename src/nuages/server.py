"""Starting nuages: the all-in-one ``up``, the API alone, the worker alone."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from huey.consumer import Consumer

from nuages.accounts import service as accounts
from nuages.kernel import migrate
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

log = logging.getLogger("nuages")


def prepare(settings: Settings) -> Database:
    """Create the data directory and bring the database schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    return Database.from_settings(settings)


def first_admin(database: Database, email: str) -> tuple[str, str] | None:
    """Create the first admin on first start; return (email, password) that one time."""
    with database.unit() as session:
        created = accounts.ensure_first_admin(session, email)
    if created is None:
        return None
    user, password = created
    return user.email, password


def _qemu_reach(settings: Settings, database: Database) -> list[str]:
    """Whether QEMU's user reaches the data directory (issue #18); never stops ``up``."""
    from nuages.compute.runtime import ComputeRuntime
    from nuages.compute.services.hosts import reach_warnings

    runtime = ComputeRuntime(settings, database=database)
    try:
        with database.unit() as session:
            return reach_warnings(session, runtime)
    finally:
        runtime.close()


def make_consumer(workers: int, periodic: bool = True) -> Consumer:
    """A huey consumer over the configured queue, with the tasks registered."""
    from nuages.jobs import tasks

    return tasks.huey.create_consumer(
        workers=workers, periodic=periodic, worker_type="thread", check_worker_health=True
    )


def serve_api(settings: Settings, database: Database) -> None:
    """Run the API with uvicorn until interrupted."""
    from nuages.app import create_app

    app = create_app(settings, database)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")


def seller_notice(settings: Settings) -> list[str]:
    """What ``up`` says about seller identities: the offers still on the example
    identity (their real invoices are refused, dry runs work) and how to set theirs.
    Invalid seller files stop the start, every problem listed."""
    from nuages.sellers import identity
    from nuages.sellers.cli import coverage

    folder = identity.directory_of(settings)
    book = identity.load_sellers(folder)  # SellerFileError: stop, with every problem
    missing = [offer for offer, text in coverage(book, settings.offers_dir) if "EXAMPLE" in text]
    if not missing:
        return [f"sellers:      {len(book.sellers)} identity file(s) in {folder}"]
    return [
        f"invoices:     REFUSED for {', '.join(missing)}: the example seller identity "
        "(Exemple Cloud SAS) is in use; dry runs work",
        f"              to issue them, {identity.how_to(folder)}",
    ]


def mailer_notice(settings: Settings) -> str:
    """What ``up`` says about e-mail: SMTP when NUAGES_SMTP_URL is set, else the file drop."""
    from nuages.notices.mailer import mailer_for

    return mailer_for(settings).describe()


def run_all(settings: Settings, announce: Callable[[str], None]) -> None:
    """``nuages up``: API, worker and scheduler in one process on the embedded defaults."""
    mail = mailer_notice(settings)  # a bad NUAGES_SMTP_URL stops the start here
    database = prepare(settings)
    creds = first_admin(database, "admin@localhost")
    announce(f"nuages API:   http://{settings.api_host}:{settings.api_port}/api/v1")
    announce(f"API docs:     http://{settings.api_host}:{settings.api_port}/docs")
    announce(f"database:     {settings.effective_database_url}")
    announce(f"notices:      {mail}")
    for line in seller_notice(settings):
        announce(line)
    for warning in _qemu_reach(settings, database):
        announce(f"WARNING:      {warning}")
    if creds is not None:
        announce("first admin created; these credentials are shown once:")
        announce(f"  e-mail:     {creds[0]}")
        announce(f"  password:   {creds[1]}")
        announce("  sign in:    POST /api/v1/auth/token, or run `nuages admin create`")
        announce(f"  real e-mail: nuages admin set-email {creds[0]} you@example.com")
    consumer = make_consumer(workers=2)
    # start() spawns the worker and scheduler threads and returns; it must run in the
    # main thread because it installs signal handlers (uvicorn installs its own after).
    consumer.start()
    try:
        serve_api(settings, database)
    finally:
        consumer.stop(graceful=True)
