"""Reconciliation: the hypervisor is the authority on power state.

A pass lists the domains of every watched host (active or draining, not disabled) in
one bulk call per host (no transaction open meanwhile), then applies what it saw in one
unit of work:

- a VM with no operation in flight gets the observed power state, and the vm_state the
  ``DRIFT`` table says (a running VM found crashed becomes ``error``, found shut off
  becomes ``stopped``), as a compare-and-swap, written to the history;
- a VM found down that should run opens an outage (``vm_outages``, read by the SLA
  slice), its cause from the hypervisor's stop reason (``guest-shutdown`` only when the
  guest powered itself off, ``destroyed`` when forced off from the host); seen up
  again, the outage is closed;
- a domain the database does not know is reported (log and history, once), never
  touched: it is not ours;
- VMs out of line with their contract's holds are suspended or resumed
  (``holds.enforce_all``: a worker killed between a hold and the pause is finished here);
- an unreachable host marks its VMs' power state ``unknown`` (not stopped: nobody knows)
  and opens an outage (cause ``host-unreachable``) for each VM on it that should run,
  from the last time the host was seen (issue 22: the client cannot reach it either;
  SPEC §17), closed when the VM is seen running again.

``run_pass`` is the job body (periodic task ``compute_reconcile`` and ``nuages compute
reconcile``); ``apply`` is the service that writes, testable on its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.compute.hypervisor import DomainStatus, HostUnreachable, HypervisorError, PowerState
from nuages.compute.models import Host, Vm
from nuages.compute.net import enforce as netenforce
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import holds, outages
from nuages.compute.states import (
    DRIFT,
    MISSING_DOMAIN,
    WATCHED,
    VmState,
    check_transition,
    outage_cause,
)
from nuages.history import service as history
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database

log = logging.getLogger("nuages.compute.reconcile")
WHO = Actor.system("reconcile")
UNKNOWN_DOMAIN = "host.unknown_domain"


@dataclass
class PassReport:
    """What one pass saw and changed."""

    hosts: int = 0
    unreachable: list[str] = field(default_factory=list)
    vms_checked: int = 0
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # vm, from, to
    outages_opened: list[str] = field(default_factory=list)
    outages_closed: list[str] = field(default_factory=list)
    unknown_domains: list[tuple[str, str, str]] = field(default_factory=list)  # host, uuid, name
    holds_suspended: list[str] = field(default_factory=list)  # VMs a contract hold pauses
    holds_resumed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostView:
    """One host as a pass saw it: its domains, or None when unreachable."""

    host_id: str
    domains: list[DomainStatus] | None
    error: str = ""


def observe(runtime: ComputeRuntime, hosts: list[tuple[str, str]]) -> list[HostView]:
    """List the domains of each (host id, URI), one bulk call per host (no database)."""
    views = []
    for host_id, uri in hosts:
        try:
            views.append(HostView(host_id, runtime.hypervisor(uri).list_domains()))
        except (HostUnreachable, HypervisorError) as exc:
            log.warning("host %s (%s) unreachable: %s", host_id, uri, exc.detail)
            views.append(HostView(host_id, None, exc.detail))
    return views


def run_pass(database: Database, runtime: ComputeRuntime) -> PassReport:
    """One reconciliation pass over every watched host (a disabled one is not looked
    at: ``HostState``)."""
    with database.unit() as session:
        hosts = [
            (h.id, h.uri)
            for h in session.execute(
                select(Host).where(Host.state.in_([s.value for s in WATCHED])).order_by(Host.id)
            ).scalars()
        ]
    views = observe(runtime, hosts)
    seen_at = utc_now()
    with database.unit() as session:
        report = apply(session, views, seen_at)
    # Network cuts and firewalls (issue 14): the hosts converge on the database.
    up = {v.host_id for v in views if v.domains is not None}
    netenforce.reapply(database, runtime, [(i, uri) for i, uri in hosts if i in up])
    # Contract holds: finish what a crash left between a hold and its VMs (003 §8).
    enforced = holds.enforce_all(database, runtime)
    report.holds_suspended, report.holds_resumed = enforced.suspended, enforced.resumed
    return report


def apply(session: Session, views: list[HostView], seen_at: dt.datetime) -> PassReport:
    """Write what a pass saw (see the module's rules). Never commits."""
    report = PassReport(hosts=len(views))
    for view in views:
        host = session.get(Host, view.host_id)
        if host is None:
            continue
        if view.domains is None:
            _unreachable(session, host, view.error, report, seen_at)
            continue
        previous_seen = host.last_seen
        if not host.reachable:
            history.record(
                session, WHO, object_type="host", object_id=host.id, action="host.reachable"
            )
        host.reachable = True
        host.last_seen = seen_at
        _host(session, host, view.domains, previous_seen or seen_at, seen_at, report)
    session.flush()
    return report


def mark_unknown(session: Session, host_id: str) -> None:
    """Set the power state of ``host_id``'s idle VMs to ``unknown``: nobody can tell."""
    session.execute(
        update(Vm)
        .where(
            Vm.host_id == host_id,
            Vm.vm_state != VmState.DELETED.value,
            Vm.task_state.is_(None),
            Vm.power_state != PowerState.UNKNOWN.value,
        )
        .values(power_state=PowerState.UNKNOWN.value)
        .execution_options(synchronize_session=False)
    )


def _unreachable(
    session: Session, host: Host, error: str, report: PassReport, seen_at: dt.datetime
) -> None:
    report.unreachable.append(host.id)
    if host.reachable:
        history.record(
            session,
            WHO,
            object_type="host",
            object_id=host.id,
            action="host.unreachable",
            params={"error": error[:300]},
        )
    host.reachable = False
    # Unknown, not stopped: the VMs may well be running; nobody can tell.
    mark_unknown(session, host.id)
    # ... but nobody reaches them either: every VM that should run is down for the SLA.
    vms = list(
        session.execute(
            select(Vm).where(
                Vm.host_id == host.id,
                Vm.vm_state == VmState.RUNNING.value,
                Vm.task_state.is_(None),
            )
        ).scalars()
    )
    open_now = outages.open_outages(session, [vm.id for vm in vms])
    since = host.last_seen or seen_at
    for vm in vms:
        if vm.id not in open_now and outages.open_outage(
            session, vm, start=since, detected_at=seen_at, cause="host-unreachable"
        ):
            report.outages_opened.append(vm.id)


def _host(
    session: Session,
    host: Host,
    domains: list[DomainStatus],
    up_until: dt.datetime,
    seen_at: dt.datetime,
    report: PassReport,
) -> None:
    by_uuid = {d.uuid: d for d in domains}
    vms = list(
        session.execute(
            select(Vm).where(Vm.host_id == host.id, Vm.vm_state != VmState.DELETED.value)
        ).scalars()
    )
    known = {UUID(vm.id) for vm in vms}
    open_now = outages.open_outages(session, [vm.id for vm in vms])
    for vm in vms:
        if vm.task_state is not None or vm.vm_state == VmState.BUILDING.value:
            continue  # an operation owns the VM; it settles the states itself
        report.vms_checked += 1
        domain = by_uuid.get(UUID(vm.id))
        if domain is None:
            drift = MISSING_DOMAIN.get(VmState(vm.vm_state))
            power = PowerState.UNKNOWN
        else:
            drift = DRIFT.get(VmState(vm.vm_state), {}).get(domain.power_state)
            power = domain.power_state
        if drift is None:
            continue
        before = vm.vm_state
        target = drift.becomes.value if drift.becomes is not None else before
        if target != before or power.value != vm.power_state:
            if not _sync(session, vm, target, power, report):
                continue
        if drift.outage is not None and vm.id not in open_now:
            cause = outage_cause(drift.outage, domain.stop_reason if domain else None)
            row = outages.open_outage(session, vm, start=up_until, detected_at=seen_at, cause=cause)
            if row is not None:
                report.outages_opened.append(vm.id)
        if drift.back and vm.id in open_now:
            if outages.close_outage(session, vm, seen_at, WHO) is not None:
                report.outages_closed.append(vm.id)
    for uuid, domain in by_uuid.items():
        if uuid not in known:
            _unknown(session, host, domain, report)


def _sync(session: Session, vm: Vm, target: str, power: PowerState, report: PassReport) -> bool:
    """Compare-and-swap the VM to what the hypervisor says; False if it moved meanwhile."""
    before = vm.vm_state
    if target != before:
        check_transition(before, VmState(target))
    values: dict[str, object] = {"vm_state": target, "power_state": power.value}
    if target == VmState.RUNNING.value and vm.activated_at is None:
        values["activated_at"] = utc_now()
    done = session.execute(
        update(Vm)
        .where(Vm.id == vm.id, Vm.task_state.is_(None), Vm.vm_state == before)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(vm)
    if target != before:
        report.changed.append((vm.id, before, target))
        history.record(
            session,
            WHO,
            object_type="vm",
            object_id=vm.id,
            action="vm.sync",
            params={"from": before, "to": target, "power_state": power.value},
            client_id=vm.client_id,
        )
    return True


def _unknown(session: Session, host: Host, domain: DomainStatus, report: PassReport) -> None:
    """Report a domain the platform does not know, once; never touch it."""
    report.unknown_domains.append((host.id, str(domain.uuid), domain.name))
    already = session.execute(
        select(HistoryEntry.seq).where(
            HistoryEntry.object_id == str(domain.uuid), HistoryEntry.action == UNKNOWN_DOMAIN
        )
    ).first()
    if already:
        return
    log.warning(
        "host %s runs a domain nuages does not know: %s (%s)", host.name, domain.name, domain.uuid
    )
    history.record(
        session,
        WHO,
        object_type="domain",
        object_id=str(domain.uuid),
        action=UNKNOWN_DOMAIN,
        params={"host_id": host.id, "name": domain.name, "power_state": domain.power_state},
    )


def passes_this_minute(every_s: int, minute: int) -> list[int]:
    """The delays (seconds) of the passes the once-a-minute task schedules: every
    ``every_s`` seconds below a minute, else one pass every ``every_s // 60`` minutes."""
    every_s = max(1, every_s)
    if every_s < 60:
        return list(range(0, 60, every_s))
    return [0] if minute % (every_s // 60) == 0 else []
