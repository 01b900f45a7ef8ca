"""The job queue: huey on a SQLite file by default, on Redis when configured.

``enqueue`` defers the enqueue until the caller's transaction commits, so a job never
runs for a change that rolled back, nor before the change is visible.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from sqlalchemy.orm import Session

from nuages.kernel.db import after_commit
from nuages.kernel.settings import Settings, get_settings


def make_huey(settings: Settings) -> Huey:
    """Build the queue the settings name."""
    if settings.redis_url:
        return RedisHuey("nuages", url=settings.redis_url, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("nuages", filename=str(settings.data_dir / "jobs.db"), utc=True)


@functools.cache
def get_huey() -> Huey:
    """The process-wide queue."""
    return make_huey(get_settings())


def enqueue(session: Session, task: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Enqueue ``task(*args, **kwargs)`` once ``session`` commits; never if it rolls back."""
    after_commit(session, lambda: task(*args, **kwargs))
