"""Fixtures shared by every test: real databases (SQLite file and PostgreSQL), the app.

Every database test runs twice, once per backend. The schema comes from the real
migrations: a migrated SQLite template is copied per test; the PostgreSQL database is
migrated once per run and its tables truncated between tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.kernel import migrate
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.models import Base
from tests.factories import World

PG_ENV = "NUAGES_TEST_POSTGRES_URL"
SELLERS_DIR = Path(__file__).resolve().parent / "data" / "sellers"


def pytest_configure(config: pytest.Config) -> None:
    # Nothing in a test run may touch a real installation's data.
    os.environ.setdefault("NUAGES_DATA_DIR", str(Path("/tmp") / f"nuages-test-{os.getpid()}"))
    # Every provider of the shipped offers has a (fictional) seller identity in tests:
    # real invoices are refused with the example one (sellers.identity.require_real).
    os.environ.setdefault("NUAGES_SELLERS_DIR", str(SELLERS_DIR))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@contextlib.contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database for this run; yield its URL; drop it after.

    Skips outside scripts/test.sh, but fails under CI, where PostgreSQL must be there.
    """
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: run the suite through scripts/test.sh")
        pytest.skip(f"{PG_ENV} not set (scripts/test.sh starts PostgreSQL and sets it)")
    with postgres_database_on(base, prefix) as url:
        yield url


@contextlib.contextmanager
def postgres_database_on(server: str, prefix: str) -> Iterator[str]:
    """Create an empty database on the PostgreSQL ``server`` (a URL); yield its URL;
    drop it after (the benchmarks use it with a server of their choice)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_postgres_database(admin, name)
        admin.dispose()


def drop_postgres_database(admin: Engine, name: str) -> None:
    """Drop ``name``, ending the connections left on it.

    Not ``WITH (FORCE)``: on PostgreSQL 15 it refuses ("must be a member of the role
    whose process is being terminated") when an autovacuum worker happens to be in the
    fresh database, which a plain ``DROP DATABASE`` stops by itself. So our own role's
    sessions are ended first, then the plain drop, retried while one lingers."""
    for attempt in range(20):
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND usename = current_user "
                    "AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                return
            except OperationalError:  # "is being accessed by other users": retry
                if attempt == 19:
                    raise
        time.sleep(0.25)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to head, dropped at the end."""
    with fresh_postgres_database("nuages_t") as url:
        migrate.upgrade(url)
        yield url


def _truncate(database: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


# A real-guest test whose subject is the guest (boot, snapshot, backup, network, console)
# and not the database runs once, on SQLite: each takes 10-65 s, and the database paths
# they go through are the same services every other test runs on both backends. Tests
# where a real guest meets the database's own behaviour (a worker killed mid-create,
# libvirtd restarts, a killed guest's outage) keep both.
GUEST_ONCE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "nuages.db"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        _truncate(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    """Settings for an app over the test database, data under tmp_path."""
    return Settings(data_dir=tmp_path / "data", database_url=database.url)


@pytest.fixture(autouse=True)
def _unfreeze_clock() -> Iterator[None]:
    yield
    set_now(None)


@pytest.fixture(scope="session")
def offers() -> OfferRegistry:
    """The shipped offers, loaded once per run."""
    return OfferRegistry.from_directory(Path(__file__).resolve().parents[1] / "offers")


@pytest.fixture
def client(settings: Settings, database: Database, offers: OfferRegistry) -> Iterator[TestClient]:
    """An HTTP client over the real app and the test database."""
    app = create_app(settings, database, offers)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


@pytest.fixture
def world(database: Database) -> World:
    """Factories over the test database."""
    return World(database)


@pytest.fixture(autouse=True)
def delivered_jobs() -> Iterator[list[tuple[str, tuple[object, ...]]]]:
    """The holds' jobs (``compute_enforce_holds``, ``billing_credit_wrongful_hold``)
    asked for during the test, kept here
    instead of on the real queue (a test that wants them run installs a handler with
    ``kernel.jobs.handled``, e.g. ``tests.compute.world.holds_inline``); other jobs go to
    the queue as usual."""
    import importlib

    from nuages.kernel import jobs

    seen: list[tuple[str, tuple[object, ...]]] = []
    previous = dict(jobs._handlers)

    def fallback(name: str, *args: object) -> None:
        if name in (
            "compute_enforce_holds",
            "billing_credit_wrongful_hold",
            "contracts_exit_advance",  # reversibility: tests run the daily job themselves
        ):
            seen.append((name, args))
        else:
            getattr(importlib.import_module(jobs.TASKS_MODULE), name)(*args)

    jobs.set_fallback(fallback)
    try:
        yield seen
    finally:
        jobs.set_fallback(None)
        jobs._handlers.clear()
        jobs._handlers.update(previous)
