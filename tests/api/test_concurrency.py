"""17.1: the API under concurrency, through a real server on loopback, on both databases.

Reads take no write lock; ``last_used_at`` is written at most once a minute per token,
outside the request's transaction; a saturated server answers 503 with Retry-After,
never 500, and commits nothing it told the client failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from nuages.accounts.models import ApiToken, Client
from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import World

from .live import serving


def _app_over(database: Database, offers: OfferRegistry, tmp_path: Path, **knobs: Any) -> Any:
    """The real app with its own Database built from settings (pool and timeouts)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database.url, **knobs)
    own = Database.from_settings(settings)
    return create_app(settings, own, offers), own


def _last_used(database: Database, token_id: str) -> dt.datetime | None:
    with database.unit() as session:
        return session.get(ApiToken, token_id).last_used_at  # type: ignore[union-attr]


def _token_id(database: Database, user_id: str) -> str:
    with database.unit() as session:
        return session.execute(select(ApiToken.id).where(ApiToken.user_id == user_id)).scalar_one()


def test_regression_concurrent_reads_and_writes_never_500(
    database: Database, offers: OfferRegistry, tmp_path: Path
) -> None:
    """80 concurrent clients (reads with one guest token, writes by the owner) through
    a real server whose pool has only 4 connections: every answer is 200, none 500 (the
    issue: ~45 concurrent GET /me stalled the API and most answered 500), and every
    write answered 200 was committed.

    (The queue timeout is generous because the clients share this process, and its
    GIL, with the server; bench/api_load.py measures 200 clients against a server in
    its own process.)"""
    world = World(database)
    client_id = world.client()
    guest = world.user(Role.GUEST, client_id)
    owner = world.user(Role.CLIENT_OWNER, client_id)
    app, own = _app_over(
        database, offers, tmp_path, db_pool_size=2, db_max_overflow=2, api_queue_timeout=120
    )
    start = threading.Barrier(80)

    def worker(i: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=base, timeout=120) as http:
            start.wait()
            for j in range(4):
                if (i + j) % 5 == 0:
                    body = {"legal_name": f"Client {i}-{j}"}
                    r = http.patch(f"/api/v1/clients/{client_id}", json=body, headers=owner.headers)
                else:
                    r = http.get("/api/v1/me", headers=guest.headers)
                codes.append(r.status_code)
        return codes

    try:
        with serving(app) as base, ThreadPoolExecutor(80) as pool:
            codes = [code for codes in pool.map(worker, range(80)) for code in codes]
    finally:
        own.dispose()
    assert codes.count(200) == len(codes) == 320, sorted(set(codes))
    with database.unit() as session:
        writes = session.execute(
            select(func.count())
            .select_from(HistoryEntry)
            .where(HistoryEntry.object_id == client_id)
        ).scalar_one()
    assert writes == 64


@contextlib.contextmanager
def _write_lock_held(database: Database, client_id: str) -> Iterator[None]:
    """Another connection holds the write lock (SQLite) or the client's row (PostgreSQL)."""
    if database.dialect == "sqlite":
        path = make_url(database.url).database
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        engine = create_engine(database.url)
        with engine.connect() as conn:
            conn.execute(
                text("SELECT id FROM clients WHERE id = :id FOR UPDATE"), {"id": client_id}
            )
            try:
                yield
            finally:
                conn.rollback()
        engine.dispose()


def test_regression_reads_take_no_write_lock_and_locked_writes_get_503(
    database: Database, offers: OfferRegistry, tmp_path: Path
) -> None:
    """While another process holds the write lock, reads answer 200 at once (they used
    to BEGIN IMMEDIATE and fail); a write waits db_lock_timeout, then gets 503 with
    Retry-After, and nothing of it is committed (no change, no history entry)."""
    world = World(database)
    client_id = world.client("Before")
    guest = world.user(Role.GUEST, client_id)
    owner = world.user(Role.CLIENT_OWNER, client_id)
    app, own = _app_over(database, offers, tmp_path, db_lock_timeout=0.3, api_retry_after=7)
    with database.unit() as session:
        entries = session.execute(select(func.count()).select_from(HistoryEntry)).scalar_one()
    try:
        with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            with _write_lock_held(database, client_id):
                for _ in range(3):
                    r = http.get(f"/api/v1/clients/{client_id}", headers=guest.headers)
                    assert r.status_code == 200, r.text
                r = http.patch(
                    f"/api/v1/clients/{client_id}",
                    json={"legal_name": "After"},
                    headers=owner.headers,
                )
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"] == "7"
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["type"].endswith("/unavailable")
    finally:
        own.dispose()
    with database.unit() as session:
        assert session.get(Client, client_id).legal_name == "Before"  # type: ignore[union-attr]
        after = session.execute(select(func.count()).select_from(HistoryEntry)).scalar_one()
    assert after == entries


def test_regression_saturated_pool_answers_503_with_retry_after(
    database: Database, offers: OfferRegistry, tmp_path: Path
) -> None:
    """Pool exhausted (its one connection held elsewhere): the admitted request waits
    db_pool_timeout and gets 503 + Retry-After; a request that cannot even be admitted
    (api_max_in_flight=1) waits api_queue_timeout and gets 503 + Retry-After too."""
    world = World(database)
    guest = world.user(Role.GUEST, world.client())
    app, own = _app_over(
        database,
        offers,
        tmp_path,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=1.5,
        api_max_in_flight=1,
        api_queue_timeout=0.3,
        api_retry_after=3,
    )
    answers: dict[str, httpx.Response] = {}
    try:
        with serving(app) as base:
            held = own.engine.connect()
            try:

                def get(name: str) -> None:
                    answers[name] = httpx.get(
                        f"{base}/api/v1/me", headers=guest.headers, timeout=30
                    )

                first = threading.Thread(target=get, args=("pool",))
                first.start()
                threading.Event().wait(0.3)
                get("queue")
                first.join()
            finally:
                held.close()
            assert httpx.get(f"{base}/api/v1/me", headers=guest.headers).status_code == 200
    finally:
        own.dispose()
    for name in ("pool", "queue"):
        r = answers[name]
        assert r.status_code == 503, (name, r.text)
        assert r.headers["retry-after"] == "3", name
        assert r.json()["status"] == 503


def test_regression_last_used_at_written_at_most_once_a_minute(
    client: TestClient, database: Database, offers: OfferRegistry, tmp_path: Path
) -> None:
    """last_used_at moves on the first use, not again within the minute, then again
    after it; a second process (another app: its own memory) within the minute does
    not write either (the update is a compare-and-swap in the database)."""
    world = World(database)
    guest = world.user(Role.GUEST, world.client())
    token_id = _token_id(database, guest.user_id)
    t0 = utc_now().replace(microsecond=0)
    set_now(t0)
    assert client.get("/api/v1/me", headers=guest.headers).status_code == 200
    assert _last_used(database, token_id) == t0
    set_now(t0 + dt.timedelta(seconds=59))
    assert client.get("/api/v1/me", headers=guest.headers).status_code == 200
    assert _last_used(database, token_id) == t0
    other, own = _app_over(database, offers, tmp_path)
    try:
        with TestClient(other) as second:
            assert second.get("/api/v1/me", headers=guest.headers).status_code == 200
    finally:
        own.dispose()
    assert _last_used(database, token_id) == t0
    set_now(t0 + dt.timedelta(seconds=61))
    assert client.get("/api/v1/me", headers=guest.headers).status_code == 200
    assert _last_used(database, token_id) == t0 + dt.timedelta(seconds=61)


def test_regression_read_units_refuse_writes(database: Database) -> None:
    """A read-only unit takes no write lock, so a write in it fails rather than
    queueing (SQLite query_only, PostgreSQL READ ONLY)."""
    World(database).client("X")
    with pytest.raises(Exception, match=r"(?i)read.?only|readonly"):
        with database.unit(readonly=True) as session:
            session.execute(text("UPDATE clients SET legal_name = 'Y'"))
    with database.unit() as session:
        assert session.execute(select(Client.legal_name)).scalar_one() == "X"


def test_writers_of_one_process_queue_and_release_on_every_ending(database: Database) -> None:
    """SQLite writers of one process queue on a lock released by commit and rollback
    alike (a failed unit must not keep others waiting); PostgreSQL has none to keep.
    Two engines on one file (API and worker in `nuages up`) share it."""
    db = Database(database.url, lock_timeout=3)
    other = Database(database.url, lock_timeout=3)
    try:
        with pytest.raises(ValueError), db.unit() as session:
            session.add(
                Client(kind="consumer", legal_name="A", country="FR", billing_email="a@x.fr")
            )
            session.flush()
            raise ValueError("abandon")
        for target in (db, other, db):
            with target.unit() as session:
                session.add(
                    Client(kind="consumer", legal_name="B", country="FR", billing_email="b@x.fr")
                )
        results: list[str] = []

        def write(target: Database, name: str) -> None:
            with target.unit() as session:
                session.add(
                    Client(kind="consumer", legal_name=name, country="FR", billing_email="c@x.fr")
                )
                session.flush()
                threading.Event().wait(0.1)
            results.append(name)

        threads = [
            threading.Thread(target=write, args=(db if i % 2 else other, f"T{i}")) for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["T0", "T1", "T2", "T3"]
    finally:
        db.dispose()
        other.dispose()
    with database.unit(readonly=True) as session:
        names = sorted(session.execute(select(Client.legal_name)).scalars())
    assert names == ["B", "B", "B", "T0", "T1", "T2", "T3"]
