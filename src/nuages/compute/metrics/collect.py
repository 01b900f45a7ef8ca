"""The metrics collector: one bulk statistics read per host, one row per VM and minute
(002 §3 supervision graphs; issue 14.4).

A pass:

1. lists the watched hosts (active or draining) and their live VMs, and the readings of
   the previous minute collected (one query each, no transaction kept open; the
   readings are those this process wrote in its previous pass when the database holds
   exactly them, see ``_plan``);
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
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, func, null, select
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
    """A VM's previous reading: the head of its row of the previous minute (the first
    ``len(_PREVIOUS)`` of ``COLUMNS``), so that a row of this process's previous pass
    serves as it is, and the database's plain tuples as they come (5,000 a pass: no
    object made per VM); this names their fields (``at`` is not read)."""

    vm_id: str
    at: Any
    host_ns: int
    cpu_ns: int | None = None
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rd_ops: int | None = None
    wr_ops: int | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None


class Plan(NamedTuple):
    """What a pass collects: the watched hosts (id, URI); per host, its live VMs'
    vCPUs by VM id (used when the hypervisor reports none); the previous readings by
    VM id."""

    hosts: list[tuple[str, str]]
    vcpus: dict[str, dict[str, int]]
    previous: dict[str, Previous]


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``moment`` (UTC)."""
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


# The minute table's columns in the order ``rows_for`` builds its tuples; what the next
# minute derives its rates from comes first (``Previous``).
COLUMNS = (
    "vm_id", "at", "host_ns", *_COUNTERS,
    "host_id", "power_state", "vcpus", "mem_bytes", "mem_used_bytes",
    "seconds", "cpu_pct", "rd_bps", "wr_bps", "rd_iops", "wr_iops", "rx_bps", "tx_bps",
)  # fmt: skip
_PREVIOUS = COLUMNS[: len(Previous._fields)]


def rows_for(
    host_id: str,
    at: Any,
    stats: Iterable[DomainStats],
    vcpus_of: dict[str, int],
    previous: dict[str, Previous],
) -> list[tuple[Any, ...]]:
    """The minute rows of one host's readings (pure), as tuples in ``COLUMNS`` order
    (5,000 a pass: no dict or object per row, each tuple built once); ``vcpus_of`` maps
    the platform's VM ids on the host to their vCPUs, ``previous`` VM ids to their
    previous reading. ``at`` goes in every row as given (the minute, or the driver's
    value of it: ``driver_value``)."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    get_vcpus = vcpus_of.get
    get_previous = previous.get
    for vm_id, state, host_ns, vcpus, cpu_ns, rd_b, wr_b, rd_n, wr_n, rx, tx, mem, used in stats:
        ours = get_vcpus(vm_id)
        if ours is None:
            continue  # not ours
        vcpus = vcpus or ours
        power = state._value_  # PowerState's text (the enum's ``value`` property costs more)
        prev = get_previous(vm_id)
        if prev is None or host_ns <= prev[2]:
            append(
                (vm_id, at, host_ns, cpu_ns, rd_b, wr_b, rd_n, wr_n, rx, tx, host_id, power,
                 vcpus, mem, used, None, None, None, None, None, None, None, None)
            )  # fmt: skip
            continue
        elapsed_ns = host_ns - prev[2]
        seconds = elapsed_ns / 1e9
        then = prev[3]
        cpu_pct = None
        if cpu_ns is not None and then is not None and cpu_ns >= then:
            # Δcpu / (Δt × vCPUs): the share of the VM's vCPUs that was busy.
            cpu_pct = min((cpu_ns - then) / (elapsed_ns * vcpus) * 100.0, 100.0)
        # Disk and network counters come as groups (a domain without disks or NICs
        # reports none of the group); a counter below its previous value restarted
        # with the VM: unknowable.
        rd_bps = wr_bps = rd_iops = wr_iops = rx_bps = tx_bps = None
        if rd_b is not None:
            rd_bps, wr_bps = _rate(rd_b, prev[4], seconds), _rate(wr_b, prev[5], seconds)
            rd_iops, wr_iops = _rate(rd_n, prev[6], seconds), _rate(wr_n, prev[7], seconds)
        if rx is not None:
            rx_bps, tx_bps = _rate(rx, prev[8], seconds), _rate(tx, prev[9], seconds)
        append(
            (vm_id, at, host_ns, cpu_ns, rd_b, wr_b, rd_n, wr_n, rx, tx, host_id, power,
             vcpus, mem, used, seconds, cpu_pct, rd_bps, wr_bps, rd_iops, wr_iops, rx_bps,
             tx_bps)
        )  # fmt: skip
    return rows


def _rate(now: int | None, then: int | None, seconds: float) -> float | None:
    return (now - then) / seconds if now is not None and then is not None and now >= then else None


def driver_value(dialect: Dialect, column: Any, value: Any) -> Any:
    """``value`` as the driver takes it for ``column`` (its type's bind processor):
    a pass's rows share one minute, converted once."""
    process = column.type._cached_bind_processor(dialect)
    return value if process is None else process(value)


def _prepared(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    bound: bool = False,
) -> tuple[str, Sequence[tuple[Any, ...]]]:
    """The plain ``INSERT`` of ``columns`` in the driver's own parameter style, and the
    rows as the driver takes them. Only timestamps need converting (``UTCDateTime`` per
    dialect), and a pass's rows share one minute: each distinct value is converted once
    by the column type's own bind processor, not once per row (``bound``: the rows
    carry the driver's values already, ``driver_value``); the other values (ints,
    floats, text, None) go to the driver as they are."""
    dialect = session.get_bind().dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Names from the table itself (an unknown column is a KeyError), quoted by the dialect.
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[c].name) for c in columns)
    marks = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
    times = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    if bound or not times:
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
    *,
    minute: dt.datetime | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in one driver-level executemany
    of one prepared statement, in the session's transaction; a row whose key is written
    already is skipped (``ON CONFLICT DO NOTHING``, both databases). The count
    inserted. ``minute``: the one ``at`` of every row, which the rows carry as the
    driver's value of it already (``driver_value``; the collector's pass)."""
    # Minute rows written: the previous pass's are no longer known to be all there
    # (the collector's pass records its own again once committed).
    database = session.info.get("database")
    if database is not None:
        _LAST.pop(database, None)
    if not rows:
        return 0
    sql, params = _prepared(session, table, columns, rows, bound=minute is not None)
    # Counted before and after (same transaction, the ``at`` index), not with RETURNING:
    # executemany's rowcount is not reported by psycopg, and RETURNING turns the
    # pipelined executemany into multi-row statements psycopg takes seconds to build
    # for 5,000 rows (bench/metrics.py).
    if minute is None:
        at = columns.index("at")
        moments = sorted({row[at] for row in rows})
    else:
        moments = [minute]
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


def _plain_rows(connection: Connection, statement: Any) -> list[Any]:
    """``statement``'s rows as the driver returns them, plain tuples: no ``Row`` made
    nor result processing, for columns that need none (text, integers; 5,000 rows a
    pass)."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


# Per database, the minute this process wrote last and its rows by VM id: the next
# pass's previous readings when the database holds exactly them (``_plan``).
_LAST: weakref.WeakKeyDictionary[Database, tuple[dt.datetime, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _plan(
    session: Session, at: dt.datetime, last: tuple[dt.datetime, dict[str, Any]] | None = None
) -> Plan:
    """The watched hosts, their live VMs, and the previous readings: those of the
    latest minute collected before ``at`` (within ``PREVIOUS_WITHIN``). Core on the
    session's connection (5,000 plain rows, no ORM); the minute's readings through the
    ``at`` index (on SQLite, cheaper than joining them to the VMs by key).

    The readings are not read again when that minute is the one this process wrote
    last (``last``: its minute and rows, from ``_LAST``) and the database holds as many
    rows of it as were written: minute rows are never updated, and a minute's rows are
    only added to (``ON CONFLICT DO NOTHING``), so they are then exactly those."""
    connection = session.connection()
    hosts: list[tuple[str, str]] = _plain_rows(
        connection,
        select(Host.id, Host.uri)
        .where(Host.state.in_([s.value for s in WATCHED]))
        .order_by(Host.id),
    )
    vcpus: dict[str, dict[str, int]] = {h: {} for h, _uri in hosts}
    t = VmMetricMinute.__table__
    latest = (
        select(func.max(t.c.at))
        .where(t.c.at < at, t.c.at >= at - PREVIOUS_WITHIN)
        .scalar_subquery()
    )
    found = connection.execute(
        select(t.c.at, func.count()).where(t.c.at == latest).group_by(t.c.at)
    ).first()
    previous: dict[str, Previous] = {}
    if found is not None:
        prev_at, count = found
        if last is not None and last[0] == prev_at and len(last[1]) == count:
            previous = last[1]
        else:
            # ``at`` is not read (NULL in its place keeps ``Previous``' positions).
            head = [null() if c == "at" else t.c[c] for c in _PREVIOUS]
            rows = _plain_rows(connection, select(*head).where(t.c.at == prev_at))
            previous = {r[0]: r for r in rows}
    for vm_id, host_id, n in _plain_rows(
        connection,
        select(Vm.id, Vm.host_id, Vm.vcpus).where(
            Vm.host_id.in_(list(vcpus)), Vm.vm_state != VmState.DELETED.value
        ),
    ):
        vcpus[host_id][vm_id] = n  # in a watched host's list: never null
    return Plan(hosts, vcpus, previous)


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
        plan = _plan(session, at, _LAST.get(database))
    report.hosts = len(plan.hosts)
    # Every row carries the minute as the driver takes it, converted once.
    at_value = driver_value(database.engine.dialect, VmMetricMinute.__table__.c.at, at)
    rows: list[tuple[Any, ...]] = []
    down: list[tuple[str, str]] = []
    for host_id, uri in plan.hosts:
        try:
            stats = runtime.hypervisor(uri).domain_stats()
        except (HostUnreachable, HypervisorError) as exc:
            log.warning("metrics: host %s (%s) did not answer: %s", host_id, uri, exc.detail)
            down.append((host_id, exc.detail))
            continue
        report.read += len(stats)
        rows.extend(rows_for(host_id, at_value, stats, plan.vcpus[host_id], plan.previous))
    with database.unit() as session:
        report.written = insert_rows(session, VmMetricMinute.__table__, rows, minute=at)
        for host_id, error in down:
            mark_host_down(session, host_id, error)
            report.unreachable.append(host_id)
    if rows and report.written == len(rows):  # committed, every row ours
        _LAST[database] = (at, {row[0]: row for row in rows})
    return report
