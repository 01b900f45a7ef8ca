"""The metrics collector: one bulk statistics read per host, one row per VM and minute
(002 §3 supervision graphs; issue 14.4).

A pass:

1. lists the watched hosts (active or draining) and their live VMs, and the readings of
   the previous minute collected (one query each, no transaction kept open);
2. reads each host's counters with ONE ``Hypervisor.domain_stats`` call; a host that
   does not answer is marked unreachable (history ``host.unreachable``, its VMs' power
   state ``unknown``, as reconciliation does) and the other hosts are still collected;
   reachability comes back through reconciliation, which owns power states and
   ``last_seen``;
3. derives each VM's CPU %, disk and network rates from its previous reading and
   writes the minute's rows with ``INSERT … ON CONFLICT DO NOTHING``: a second pass in
   the same minute writes nothing.

Domains the platform does not know (libvirt's own ``test`` domain) are skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nuages.compute.hypervisor import DomainStats, HostUnreachable, HypervisorError
from nuages.compute.metrics.models import VmMetricMinute
from nuages.compute.models import Host, Vm
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services.reconcile import mark_unknown
from nuages.compute.states import WATCHED, VmState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database, UTCDateTime

log = logging.getLogger("nuages.compute.metrics")
WHO = Actor.system("metrics")
# A previous reading older than this gives no rate (the VM's host was away meanwhile).
PREVIOUS_WITHIN = dt.timedelta(minutes=10)
_COUNTERS = ("cpu_ns", "rd_bytes", "wr_bytes", "rd_ops", "wr_ops", "rx_bytes", "tx_bytes")


@dataclass
class CollectReport:
    """What one pass read and wrote."""

    at: dt.datetime
    hosts: int = 0
    unreachable: list[str] = field(default_factory=list)
    read: int = 0  # domains reported by the hosts
    written: int = 0  # rows inserted (0 for a minute already collected)


class Previous(NamedTuple):
    """The counters of a VM's previous reading (a named tuple: 5,000 are made a pass)."""

    host_ns: int
    counters: tuple[int | None, ...]


class Known(NamedTuple):
    """A VM of the platform on a host: its vCPUs (used when the hypervisor reports
    none) and its previous reading, if any."""

    vcpus: int
    previous: Previous | None = None


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``moment`` (UTC)."""
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


# The minute table's columns in the order ``rows_for`` builds its tuples.
COLUMNS = (
    "vm_id", "at", "host_id", "power_state", "host_ns", "vcpus",
    *_COUNTERS, "mem_bytes", "mem_used_bytes",
    "seconds", "cpu_pct", "rd_bps", "wr_bps", "rd_iops", "wr_iops", "rx_bps", "tx_bps",
)  # fmt: skip
_NO_RATES = (None,) * 8  # seconds, cpu_pct and the six rates of a first reading
_NO_DISK = (None,) * 4
_NO_NET = (None,) * 2


def rows_for(
    host_id: str,
    at: dt.datetime,
    stats: Iterable[DomainStats],
    known: dict[str, Known],
) -> list[tuple[Any, ...]]:
    """The minute rows of one host's readings (pure), as tuples in ``COLUMNS`` order
    (5,000 a pass: no dict or ORM object per row); ``known`` maps the platform's VM ids
    on the host to their vCPUs and previous reading (one dict look-up per domain)."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    get_known = known.get
    for s in stats:
        vm_id = s.uuid
        ours = get_known(vm_id)
        if ours is None:
            continue  # not ours
        vcpus = s.vcpus or ours.vcpus
        # DomainStats' fields from cpu_ns on are the table's columns, in order.
        head = (vm_id, at, host_id, s.power_state.value, s.host_ns, vcpus, *s[4:])
        prev = ours.previous
        if prev is None or s.host_ns <= prev.host_ns:
            append((*head, *_NO_RATES))
            continue
        elapsed_ns = s.host_ns - prev.host_ns
        seconds = elapsed_ns / 1e9
        then = prev.counters
        cpu_pct = None
        if s.cpu_ns is not None and then[0] is not None and s.cpu_ns >= then[0]:
            # Δcpu / (Δt × vCPUs): the share of the VM's vCPUs that was busy.
            cpu_pct = min((s.cpu_ns - then[0]) / (elapsed_ns * vcpus) * 100.0, 100.0)
        # Disk and network counters come as groups (a domain without disks or NICs
        # reports none of the group); a counter below its previous value restarted
        # with the VM: unknowable.
        disk = _NO_DISK if s.disk_read_bytes is None else _rates(s[5:9], then[1:5], seconds)
        net = _NO_NET if s.net_rx_bytes is None else _rates(s[9:11], then[5:7], seconds)
        append((*head, seconds, cpu_pct, *disk, *net))
    return rows


def _rates(
    now: tuple[int | None, ...], then: tuple[int | None, ...], seconds: float
) -> tuple[float | None, ...]:
    return tuple(
        (n - t) / seconds if n is not None and t is not None and n >= t else None
        for n, t in zip(now, then, strict=True)
    )


def _prepared(
    session: Session, table: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> tuple[str, Sequence[tuple[Any, ...]]]:
    """The plain ``INSERT`` of ``columns`` in the driver's own parameter style, and the
    rows as the driver takes them. Only timestamps need converting (``UTCDateTime`` per
    dialect), and a pass's rows share one minute: each distinct value is converted once
    by the column type's own bind processor, not once per row; the other values (ints,
    floats, text, None) go to the driver as they are."""
    dialect = session.get_bind().dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Names from the table itself (an unknown column is a KeyError), quoted by the dialect.
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[c].name) for c in columns)
    marks = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
    times = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    if not times:
        return sql, rows
    out = list(rows)
    for i in times:
        process = table.c[columns[i]].type._cached_bind_processor(dialect)
        if process is None:
            continue
        seen: dict[Any, Any] = {}
        for n, row in enumerate(out):
            value = row[i]
            if value not in seen:
                seen[value] = process(value)
            out[n] = (*row[:i], seen[value], *row[i + 1 :])
    return sql, out


def insert_rows(
    session: Session,
    table: Any,
    rows: Sequence[tuple[Any, ...]],
    columns: Sequence[str] = COLUMNS,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in one driver-level executemany
    of one prepared statement, in the session's transaction; a row whose key is written
    already is skipped (``ON CONFLICT DO NOTHING``, both databases). The count
    inserted."""
    if not rows:
        return 0
    sql, params = _prepared(session, table, columns, rows)
    # Counted before and after (same transaction, the ``at`` index), not with RETURNING:
    # executemany's rowcount is not reported by psycopg, and RETURNING turns the
    # pipelined executemany into multi-row statements psycopg takes seconds to build
    # for 5,000 rows (bench/metrics.py).
    at = columns.index("at")
    moments = sorted({row[at] for row in rows})
    count = select(func.count()).select_from(table).where(table.c.at.in_(moments))
    connection = session.connection()
    before = connection.execute(count).scalar_one()
    if before == 0:
        # The usual case, a minute nobody wrote yet: a plain insert (PostgreSQL's
        # speculative ON CONFLICT insertion costs a third more), in a savepoint so
        # that a pass racing this one falls back to the conflict-tolerant insert.
        try:
            with session.begin_nested():
                connection.exec_driver_sql(sql, params)
            return len(rows)
        except IntegrityError:
            pass
    connection.exec_driver_sql(f"{sql} ON CONFLICT DO NOTHING", params)
    return int(connection.execute(count).scalar_one() - before)


def _plan(
    session: Session, at: dt.datetime
) -> tuple[list[tuple[str, str]], dict[str, dict[str, Known]]]:
    """The watched hosts, and per host its live VMs with their previous reading: that
    of the latest minute collected before ``at`` (within ``PREVIOUS_WITHIN``). Core on
    the session's connection (5,000 plain rows, no ORM); the minute's readings through
    the ``at`` index (on SQLite, cheaper than joining them to the VMs by key)."""
    hosts = [
        (h.id, h.uri)
        for h in session.execute(
            select(Host).where(Host.state.in_([s.value for s in WATCHED])).order_by(Host.id)
        ).scalars()
    ]
    vms: dict[str, dict[str, Known]] = {h: {} for h, _uri in hosts}
    t = VmMetricMinute.__table__
    connection = session.connection()
    prev_at = connection.execute(
        select(func.max(t.c.at)).where(t.c.at < at, t.c.at >= at - PREVIOUS_WITHIN)
    ).scalar()
    previous: dict[str, Previous] = {}
    if prev_at is not None:
        found = connection.execute(
            select(t.c.vm_id, t.c.host_ns, *[t.c[c] for c in _COUNTERS]).where(t.c.at == prev_at)
        )
        previous = {r[0]: Previous(r[1], r[2:]) for r in map(tuple, found)}
    get_previous = previous.get
    for vm_id, host_id, vcpus in connection.execute(
        select(Vm.id, Vm.host_id, Vm.vcpus).where(
            Vm.host_id.in_(list(vms)), Vm.vm_state != VmState.DELETED.value
        )
    ):
        if host_id is not None:  # in a watched host's list: never null
            vms[host_id][vm_id] = Known(vcpus, get_previous(vm_id))
    return hosts, vms


def mark_host_down(session: Session, host_id: str, error: str) -> None:
    """A host that did not answer the collector: unreachable, its VMs' power state
    unknown (not stopped: nobody can tell), recorded once in the history."""
    host = session.get(Host, host_id)
    if host is None:
        return
    if host.reachable:
        history.record(
            session,
            WHO,
            object_type="host",
            object_id=host.id,
            action="host.unreachable",
            params={"error": error[:300], "seen_by": "metrics"},
        )
    host.reachable = False
    mark_unknown(session, host.id)


def collect(
    database: Database, runtime: ComputeRuntime, now: dt.datetime | None = None
) -> CollectReport:
    """One collection pass over every watched host (see the module's rules)."""
    at = minute_of(now or utc_now())
    report = CollectReport(at=at)
    with database.unit(readonly=True) as session:
        hosts, vms = _plan(session, at)
    report.hosts = len(hosts)
    rows: list[tuple[Any, ...]] = []
    down: list[tuple[str, str]] = []
    for host_id, uri in hosts:
        try:
            stats = runtime.hypervisor(uri).domain_stats()
        except (HostUnreachable, HypervisorError) as exc:
            log.warning("metrics: host %s (%s) did not answer: %s", host_id, uri, exc.detail)
            down.append((host_id, exc.detail))
            continue
        report.read += len(stats)
        rows.extend(rows_for(host_id, at, stats, vms[host_id]))
    with database.unit() as session:
        report.written = insert_rows(session, VmMetricMinute.__table__, rows)
        for host_id, error in down:
            mark_host_down(session, host_id, error)
            report.unreachable.append(host_id)
    return report
