"""Hourly rollups, retention, and the series a VM's graphs read (issue 14.4).

Retention: minutes 48 hours, hours 13 months (the SLA and billing disputes reach back a
year; 002 §6, 001 §4). ``rollup_and_prune`` is idempotent: each complete hour is rolled
up once (``ON CONFLICT DO NOTHING`` on (VM, hour)), always before the minutes it needs
are pruned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import and_, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute.metrics.models import VmMetricHour, VmMetricMinute
from nuages.compute.services.access import load_vm, require_feature
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed

Step = Literal["1m", "1h"]
MINUTES_KEPT = dt.timedelta(hours=48)
HOUR_MONTHS_KEPT = 13
# The longest range one answer covers per step: the 1-minute retention, and 13 months.
MAX_RANGE: dict[str, dt.timedelta] = {"1m": MINUTES_KEPT, "1h": dt.timedelta(days=397)}
HOUR = dt.timedelta(hours=1)


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` minus calendar ``months`` (the day clamped to the target month)."""
    import calendar

    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class RollupReport:
    """What one rollup-and-prune run did."""

    hours: list[dt.datetime] = field(default_factory=list)  # hours rolled up
    rows: int = 0  # hourly rows written
    minutes_pruned: int = 0
    hours_pruned: int = 0


def _hour_select(start: dt.datetime) -> Any:
    m = VmMetricMinute
    secs = m.seconds
    # Rates averaged over the seconds they cover: Σ(rate × s) / Σ s = Σ bytes / Σ s.
    weighted = {
        name: func.sum(getattr(m, name) * secs) / func.nullif(func.sum(secs), 0)
        for name in ("cpu_pct", "rd_bps", "wr_bps", "rd_iops", "wr_iops", "rx_bps", "tx_bps")
    }
    return (
        select(
            m.vm_id,
            literal(start, VmMetricHour.__table__.c.at.type).label("at"),
            func.count().label("samples"),
            func.sum(secs).label("seconds"),
            weighted["cpu_pct"].label("cpu_pct"),
            func.max(m.cpu_pct).label("cpu_pct_max"),
            func.max(m.mem_bytes).label("mem_bytes"),
            func.avg(m.mem_used_bytes).label("mem_used_bytes"),
            func.max(m.mem_used_bytes).label("mem_used_max"),
            *(weighted[n].label(n) for n in ("rd_bps", "wr_bps", "rd_iops", "wr_iops")),
            weighted["rx_bps"].label("rx_bps"),
            weighted["tx_bps"].label("tx_bps"),
        )
        .where(and_(m.at >= start, m.at < start + HOUR))
        .group_by(m.vm_id)
    )


_HOUR_COLUMNS = [
    "vm_id", "at", "samples", "seconds", "cpu_pct", "cpu_pct_max", "mem_bytes",
    "mem_used_bytes", "mem_used_max", "rd_bps", "wr_bps", "rd_iops", "wr_iops", "rx_bps",
    "tx_bps",
]  # fmt: skip


def rollup_hour(session: Session, start: dt.datetime) -> int:
    """Roll the minutes of ``[start, start + 1 h)`` up into hourly rows (a VM's hour
    already rolled up is kept). Returns the rows written."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(VmMetricHour.__table__).from_select(_HOUR_COLUMNS, _hour_select(start))
    stmt = stmt.on_conflict_do_nothing().returning(VmMetricHour.__table__.c.vm_id)
    return len(session.execute(stmt).all())


def rollup_and_prune(session: Session, now: dt.datetime | None = None) -> RollupReport:
    """Roll up every complete hour not rolled up yet, then drop minutes older than 48 h
    and hours older than 13 months. Never commits; safe to run any number of times."""
    now = now or utc_now()
    report = RollupReport()
    last_complete = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    done = session.execute(select(func.max(VmMetricHour.at))).scalar()
    first = session.execute(select(func.min(VmMetricMinute.at))).scalar()
    if first is not None:
        start = first.replace(minute=0, second=0, microsecond=0)
        if done is not None and done >= start:
            start = done + HOUR
        while start <= last_complete:
            written = rollup_hour(session, start)
            if written:
                report.hours.append(start)
                report.rows += written
            start += HOUR
    pruned = session.execute(delete(VmMetricMinute).where(VmMetricMinute.at < now - MINUTES_KEPT))
    report.minutes_pruned = max(int(getattr(pruned, "rowcount", 0) or 0), 0)
    old = months_before(now, HOUR_MONTHS_KEPT)
    pruned = session.execute(delete(VmMetricHour).where(VmMetricHour.at < old))
    report.hours_pruned = max(int(getattr(pruned, "rowcount", 0) or 0), 0)
    return report


# ---------------------------------------------------------------- reads

_POINT_FIELDS = (
    "cpu_pct", "mem_bytes", "mem_used_bytes", "rd_bps", "wr_bps", "rd_iops", "wr_iops",
    "rx_bps", "tx_bps",
)  # fmt: skip
# The names the API answers with (units in the name).
OUT_NAMES = {
    "cpu_pct": "cpu_percent",
    "mem_bytes": "memory_bytes",
    "mem_used_bytes": "memory_used_bytes",
    "rd_bps": "disk_read_bytes_per_s",
    "wr_bps": "disk_write_bytes_per_s",
    "rd_iops": "disk_read_iops",
    "wr_iops": "disk_write_iops",
    "rx_bps": "net_rx_bytes_per_s",
    "tx_bps": "net_tx_bytes_per_s",
}


def check_range(start: dt.datetime, end: dt.datetime, step: str) -> None:
    """Refuse a range that is empty, or too long for its step (422 naming the field)."""
    if step not in MAX_RANGE:
        raise ValidationFailed("step: must be 1m or 1h")
    if end <= start:
        raise ValidationFailed("to: must be after from")
    limit = MAX_RANGE[step]
    if end - start > limit:
        if step == "1m":
            raise ValidationFailed(
                f"from: a 1-minute series covers at most 48 hours (the minutes are kept "
                f"48 hours), not {_days(end - start)}; ask step=1h for longer ranges"
            )
        raise ValidationFailed(
            f"from: an hourly series covers at most 13 months (the hours are kept 13 "
            f"months), not {_days(end - start)}"
        )


def _days(span: dt.timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def vm_series(
    session: Session,
    actor: Principal,
    vm_id: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    step: str | None,
) -> dict[str, Any]:
    """The VM's points in ``[start, end)`` at ``step`` (default: 1m up to 48 h, else 1h;
    range default: the last hour at 1m, the last 30 days at 1h). Read-only."""
    vm = load_vm(session, actor, vm_id)
    # 002 §3: supervision graphs are Avancé's; Essentiel's list excludes them.
    require_feature(session, actor, vm, "monitoring", reading=True)
    end = end or utc_now()
    if step is None:
        step = "1m" if start is None or end - start <= MINUTES_KEPT else "1h"
    if start is None:
        start = end - (HOUR if step == "1m" else dt.timedelta(days=30))
    check_range(start, end, step)
    table: Any = VmMetricMinute if step == "1m" else VmMetricHour
    cols = [getattr(table, f) for f in _POINT_FIELDS]
    extra = [table.cpu_pct_max, table.mem_used_max] if step == "1h" else []
    rows = session.execute(
        select(table.at, *cols, *extra)
        .where(table.vm_id == vm.id, table.at >= start, table.at < end)
        .order_by(table.at)
    ).all()
    points = []
    for r in rows:
        values = dict(zip(_POINT_FIELDS, r[1:10], strict=True))
        peak_cpu, peak_mem = (r[10], r[11]) if step == "1h" else (r[1], r[3])
        points.append(
            {
                "at": r[0],
                **{name: values[column] for column, name in OUT_NAMES.items()},
                "cpu_percent_max": peak_cpu,
                "memory_used_max_bytes": peak_mem,
            }
        )
    return {"vm_id": vm.id, "step": step, "from": start, "to": end, "points": points}
