"""Database base: declarative base, aware UTC timestamps, engine and unit of work.

Services never commit; the edge that opened the unit of work (a request, a job, a CLI
command) does, and work queued with ``after_commit`` runs only once the commit succeeded
(jobs are enqueued after the transaction that asks for them commits).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, MetaData, QueuePool, String, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from nuages.kernel.clock import UTC, utc_now

if TYPE_CHECKING:
    from nuages.kernel.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back aware.

    SQLite has no time zones, so values are normalised to UTC on the way in and marked
    UTC on the way out; naive values are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def new_id() -> str:
    """A new random object id (UUID4 as text): never guessable, same on every database."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Base of every model."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class IdMixin:
    """A text UUID primary key."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    """Creation and update times, aware UTC."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, onupdate=utc_now
    )


READONLY = "nuages_readonly"
"""Execution option marking a read-only unit of work (see ``Database.unit``)."""


def _sqlite_connect(busy_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # How long a writer waits for another one before "database is locked" (→ 503).
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


class _WriterGate:
    """One SQLite writer at a time in this process, queued on a lock.

    SQLite's busy handler polls with sleeps of up to 100 ms, so writers of one process
    contending on the database lock wait far longer than the write takes; queued here
    they start the moment the previous one ends. Other processes (a worker) still meet
    at SQLite's lock, bounded by busy_timeout. Released on commit or rollback, whichever
    thread ends the transaction.
    """

    def __init__(self, lock: threading.Lock, timeout: float) -> None:
        self.timeout = timeout
        self._lock = lock

    def enter(self, conn: Connection) -> None:
        if not self._lock.acquire(timeout=self.timeout):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        conn.connection.info["writer_gate"] = self

    def leave(self, conn: Connection) -> None:
        _release(conn.connection.info)

    def commit_then_leave(self, conn: Connection) -> None:
        # The "commit" event runs before the driver commits: commit here first, so the
        # next writer does not meet SQLite's lock (and its polling) while it finishes.
        # The driver's own commit then finds no transaction and does nothing.
        if "writer_gate" in conn.connection.info:
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and dbapi.in_transaction:
                conn.exec_driver_sql("COMMIT")
        _release(conn.connection.info)

    def leave_record(self, _dbapi_conn: Any, record: Any) -> None:
        # Safety net: a connection returned to the pool never keeps the gate.
        _release(record.info)


# One lock per database file, shared by every engine of the process on that file
# (`nuages up` runs the API and the worker, each with its own engine).
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(url: str) -> threading.Lock:
    path = make_url(url).database or ""
    key = os.path.realpath(path) if path else url
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def _release(info: dict[Any, Any]) -> None:
    gate = info.pop("writer_gate", None)
    if gate is not None:
        gate._lock.release()


def _sqlite_begin(gate: _WriterGate) -> Callable[[Connection], None]:
    def on_begin(conn: Connection) -> None:
        # Readers take no lock at all: in WAL mode a deferred BEGIN reads a snapshot
        # while writers go on, and query_only makes an accidental write fail loudly
        # instead of silently upgrading to a write lock. Writers take the lock up
        # front with BEGIN IMMEDIATE, so two writers queue on busy_timeout instead of
        # one failing with "database is locked" when its read lock cannot be upgraded.
        readonly = bool(conn.get_execution_options().get(READONLY))
        info = conn.connection.info
        if info.get("query_only") is not readonly:
            conn.exec_driver_sql(f"PRAGMA query_only={int(readonly)}")
            info["query_only"] = readonly
        if readonly:
            conn.exec_driver_sql("BEGIN")
            return
        gate.enter(conn)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(conn)
            raise

    return on_begin


def _postgres_begin(conn: Connection) -> None:
    # psycopg opens its transactions itself: with read_only set, its BEGIN is "BEGIN
    # READ ONLY" (no extra round trip). Every transaction sets the flag either way,
    # so a connection never carries a read unit's flag into a write.
    readonly = bool(conn.get_execution_options().get(READONLY))
    dbapi: Any = conn.connection.dbapi_connection
    want = True if readonly else None
    if getattr(dbapi, "read_only", want) is want:
        return
    try:
        dbapi.read_only = want
    except Exception:  # already inside a transaction: say it in SQL instead
        if readonly:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    lock_timeout: float = 30.0,
    **kwargs: Any,
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, deferred read-only and immediate
    write transactions; both databases bound how long a writer waits for a lock."""
    lock_ms = max(1, int(lock_timeout * 1000))
    sizing = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if kwargs.get("poolclass", QueuePool) is not QueuePool:
        sizing = {}  # e.g. migrations run on a NullPool
    if url.startswith("sqlite"):
        if url not in {"sqlite://", "sqlite:///:memory:"}:
            # A kept pool (not one connection per unit): opening a SQLite connection
            # runs the pragmas each time, and the pool bounds the connections.
            kwargs = {"poolclass": QueuePool, **kwargs, **sizing}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs
        )
        gate = _WriterGate(_file_lock(url), lock_timeout)
        event.listen(engine, "connect", _sqlite_connect(lock_ms))
        event.listen(engine, "begin", _sqlite_begin(gate))
        event.listen(engine, "commit", gate.commit_then_leave)
        event.listen(engine, "rollback", gate.leave)
        event.listen(engine.pool, "checkin", gate.leave_record)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        # A writer waiting longer than this for a row or table lock fails (→ 503)
        # instead of holding its connection while the pool runs dry.
        connect_args={"options": f"-c lock_timeout={lock_ms}"},
        **kwargs,
        **sizing,
    )
    event.listen(engine, "begin", _postgres_begin)
    return engine


def is_saturation(exc: BaseException) -> bool:
    """The database is too busy, not broken: no pooled connection came in time, a lock
    wait timed out, or the server refuses more connections. Worth a retry later."""
    if isinstance(exc, SATimeoutError):
        return True
    if not isinstance(exc, OperationalError | DBAPIError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    # 55P03 lock_not_available (lock_timeout), 53300 too_many_connections,
    # 57P03 cannot_connect_now.
    return getattr(orig, "sqlstate", None) in {"55P03", "53300", "57P03"}


class Database:
    """An engine and its session factory, with a unit-of-work context manager."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(**{READONLY: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The installation's database, with the pool and lock timeouts it configures."""
        return cls(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            lock_timeout=settings.db_lock_timeout,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def capacity(self) -> int:
        """How many connections the pool hands out at most at once."""
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            return pool.size() + pool._max_overflow
        return 1_000_000

    @contextlib.contextmanager
    def unit(self, readonly: bool = False) -> Iterator[Session]:
        """Open a session, commit at the end (or roll back on error), then run
        the callbacks registered with ``after_commit``.

        ``readonly=True`` opens a unit that takes no write lock (SQLite: deferred
        BEGIN with ``query_only``; PostgreSQL: ``READ ONLY`` transaction): any write in
        it fails instead of queueing behind other writers.
        """
        session = (self.read_sessions if readonly else self.sessions)()
        # What a read route must still record (a staff access, 001 §15.3) is written in
        # a short unit of its own beside the read one (``side_unit``).
        session.info["database"], session.info["readonly"] = self, readonly
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            session.info.pop("after_commit", None)
            raise
        else:
            for callback in session.info.pop("after_commit", []):
                callback()
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def side_unit(session: Session) -> Iterator[Session]:
    """A unit to write in beside ``session``: the session itself when it may write (the
    write commits with the caller's act), else a short write unit of its own (a read
    route recording who read what)."""
    database = session.info.get("database")
    if not session.info.get("readonly") or not isinstance(database, Database):
        yield session
        return
    with database.unit() as side:
        yield side


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed; never if it rolls back."""
    session.info.setdefault("after_commit", []).append(callback)
