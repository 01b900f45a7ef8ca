"""Metering: every allocated VM (and every running extension) debited once per period.

``run(unit, now)`` meters each whole UTC hour ``[h, h + 1 h)`` that ended by ``now`` and
is not finished yet, oldest first: a worker that was down catches up each missed hour
once, in order. Within an hour, VMs are taken by ranges of ids (``metering_batch`` VMs
each); each range's entries are written in one transaction with ``ON CONFLICT DO
NOTHING`` on the idempotency key ``usage:vm:<id>:<period start>``, so a crash (even
``kill -9``) in the middle of an hour loses no money and a re-run writes only what is
missing. An hour is marked finished (``metering_periods``) after its last range.

VMs present for the whole period in a billed state — nearly all of them — are written by
the database itself, one ``INSERT … SELECT`` per range joined with the prices computed
here (``bulkmeter``); the others (arrived or deleted during the period) are priced one
by one (``vm_entry``) and written with ``ledger.bulk_insert``.

Rules (seed 000, offer ``billing.prepaid``):

- a VM is billed from ``activated_at`` (at the client's disposal, 000 §1 "Compte CLIENT")
  until ``deleted_at``; a part of a period is billed pro rata to the second;
- 000 §9: a service never lasts less than ``minimum_billed``: a VM deleted earlier is
  billed up to that minimum in its last period;
- ``stopped_vms_billed``: stopped VMs are billed or not; suspended VMs are billed per
  the suspension ground (000 §11.1), VMs in error are not. The state is read when the
  period is metered (compute keeps no state history);
- ``debit_basis = "monthly"``: the calendar month of the contract's time zone is debited
  once, in the hour in which it ends (000 §13.2);
- the price is the flavour's in the offer version the contract accepted, per hour or
  per month (see ``pricing``);
- 000 §18, §13.2: nothing is billed after the contract's end (``contracts.ended_at``):
  its VMs only wait for their image and erasure; an offer whose service continues
  through its exit window (002 §10, ``billed_after_end``) bills them until erased.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from nuages.billing import balance, bulkmeter, ledger
from nuages.billing.models import (
    BillingAccount,
    EntryKind,
    Extension,
    ExtensionState,
    MeteringPeriod,
)
from nuages.billing.pricing import HOUR, OfferPricing, Rate, floor_hour, hours
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.compute.services import reads as compute_reads
from nuages.contracts import revisions
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import ensure_aware, not_in_future, utc_now
from nuages.kernel.money import round_ledger
from nuages.kernel.settings import get_settings

log = logging.getLogger("nuages.billing.metering")

UnitOfWork = Callable[[], AbstractContextManager[Session]]
"""Opens a transaction that commits when the block ends (``Database.unit``)."""

BILLED_EXTENSION_STATES = (ExtensionState.APPROVED.value, ExtensionState.ENDED.value)
USAGE = EntryKind.USAGE.value
ZERO = Decimal(0)
ONE = Decimal(1)
Row = tuple[Any, ...]
"""An entry as a tuple in ``ledger.BULK_COLUMNS`` order."""


@functools.cache
def default_registry() -> OfferRegistry:
    """The offers of this installation, loaded once per process."""
    return OfferRegistry.from_directory(get_settings().offers_dir)


@dataclass
class MeteringReport:
    """What one run did."""

    periods: list[dt.datetime] = field(default_factory=list)
    written: int = 0
    unpriced: set[str] = field(default_factory=set)
    suspended: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)


def period_stamp(period_start: dt.datetime) -> str:
    """A period start as written in idempotency keys (UTC, to the minute)."""
    return f"{period_start.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def usage_key(resource_type: str, resource_id: str, period_start: dt.datetime) -> str:
    """The idempotency key of one resource's usage over the period starting then."""
    return f"usage:{resource_type}:{resource_id}:{period_stamp(period_start)}"


@dataclass
class Window:
    """One billing period ``[start, end)`` of the offers in ``hashes``."""

    start: dt.datetime
    end: dt.datetime
    hashes: tuple[str, ...]
    stamp: str = field(init=False)
    # Price, hours and description of a resource present for the whole window, by
    # (offer version, item): most VMs are, and need no arithmetic of their own.
    whole: dict[tuple[str, str], tuple[Decimal, Decimal, str]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.stamp = period_stamp(self.start)


class Pricer:
    """Offer pricing by offer version, loaded once per run."""

    def __init__(self, registry: OfferRegistry) -> None:
        self.registry = registry
        self.by_hash: dict[str, OfferPricing] = {}

    def load(self, session: Session) -> dict[str, OfferPricing]:
        """Pricing of every offer version a prepaid account's contract accepted."""
        hashes = session.execute(
            select(Contract.offer_hash)
            .join(BillingAccount, BillingAccount.contract_id == Contract.id)
            .distinct()
        ).scalars()
        for content_hash in hashes:
            if content_hash in self.by_hash:
                continue
            contract = session.execute(
                select(Contract).where(Contract.offer_hash == content_hash).limit(1)
            ).scalar_one()
            self.by_hash[content_hash] = OfferPricing(self.registry.for_contract(session, contract))
        return self.by_hash


def windows(pricing: dict[str, OfferPricing], start: dt.datetime) -> list[Window]:
    """The periods to meter in the hour ``[start, start + 1 h)``: the hour itself for
    hourly offers, and each monthly offer's local month if it ends within the hour."""
    end = start + HOUR
    hourly = tuple(sorted(h for h, p in pricing.items() if not p.monthly))
    out = [Window(start, end, hourly)] if hourly else []
    months: dict[tuple[dt.datetime, dt.datetime], list[str]] = {}
    for content_hash, p in pricing.items():
        if not p.monthly:
            continue
        local = p.calendar.to_local(start)
        month_start, month_end = p.calendar.month_bounds(local.year, local.month)
        if start < month_end <= end:
            months.setdefault((month_start, month_end), []).append(content_hash)
    out += [Window(s, e, tuple(sorted(h))) for (s, e), h in sorted(months.items())]
    return out


def vm_entry(
    p: OfferPricing, vm: Any, w: Window, now: dt.datetime
) -> tuple[Row | None, str | None]:
    """The usage entry of one VM row for window ``w`` (or None), and the flavour id if
    the offer does not price it."""
    rate = p.flavours.get(vm.flavour_id)
    if rate is None:
        return None, vm.flavour_id
    if not p.is_billed(vm.vm_state, vm.suspended_reason):
        return None, None
    gone = vm.deleted_at
    if vm.ended_at is not None and not p.billed_after_end:
        # 000 §18, §13.2: the contract's end is the end of the VM's billed life.
        gone = vm.ended_at if gone is None else min(gone, vm.ended_at)
        if gone <= w.start:
            return None, None
    if vm.activated_at <= w.start and (gone is None or gone > w.end):
        priced = w.whole.get((vm.offer_hash, rate.item_id))
        if priced is None:
            priced = _priced(rate, p.charge(rate, w.start, w.end), w.end - w.start, 1)
            w.whole[(vm.offer_hash, rate.item_id)] = priced
    else:
        start = max(w.start, vm.activated_at)
        end = w.end if gone is None else min(w.end, gone)
        amount = p.charge(rate, start, end)
        used = max(end - start, dt.timedelta(0))
        if gone is not None and gone <= w.end:
            # 000 §9: never less than the minimum service: the VM's last period carries
            # whatever its life fell short of it.
            short = p.minimum_billed - (gone - vm.activated_at)
            if short > dt.timedelta(0):
                amount += p.charge(rate, gone, gone + short)
                used += short
        priced = _priced(rate, amount, used, 1)
    return _row(p.currency, vm.contract_id, vm.client_id, "vm", vm.id, rate, w, priced, now), None


def _priced(
    rate: Rate, amount: Decimal, used: dt.timedelta, quantity: int
) -> tuple[Decimal, Decimal, str]:
    """The signed ledger amount, the hours and the description of one usage."""
    qty = hours(used) * quantity
    return -round_ledger(amount), qty, f"{rate.item_id}: {qty} h at {rate.price}/{rate.unit.value}"


def _row(
    currency: str,
    contract_id: str,
    client_id: str,
    resource_type: str,
    resource_id: str,
    rate: Rate,
    w: Window,
    priced: tuple[Decimal, Decimal, str],
    now: dt.datetime,
) -> Row | None:
    """A usage entry as a tuple in ``ledger.BULK_COLUMNS`` order (None if it is free)."""
    value, qty, description = priced
    if value >= 0:
        return None
    return (
        contract_id,
        client_id,
        USAGE,
        value,
        currency,
        w.end,
        now,
        f"usage:{resource_type}:{resource_id}:{w.stamp}",
        "",
        description,
        None,
        resource_type,
        resource_id,
        w.start,
        w.end,
        qty,
        rate.price,
        None,
    )


def _partial_vms(session: Session, w: Window, lo: str, hi: str | None) -> list[Any]:
    """The VMs with ids in ``(lo, hi]`` that arrived or left during ``w`` (the others,
    present all along, are written by ``bulkmeter.insert_whole``)."""
    v = compute_reads.vms_during(w.start, w.end)
    stmt = (
        select(
            v.c.id,
            v.c.contract_id,
            v.c.client_id,
            v.c.flavour_id,
            v.c.vm_state,
            v.c.suspended_reason,
            v.c.activated_at,
            v.c.deleted_at,
            Contract.offer_hash,
            Contract.ended_at,
        )
        .join(BillingAccount, BillingAccount.contract_id == v.c.contract_id)
        .join(Contract, Contract.id == v.c.contract_id)
        .where(
            v.c.id > lo,
            v.c.extension_id.is_(None),  # billed as its extension's VM-hours
            Contract.offer_hash.in_(w.hashes),
            or_(
                compute_reads.came_or_left(v, w.start, w.end),
                # the contract ended within the window: billed up to its end (000 §18)
                and_(Contract.ended_at > w.start, Contract.ended_at < w.end),
            ),
        )
    )
    if hi is not None:
        stmt = stmt.where(v.c.id <= hi)
    return list(session.execute(stmt).all())


def meter_window(
    unit: UnitOfWork,
    pricing: dict[str, OfferPricing],
    w: Window,
    now: dt.datetime,
    batch: int,
    report: MeteringReport,
    burn: dict[str, Decimal],
) -> None:
    """Debit every VM and extension of window ``w``, one committed range of VM ids at
    a time; add each contract's cost per hour of the window to ``burn``."""

    def whole(offer_hash: str, rate: Rate) -> tuple[Decimal, Decimal, str]:
        key = (offer_hash, rate.item_id)
        priced = w.whole.get(key)
        if priced is None:
            amount = pricing[offer_hash].charge(rate, w.start, w.end)
            priced = w.whole[key] = _priced(rate, amount, w.end - w.start, 1)
        return priced

    prices, grounds = bulkmeter.prices_for(pricing, w.hashes, whole)
    with unit() as session:
        ranges = bulkmeter.bounds(session, batch)
    spent: dict[str, Decimal] = {}
    for lo, hi in ranges:
        with unit() as session:
            report.written += bulkmeter.insert_whole(
                session, prices, grounds, w.start, w.end, now, w.stamp, lo, hi
            )
            rows = []
            for vm in _partial_vms(session, w, lo, hi):
                row, unpriced = vm_entry(pricing[vm.offer_hash], vm, w, now)
                if unpriced is not None:
                    report.unpriced.add(unpriced)
                if row is not None:
                    rows.append(row)
                    spent[row[0]] = spent.get(row[0], ZERO) + row[3]
            report.written += ledger.bulk_insert(session, rows)
    with unit() as session:
        rows = extension_entries(session, pricing, w, now)
        for row in rows:
            spent[row[0]] = spent.get(row[0], ZERO) + row[3]
        report.written += ledger.bulk_insert(session, rows)
        after_end = [h for h in w.hashes if pricing[h].billed_after_end]
        for contract_id, offer_hash, flavour_id, state, reason, count in bulkmeter.census(
            session, w.hashes, w.start, w.end, after_end
        ):
            p = pricing[offer_hash]
            rate = p.flavours.get(flavour_id)
            if rate is None:
                report.unpriced.add(flavour_id)
            elif p.is_billed(state, reason):
                spent[contract_id] = (
                    spent.get(contract_id, ZERO) + whole(offer_hash, rate)[0] * count
                )
    period_hours = Decimal((w.end - w.start).total_seconds()) / Decimal(3600)
    for contract_id, total in spent.items():
        burn[contract_id] = burn.get(contract_id, ZERO) - total / period_hours


def extension_entries(
    session: Session, pricing: dict[str, OfferPricing], w: Window, now: dt.datetime
) -> list[Row]:
    """000 §8: authorised extensions running during ``w``, billed over [active_from,
    ends_at) ∩ ``w``, one entry per extension and period:

    - ``vms``: per extra VM-hour its VMs (``vms.extension_id``) were there, each from
      its activation to its deletion, in a billed state; a VM not created yet (or whose
      create failed) costs nothing, and the grace period after ``ends_at`` is free;
    - ``resources``: the price difference between flavour ``item_id`` and the VM's own
      flavour, per hour (the VM itself is billed at its own flavour);
    - ``option``: quantity × the option's price.
    """
    found = session.execute(
        select(Extension, Contract.offer_hash, Contract.ended_at)
        .join(Contract, Contract.id == Extension.contract_id)
        .join(BillingAccount, BillingAccount.contract_id == Extension.contract_id)
        .where(
            Contract.offer_hash.in_(w.hashes),
            Extension.state.in_(BILLED_EXTENSION_STATES),
            Extension.active_from.is_not(None),
            Extension.active_from < w.end,
            Extension.ends_at > w.start,
        )
    ).all()
    vms_of = _extension_vms(session, [e.id for e, _, _ in found if e.kind == "vms"], w)
    enlarged = [e.vm_id for e, _, _ in found if e.kind == "resources" and e.vm_id]
    own_flavour = compute_reads.flavours_by_id(session, enlarged)
    rows = []
    for ext, offer_hash, ended_at in found:
        if ext.active_from is None:  # excluded by the query; keeps the types honest
            continue
        p = pricing[offer_hash]
        table = p.options if ext.kind == "option" else p.flavours
        rate = table.get(ext.item_id)
        if rate is None:
            continue
        start, end = max(w.start, ext.active_from), min(w.end, ext.ends_at)
        if ended_at is not None and not p.billed_after_end:
            end = min(end, ended_at)  # 000 §18, §13.2: nothing after the contract's end
            if end <= start:
                continue
        if ext.kind == "vms":
            amount, used = ZERO, dt.timedelta(0)
            for vm in vms_of.get(ext.id, []):
                if not p.is_billed(vm.vm_state, vm.suspended_reason):
                    continue
                vm_start = max(start, vm.activated_at)
                vm_end = end if vm.deleted_at is None else min(end, vm.deleted_at)
                if vm_end > vm_start:
                    amount += p.charge(rate, vm_start, vm_end)
                    used += vm_end - vm_start
            priced = _priced(rate, amount, used, 1)
        elif ext.kind == "resources":
            base = p.flavours.get(own_flavour.get(ext.vm_id or "", ""))
            extra = p.charge(rate, start, end) - (p.charge(base, start, end) if base else ZERO)
            priced = _priced(rate, max(extra, ZERO), end - start, 1)
        else:
            amount = p.charge(rate, start, end) * ext.quantity
            priced = _priced(rate, amount, end - start, ext.quantity)
        row = _row(p.currency, ext.contract_id, ext.client_id, "extension", ext.id, rate, w,
                   priced, now)  # fmt: skip
        if row is not None:
            rows.append(row)
    return rows


def _extension_vms(session: Session, extension_ids: list[str], w: Window) -> dict[str, list[Any]]:
    """The VMs of the given extensions that were there during ``w``, by extension."""
    out: dict[str, list[Any]] = {}
    if not extension_ids:
        return out
    v = compute_reads.vms_during(w.start, w.end)
    rows = session.execute(
        select(
            v.c.extension_id, v.c.vm_state, v.c.suspended_reason, v.c.activated_at, v.c.deleted_at
        ).where(v.c.extension_id.in_(extension_ids))
    ).all()
    for row in rows:
        out.setdefault(row.extension_id, []).append(row)
    return out


def pending_periods(session: Session, now: dt.datetime) -> list[dt.datetime]:
    """Starts of the whole hours ended by ``now`` and not metered yet, oldest first."""
    last = session.execute(select(func.max(MeteringPeriod.period_start))).scalar()
    if last is not None:
        first = last + HOUR
    else:
        starts = [
            session.execute(
                select(compute_reads.first_activation(select(BillingAccount.contract_id)))
            ).scalar(),
            session.execute(
                select(func.min(Extension.active_from)).where(
                    Extension.state.in_(BILLED_EXTENSION_STATES)
                )
            ).scalar(),
        ]
        known = [s for s in starts if s is not None]
        if not known:
            return []
        first = floor_hour(min(known))
    out = []
    cursor = first
    while cursor + HOUR <= now:
        out.append(cursor)
        cursor += HOUR
    return out


def run(
    unit: UnitOfWork,
    now: dt.datetime | None = None,
    *,
    registry: OfferRegistry | None = None,
    settings: BillingSettings | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> MeteringReport:
    """Meter every whole hour not metered yet up to ``now``, then apply the balance
    rules (000 §11.2 suspension and resumption, low-balance warnings).

    ``progress(done, total, step)`` is told each hour caught up (the CLI's bar).

    ``now`` may be the present or a past moment (catching up); a future one is refused
    (17.8): it would debit hours that have not happened and mark them metered."""
    if now is not None:
        not_in_future("now", now)
    now = ensure_aware(now or utc_now())
    registry = registry or default_registry()
    settings = settings or get_billing_settings()
    report = MeteringReport()
    pricer = Pricer(registry)
    with unit() as session:
        periods = pending_periods(session, now)
        pricing = pricer.load(session)
    burn: dict[str, Decimal] = {}
    for done, start in enumerate(periods):
        if progress is not None:
            progress(done, len(periods), f"hour {start:%Y-%m-%d %H:%M}Z")
        burn = {}
        written_before = report.written
        for w in windows(pricing, start):
            meter_window(unit, pricing, w, now, settings.metering_batch, report, burn)
        with unit() as session:
            session.execute(
                ledger.insert_ignoring(
                    session,
                    MeteringPeriod.__table__,
                    [
                        {
                            "period_start": start,
                            "period_end": start + HOUR,
                            "completed_at": now,
                            "entries": report.written - written_before,
                        }
                    ],
                )
            )
        report.periods.append(start)
        log.info("metered %s: %d entries", start.isoformat(), report.written - written_before)
        if progress is not None:
            progress(done + 1, len(periods), f"hour {start:%Y-%m-%d %H:%M}Z metered")
    if progress is not None:
        progress(len(periods), len(periods), "balance rules")
    outcome = balance.enforce_all(unit, registry, now, settings)
    report.suspended, report.resumed = outcome.suspended, outcome.resumed
    if burn:
        # The burn at the revised price (000 §13.3), as the account summary shows it.
        with unit() as session:
            factors = revisions.factors_at(session, sorted(burn), now)
        burn = {c: balance.revised(b, factors.get(c, ONE)) for c, b in burn.items()}
        report.warned = balance.warn_low_balances(unit, burn, now, settings)
    if report.unpriced:
        log.warning("flavours without an hourly or monthly price: %s", sorted(report.unpriced))
    return report
