"""Automatic extensions (000 §8: "automatique en cas de manque de ressources détecté par
l'Infrastructure"): the owner's standing policy, evaluated by a job within its budget.

The signal is each VM's CPU time as the hypervisor counts it (``Hypervisor.cpu_time``,
libvirt's ``virDomainGetInfo``): compute keeps no CPU series, and CPU time is what every
libvirt host reports for every domain without an agent in the guest. Each pass (the job
``billing_extensions``, every minute) reads the CPU time of every running VM of the
contract (its own VMs, not an extension's) and keeps the readings
(``extension_cpu_samples``). Between two passes the contract's CPU use is
``Σ Δcpu_ns / Σ (Δhost_ns × vCPUs)`` over the VMs read both times. The policy fires when
the readings cover the last ``sustained_minutes`` and the use of *every* interval in
them was at least ``cpu_pct`` %: a sustained shortage, not a spike.

It then orders one extension of ``quantity`` × ``flavour_id`` for ``duration_hours``,
authorised by the policy (``policy_id``; ``decided_by`` is the owner who set it), unless
one it ordered is still running, and only if its full price, added to the full price of
every extension the policy ordered this calendar month (contract's time zone), stays
within ``monthly_budget``. Counting each extension at its full price — more than it
costs when its VMs start late or end early — means the budget can never be exceeded.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nuages.billing import ledger
from nuages.billing.extension_vms import LIVE, WHO
from nuages.billing.models import CpuSample, Extension, ExtensionPolicy, ExtensionState
from nuages.billing.pricing import OfferPricing
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.compute.services import exported as compute
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError
from nuages.kernel.money import round_ledger

log = logging.getLogger("nuages.billing.autoscale")
UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass
class AutoscaleReport:
    """What one pass did: extensions ordered, and policies that fired but were held."""

    ordered: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def run_pass(
    unit: UnitOfWork,
    registry: OfferRegistry,
    now: dt.datetime | None = None,
    settings: BillingSettings | None = None,
) -> AutoscaleReport:
    """Read the CPU time of every policy's VMs and order the extensions due; each policy
    in its own transaction."""
    now = now or utc_now()
    settings = settings or get_billing_settings()
    report = AutoscaleReport()
    with unit() as session:
        ids = list(
            session.execute(
                select(ExtensionPolicy.id).where(ExtensionPolicy.enabled.is_(True))
            ).scalars()
        )
    for policy_id in ids:
        try:
            with unit() as session:
                policy = session.get(ExtensionPolicy, policy_id)
                if policy is not None:
                    _evaluate(session, registry, policy, now, settings, report)
        except NuagesError as exc:
            log.info("policy %s: %s", policy_id, exc.detail)
            report.held.append(f"{policy_id}: {exc.detail}")
    return report


def sample(session: Session, contract_id: str, now: dt.datetime) -> int:
    """Read and keep the CPU time of the contract's running VMs (through compute; a host
    down gives no reading this time); return how many VMs were read."""
    count, readings = compute.cpu_times(session, contract_id)
    for vm_id, reading in readings:
        session.add(
            CpuSample(
                contract_id=contract_id,
                vm_id=vm_id,
                at=now,
                cpu_ns=reading.cpu_ns,
                host_ns=reading.host_ns,
                vcpus=reading.vcpus,
            )
        )
    session.flush()
    return count


def sustained_use(
    session: Session, contract_id: str, now: dt.datetime, minutes: int
) -> list[Decimal] | None:
    """The contract's CPU use (0–1) in each interval between passes over the last
    ``minutes``, oldest first; None while the readings do not cover that long yet."""
    start = now - dt.timedelta(minutes=minutes)
    first = session.execute(
        select(CpuSample.at)
        .where(CpuSample.contract_id == contract_id, CpuSample.at <= start)
        .order_by(CpuSample.at.desc())
        .limit(1)
    ).scalar()
    if first is None:
        return None
    by_time: dict[dt.datetime, dict[str, CpuSample]] = defaultdict(dict)
    for s in session.execute(
        select(CpuSample).where(CpuSample.contract_id == contract_id, CpuSample.at >= first)
    ).scalars():
        by_time[s.at][s.vm_id] = s
    times = sorted(by_time)
    uses = []
    for before, after in itertools.pairwise(times):
        used = capacity = 0
        for vm_id, s1 in by_time[after].items():
            s0 = by_time[before].get(vm_id)
            if s0 is None or s1.cpu_ns < s0.cpu_ns or s1.host_ns <= s0.host_ns:
                continue  # new VM, or restarted (its counter began again)
            used += s1.cpu_ns - s0.cpu_ns
            capacity += (s1.host_ns - s0.host_ns) * s1.vcpus
        uses.append(Decimal(used) / Decimal(capacity) if capacity else Decimal(0))
    return uses or None


def _evaluate(
    session: Session,
    registry: OfferRegistry,
    policy: ExtensionPolicy,
    now: dt.datetime,
    settings: BillingSettings,
    report: AutoscaleReport,
) -> None:
    contract = session.get(Contract, policy.contract_id)
    if contract is None or contract.state != "active":
        return
    sample(session, contract.id, now)
    # Readings older than the window (and one interval before it) are of no more use.
    keep = now - dt.timedelta(minutes=2 * policy.sustained_minutes + 5)
    session.execute(
        delete(CpuSample).where(CpuSample.contract_id == contract.id, CpuSample.at < keep)
    )
    uses = sustained_use(session, contract.id, now, policy.sustained_minutes)
    threshold = Decimal(policy.cpu_pct) / 100
    if uses is None or min(uses) < threshold:
        return
    grace = dt.timedelta(minutes=settings.extension_grace_minutes)
    mine = list(
        session.execute(select(Extension).where(Extension.policy_id == policy.id)).scalars()
    )
    if any(e.state in LIVE and e.ends_at + grace > now for e in mine):
        return  # the capacity it added is still there (or being taken back)
    contracts.require_provisioning(session, contract)
    offer = registry.for_contract(session, contract)
    ledger.prepaid_terms(offer)
    pricing = OfferPricing(offer)
    rate = pricing.flavours.get(policy.flavour_id)
    if rate is None:
        report.held.append(f"{policy.id}: flavour {policy.flavour_id} not priced")
        return
    ends_at = now + dt.timedelta(hours=policy.duration_hours)
    cost = round_ledger(pricing.charge(rate, now, ends_at) * policy.quantity)
    local = pricing.calendar.to_local(now)
    month_start, month_end = pricing.calendar.month_bounds(local.year, local.month)
    spent = Decimal(0)
    for e in mine:
        # Every extension the policy ordered this month, at its full price.
        e_rate = pricing.flavours.get(e.item_id)
        if e_rate is not None and e.active_from is not None:
            if month_start <= e.created_at < month_end:
                spent += round_ledger(pricing.charge(e_rate, e.active_from, e.ends_at) * e.quantity)
    if spent + cost > policy.monthly_budget:
        report.held.append(
            f"{policy.id}: {cost} more would take this month to {spent + cost}, above "
            f"the budget of {policy.monthly_budget}"
        )
        history.record(
            session,
            WHO,
            object_type="extension_policy",
            object_id=policy.id,
            action="extension.policy_held",
            params={"cost": str(cost), "spent": str(spent), "budget": str(policy.monthly_budget)},
            client_id=policy.client_id,
        )
        return
    ext = Extension(
        contract_id=contract.id,
        client_id=contract.client_id,
        kind="vms",
        item_id=policy.flavour_id,
        quantity=policy.quantity,
        starts_at=now,
        ends_at=ends_at,
        state=ExtensionState.APPROVED.value,
        active_from=now,
        reason=f"automatic: CPU at or above {policy.cpu_pct} % for {policy.sustained_minutes} min",
        requested_by=None,
        decided_by=policy.set_by,
        decided_at=now,
        policy_id=policy.id,
        ssh_key_ids="null",
    )
    session.add(ext)
    session.flush()
    history.record(
        session,
        WHO,
        object_type="extension",
        object_id=ext.id,
        action="extension.order",
        params={
            "contract_id": contract.id,
            "item": f"{policy.quantity} x {policy.flavour_id}",
            "starts_at": now.isoformat(),
            "ends_at": ends_at.isoformat(),
            "state": ext.state,
            "policy_id": policy.id,
            "cpu_use": [str(round(u * 100, 1)) for u in uses],
            "cost": str(cost),
            "month_spent": str(spent),
            "clause": "000 §8",
        },
        client_id=contract.client_id,
    )
    report.ordered.append(ext.id)
