"""The retention pass shared by snapshots (002 §3) and backups (001 §2.2, 002 §3.5):
every ready copy whose ``expires_at`` has passed, oldest first, each in its own unit;
a VM with an operation in flight keeps its copies until the next pass (the operation
may be restoring one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Vm
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database

READY = "ready"


def expire_due(
    database: Database,
    model: Any,
    drop: Callable[[Session, Any, Vm, dt.datetime], bool],
    *,
    newest_first: bool = False,
) -> list[str]:
    """Call ``drop(session, row, vm, now)`` for every expired ready row of ``model``
    whose VM is idle, oldest first (``newest_first``: the other way, for backup chains
    whose increments go before their parents); returns the ids it dropped (``drop``
    answers True)."""
    now = utc_now()
    with database.unit() as session:
        due = list(
            session.execute(
                select(model.id)
                .where(model.state == READY, model.expires_at <= now)
                .order_by(model.expires_at.desc() if newest_first else model.expires_at)
            ).scalars()
        )
    removed: list[str] = []
    for row_id in due:
        with database.unit() as session:
            row = session.get(model, row_id)
            vm = session.get(Vm, row.vm_id) if row else None
            if row is None or vm is None or vm.task_state is not None:
                continue
            if drop(session, row, vm, now):
                removed.append(row_id)
    return removed
