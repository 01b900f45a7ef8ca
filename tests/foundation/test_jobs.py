"""Jobs run on a real huey queue (SQLite file, and Redis), only after their transaction
commits."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from huey import Huey

from nuages.jobs.queue import enqueue, make_huey
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings


def _queue(kind: str, tmp_path: Path) -> Huey:
    if kind == "redis":
        url = os.environ.get("NUAGES_TEST_REDIS_URL")
        if not url:
            if os.environ.get("CI"):
                pytest.fail("NUAGES_TEST_REDIS_URL is not set")
            pytest.skip("NUAGES_TEST_REDIS_URL not set")
        huey = make_huey(Settings(data_dir=tmp_path, redis_url=url))
        huey.flush()
        return huey
    return make_huey(Settings(data_dir=tmp_path))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_job_enqueued_only_after_commit(kind: str, tmp_path: Path, database: Database) -> None:
    huey = _queue(kind, tmp_path)
    ran: list[str] = []
    done = threading.Event()

    @huey.task()  # type: ignore[untyped-decorator]
    def mark(value: str) -> None:
        ran.append(value)
        done.set()

    # A rolled-back unit of work enqueues nothing.
    with pytest.raises(RuntimeError), database.unit() as session:
        enqueue(session, mark, "rolled-back")
        raise RuntimeError("boom")
    assert huey.pending_count() == 0

    with database.unit() as session:
        enqueue(session, mark, "committed")
        assert huey.pending_count() == 0  # not before the commit
    assert huey.pending_count() == 1

    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    consumer.start()
    try:
        assert done.wait(20), "the worker did not run the job"
    finally:
        consumer.stop(graceful=True)
    time.sleep(0)
    assert ran == ["committed"]
