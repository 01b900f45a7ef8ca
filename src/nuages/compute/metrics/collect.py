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

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
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
from nuages.kernel.db import Database

log = logging.getLogger("nuages.compute.metrics")
WHO = Actor.system("metrics")
# A previous reading older than this gives no rate (the VM's host was away meanwhile).
PREVIOUS_WITHIN = dt.timedelta(minutes=10)
_COUNTERS = ("cpu_ns", "rd_bytes", "wr_bytes", "rd_ops", "wr_ops", "rx_bytes", "tx_bytes")
_RATES = (
    ("rd_bytes", "rd_bps"),
    ("wr_bytes", "wr_bps"),
    ("rd_ops", "rd_iops"),
    ("wr_ops", "wr_iops"),
    ("rx_bytes", "rx_bps"),
    ("tx_bytes", "tx_bps"),
)


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


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``moment`` (UTC)."""
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


def rows_for(
    host_id: str,
    at: dt.datetime,
    stats: Iterable[DomainStats],
    known: dict[str, int],
    previous: dict[str, Previous],
) -> list[dict[str, Any]]:
    """The minute rows of one host's readings (pure): ``known`` maps the platform's VM
    ids on the host to their vCPUs (used when the hypervisor reports none)."""
    rows = []
    for s in stats:
        vm_id = str(s.uuid)
        vcpus_db = known.get(vm_id)
        if vcpus_db is None:
            continue  # not ours
        vcpus = s.vcpus or vcpus_db
        row: dict[str, Any] = {
            "vm_id": vm_id,
            "at": at,
            "host_id": host_id,
            "power_state": s.power_state.value,
            "host_ns": s.host_ns,
            "vcpus": vcpus,
            "cpu_ns": s.cpu_ns,
            "rd_bytes": s.disk_read_bytes,
            "wr_bytes": s.disk_write_bytes,
            "rd_ops": s.disk_read_ops,
            "wr_ops": s.disk_write_ops,
            "rx_bytes": s.net_rx_bytes,
            "tx_bytes": s.net_tx_bytes,
            "mem_bytes": s.memory_bytes,
            "mem_used_bytes": s.memory_used_bytes,
            "seconds": None,
            "cpu_pct": None,
            "rd_bps": None,
            "wr_bps": None,
            "rd_iops": None,
            "wr_iops": None,
            "rx_bps": None,
            "tx_bps": None,
        }
        prev = previous.get(vm_id)
        if prev is not None and s.host_ns > prev.host_ns:
            seconds = (s.host_ns - prev.host_ns) / 1e9
            row["seconds"] = seconds
            prev_cpu = prev.counters[0]
            if s.cpu_ns is not None and prev_cpu is not None and s.cpu_ns >= prev_cpu:
                # Δcpu / (Δt × vCPUs): the share of the VM's vCPUs that was busy.
                pct = (s.cpu_ns - prev_cpu) / ((s.host_ns - prev.host_ns) * vcpus) * 100.0
                row["cpu_pct"] = min(pct, 100.0)
            for i, (counter, rate) in enumerate(_RATES, start=1):
                now_v, then_v = row[counter], prev.counters[i]
                # A counter below its previous value restarted with the VM: unknowable.
                if now_v is not None and then_v is not None and now_v >= then_v:
                    row[rate] = (now_v - then_v) / seconds
        rows.append(row)
    return rows


def insert_rows(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """``INSERT … ON CONFLICT DO NOTHING`` of ``rows`` in one executemany; the count
    inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    # Counted before and after (same transaction, the ``at`` index), not with RETURNING:
    # executemany's rowcount is not reported by psycopg, and RETURNING turns the
    # pipelined executemany into multi-row statements psycopg takes seconds to build
    # for 5,000 rows (bench/metrics.py).
    moments = sorted({row["at"] for row in rows})
    where = table.c.at.in_(moments)
    count = select(func.count()).select_from(table).where(where)
    connection = session.connection()
    before = connection.execute(count).scalar_one()
    if before == 0:
        # The usual case, a minute nobody wrote yet: a plain insert (PostgreSQL's
        # speculative ON CONFLICT insertion costs a third more), in a savepoint so
        # that a pass racing this one falls back to the conflict-tolerant insert.
        try:
            with session.begin_nested():
                connection.execute(insert(table), rows)
            return len(rows)
        except IntegrityError:
            pass
    connection.execute(module.insert(table).on_conflict_do_nothing(), rows)
    return int(connection.execute(count).scalar_one() - before)


def _previous(session: Session, at: dt.datetime) -> dict[str, Previous]:
    """Every VM's reading of the latest minute collected before ``at`` (within
    ``PREVIOUS_WITHIN``)."""
    t = VmMetricMinute
    prev_at = session.execute(
        select(func.max(t.at)).where(t.at < at, t.at >= at - PREVIOUS_WITHIN)
    ).scalar()
    if prev_at is None:
        return {}
    cols = [getattr(t, c) for c in _COUNTERS]
    found = session.execute(select(t.vm_id, t.host_ns, *cols).where(t.at == prev_at))
    return {r[0]: Previous(r[1], r[2:]) for r in map(tuple, found)}


def _plan(session: Session) -> tuple[list[tuple[str, str]], dict[str, dict[str, int]]]:
    hosts = [
        (h.id, h.uri)
        for h in session.execute(
            select(Host).where(Host.state.in_([s.value for s in WATCHED])).order_by(Host.id)
        ).scalars()
    ]
    vms: dict[str, dict[str, int]] = {h: {} for h, _uri in hosts}
    found = session.execute(
        select(Vm.id, Vm.host_id, Vm.vcpus).where(
            Vm.host_id.in_(list(vms)), Vm.vm_state != VmState.DELETED.value
        )
    )
    for vm_id, host_id, vcpus in found:
        if host_id is not None:
            vms[host_id][vm_id] = vcpus
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
        hosts, vms = _plan(session)
        previous = _previous(session, at)
    report.hosts = len(hosts)
    rows: list[dict[str, Any]] = []
    down: list[tuple[str, str]] = []
    for host_id, uri in hosts:
        try:
            stats = runtime.hypervisor(uri).domain_stats()
        except (HostUnreachable, HypervisorError) as exc:
            log.warning("metrics: host %s (%s) did not answer: %s", host_id, uri, exc.detail)
            down.append((host_id, exc.detail))
            continue
        report.read += len(stats)
        rows.extend(rows_for(host_id, at, stats, vms[host_id], previous))
    with database.unit() as session:
        report.written = insert_rows(session, VmMetricMinute.__table__, rows)
        for host_id, error in down:
            mark_host_down(session, host_id, error)
            report.unreachable.append(host_id)
    return report
