"""The history chain's head, locked once per transaction (``history.service._lock_head``):
entries appended around savepoints and an ``expunge_all`` still chain one after the
other, and what a rolled-back savepoint appended leaves no trace in the chain."""

from __future__ import annotations

import itertools
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.history import service
from nuages.history.models import HistoryEntry, HistoryHead
from nuages.kernel.db import Database

WHO = service.Actor.system("test")


def _record(session: Session, n: str) -> None:
    service.record(session, WHO, object_type="test", object_id=n, action="test.step")


def test_entries_of_one_transaction_chain_across_savepoints(database: Database) -> None:
    """Two entries, a savepoint rolled back with its entry, a savepoint kept, an
    ``expunge_all`` (what ``verify`` does), more entries: the chain verifies, the head
    names the last entry and the rolled-back entry is gone."""
    with database.unit() as session:
        _record(session, "1")
        _record(session, "2")  # the head from the first entry, not read again
        savepoint = session.begin_nested()
        _record(session, "rolled-back")
        savepoint.rollback()
        _record(session, "3")
        with session.begin_nested():
            _record(session, "4")
        _record(session, "5")
        session.expunge_all()
        _record(session, "6")
    with database.unit() as session:
        _record(session, "7")  # a new transaction locks and reads the head again
    with database.unit() as session:
        checked, broken = service.verify(session)
        assert broken is None
        rows = session.execute(select(HistoryEntry).order_by(HistoryEntry.seq)).scalars().all()
        steps = [r.object_id for r in rows if r.object_type == "test"]
        assert steps == ["1", "2", "3", "4", "5", "6", "7"]
        assert checked == len(rows)
        head = session.get(HistoryHead, 1)
        assert head is not None
        assert (head.last_seq, head.last_hash) == (rows[-1].seq, rows[-1].hash)
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.hash


def test_two_first_entries_at_once_both_chain(database: Database) -> None:
    """Regression: the head row is written with a database's first entry, and FOR
    UPDATE locks no row that is not there. Two first acts at once both inserted it and
    the second failed on the head's key (a 500 in tests/api/test_concurrency.py on
    PostgreSQL). Now the second waits for the first, then appends after it."""
    with database.unit() as session:
        assert session.get(HistoryHead, 1) is None  # a fresh database: no head yet
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with database.unit() as session:
                _record(session, "second")
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=second)
    with database.unit() as session:
        _record(session, "first")  # the head inserted, not committed yet
        thread.start()
        time.sleep(0.3)  # the second act reaches the head and waits on this transaction
    thread.join(timeout=30)
    assert not thread.is_alive() and failures == []
    with database.unit() as session:
        checked, broken = service.verify(session)
        rows = session.execute(select(HistoryEntry).order_by(HistoryEntry.seq)).scalars().all()
        assert broken is None and checked == 2
        assert [r.object_id for r in rows] == ["first", "second"]
