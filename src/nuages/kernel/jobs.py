"""Jobs enqueued by name, after commit: a service never imports the task registry.

``enqueue(session, "compute_operation", op_id)`` asks for the task of that name to run
once ``session`` commits (never if it rolls back). Who runs it is the process's choice:
a handler installed with ``handle`` (tests, ``nuages up`` without a worker) or, by
default, the huey task of that name in ``nuages.jobs.tasks`` (looked up by name when
the first job is delivered, so no slice imports ``jobs/``).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from nuages.kernel.db import Database, after_commit
from nuages.kernel.settings import get_settings

log = logging.getLogger("nuages.jobs")
TASKS_MODULE = "nuages.jobs.tasks"
_handlers: dict[str, Callable[..., Any]] = {}
_fallback: Callable[..., Any] | None = None


def enqueue(session: Session, name: str, *args: Any) -> None:
    """Have the job ``name(*args)`` run once ``session`` commits; never if it rolls back."""
    after_commit(session, lambda: deliver(name, *args))


def deliver(name: str, *args: Any) -> None:
    """Hand the job ``name(*args)`` to its handler, or to the huey task of that name."""
    handler = _handlers.get(name)
    if handler is not None:
        handler(*args)
    elif _fallback is not None:
        _fallback(name, *args)
    else:
        getattr(importlib.import_module(TASKS_MODULE), name)(*args)


def set_fallback(fallback: Callable[..., Any] | None) -> None:
    """Where jobs without a handler go instead of the queue: ``fallback(name, *args)``
    (tests keep them in a list); None: the queue again."""
    global _fallback
    _fallback = fallback


def handle(name: str, handler: Callable[..., Any] | None) -> None:
    """Run jobs ``name`` with ``handler`` in this process (None: back to the queue)."""
    if handler is None:
        _handlers.pop(name, None)
    else:
        _handlers[name] = handler


@contextmanager
def handled(name: str, handler: Callable[..., Any]) -> Iterator[None]:
    """``handle`` for the duration of a block (tests)."""
    previous = _handlers.get(name)
    handle(name, handler)
    try:
        yield
    finally:
        handle(name, previous)


@functools.cache
def get_database() -> Database:
    """The database of this process (a worker, the CLI), from the settings, built once."""
    return Database(get_settings().effective_database_url)
