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


def run_all(settings: Settings, announce: Callable[[str], None]) -> None:
    """``nuages up``: API, worker and scheduler in one process on the embedded defaults."""
    database = prepare(settings)
    creds = first_admin(database, "admin@localhost")
    announce(f"nuages API:   http://{settings.api_host}:{settings.api_port}/api/v1")
    announce(f"API docs:     http://{settings.api_host}:{settings.api_port}/docs")
    announce(f"database:     {settings.effective_database_url}")
    if creds is not None:
        announce("first admin created; these credentials are shown once:")
        announce(f"  e-mail:     {creds[0]}")
        announce(f"  password:   {creds[1]}")
        announce("  sign in:    POST /api/v1/auth/token, or run `nuages admin create`")
    consumer = make_consumer(workers=2)
    # start() spawns the worker and scheduler threads and returns; it must run in the
    # main thread because it installs signal handlers (uvicorn installs its own after).
    consumer.start()
    try:
        serve_api(settings, database)
    finally:
        consumer.stop(graceful=True)
