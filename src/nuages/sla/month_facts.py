"""What the monthly SLA reports read of a batch of contracts (issue 22): their VMs,
outages or counted pieces (``counting``), maintenance, failure notices, amounts,
negative balances, credits already issued and 002 §4 probation, in a few statements per
batch; and the per-offer constants ``reports._measure`` reads for every VM."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nuages.billing.models import LedgerEntry, NegativeBalancePeriod
from nuages.compute.models import Vm
from nuages.contracts.models import Contract
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.invoicing.vat import total_with_vat
from nuages.kernel.clock import utc_now
from nuages.managed import probation as managed_probation
from nuages.sla import counting, maintenance, outages
from nuages.sla.models import SlaReport
from nuages.sla.service import notices_for
from nuages.terms import apply
from nuages.terms.calc import sla
from nuages.terms.schema import Offer


class Party(Protocol):
    """What a report needs of its contract: a ``Contract`` or a ``ContractRef``."""

    @property
    def id(self) -> str: ...

    @property
    def client_id(self) -> str: ...


def credit_mode(offer: Offer) -> str:
    """``on_request`` (002 §6 "sur demande"), ``automatic`` (000 §5) or ``none`` (no tiers,
    001 §6 best efforts). An SLA with tiers and no claim rule pays by itself (SPEC §17)."""
    terms = offer.sla
    if not terms.enabled or terms.best_effort or not terms.credit_tiers:
        return "none"
    return terms.claim.mode if terms.claim is not None else "automatic"


class OfferMonth:
    """An offer's month as every VM of it reads it: worked out once per offer, not per
    VM; ``figures`` keeps the line figures of each distinct counted month (most VMs with
    an outage share their amount, fee and counted minutes with others)."""

    def __init__(self, offer: Offer, year: int, month: int) -> None:
        self.calendar = apply.calendar_for(offer)
        self.start, self.end = self.calendar.month_bounds(year, month)
        self.issued_on = self.calendar.local_date(self.end)
        self.fees = {f.id: f.price for f in offer.catalogue.flavours}
        self.prepaid = offer.billing.mode == "prepaid"
        self.capped_per_month = offer.sla.caps.per_month_pct is not None
        self.mode = credit_mode(offer)
        self.suspends = offer.sla.suspended_while_balance_negative
        self.figures: dict[tuple[Any, ...], Any] = {}


@dataclass
class Facts:
    """What a batch of contracts' month needs, read in a few queries."""

    vms: dict[str, list[Any]]  # rows: id, contract_id, name, flavour_id, managed
    outages: dict[str, list[sla.Outage]]
    windows: dict[str, list[maintenance.VmWindow]]
    notices: dict[str, list[sla.FailureNotice]]
    vm_amounts: dict[str, Decimal]
    contract_amounts: dict[str, Decimal]
    negative: dict[str, list[tuple[dt.datetime, dt.datetime]]]
    previous: dict[str, list[sla.IssuedCredit]]
    # 002 §4: each managed VM's probation as the managed slice states it.
    probation: dict[str, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    # The counting path (monthly job): per offer version, its VMs' counted pieces; VMs it
    # leaves to the calculator (a failure notice, a late maintenance window).
    counts: dict[str, counting.MonthCount] = field(default_factory=dict)  # by contract id
    by_calculator: set[str] = field(default_factory=set)
    # Per offer object (``id``) and month: its constants and figures already worked out
    # (shared by a run's batches).
    plans: dict[tuple[int, int, int], OfferMonth] = field(default_factory=dict)

    def plan(self, offer: Offer, year: int, month: int) -> OfferMonth:
        key = (id(offer), year, month)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = OfferMonth(offer, year, month)
        return plan


def read_facts(
    session: Session,
    contracts: Sequence[tuple[Party, Offer]],
    start: dt.datetime,
    end: dt.datetime,
    *,
    fast: bool = False,
    counted: dict[int, counting.MonthCount] | None = None,
) -> Facts:
    """The batch's facts; ``fast``: count outages through ``counting`` (the monthly job)
    and read outage rows only for the VMs the calculator must measure; ``counted``: the
    month already counted per offer (``id`` of the offer object) for every contract."""
    ids = [c.id for c, _ in contracts]
    vms: dict[str, list[Any]] = defaultdict(list)
    rows = session.execute(
        select(Vm.id, Vm.contract_id, Vm.name, Vm.flavour_id, Vm.managed)
        .where(
            counting.among(session, Vm.contract_id, ids),
            Vm.activated_at.is_not(None),
            Vm.activated_at < end,
            or_(Vm.deleted_at.is_(None), Vm.deleted_at > start),
        )
        .order_by(Vm.contract_id, Vm.name, Vm.id)
    ).all()
    for vm in rows:
        vms[vm.contract_id].append(vm)
    windows = maintenance.windows_for(session, ids, start, end)
    notices: dict[str, list[sla.FailureNotice]] = defaultdict(list)
    # A notice made before the month may still date the month's first outage.
    early = start - dt.timedelta(days=31)
    for notice in notices_for(session, ids, early, end, by_contract=True):
        notices[notice.service].append(notice)
    counts: dict[str, counting.MonthCount] = {}
    by_calculator: set[str] = set()
    if fast:
        offers = {c.id: o for c, o in contracts}
        groups: dict[int, list[str]] = defaultdict(list)
        for contract, offer in contracts:  # one statement per offer version (one object)
            groups[id(offer)].append(contract.id)
        local = apply.calendar_for(contracts[0][1]).local_date(start)
        for key, members in groups.items():
            count = (counted or {}).get(key)
            if count is None:
                count = counting.MonthCount(offers[members[0]], local.year, local.month)
                count.load(session, members, min(end, utc_now()))
            counts |= dict.fromkeys(members, count)
        by_calculator = set(notices)
        for contract_id, vm_rows in vms.items():
            for vm in vm_rows:
                if vm.id in windows and maintenance.split(offers[contract_id], windows[vm.id])[1]:
                    by_calculator.add(vm.id)
        found = outages.vm_outages(session, sorted(by_calculator), start, end)
    else:
        found = outages.vm_outages(session, ids, start, end, by_contract=True)
    # The month's local dates (invoice periods are local days, half-open).
    calendar = apply.calendar_for(contracts[0][1])
    first, last = calendar.local_date(start), calendar.local_date(end)
    vm_amounts: dict[str, Decimal] = defaultdict(Decimal)
    contract_amounts: dict[str, Decimal] = defaultdict(Decimal)
    billed = session.execute(
        select(
            Invoice.contract_id,
            InvoiceLine.vm_id,
            InvoiceLine.gross_amount,
            InvoiceLine.net_amount,
            InvoiceLine.vat_rate,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            counting.among(session, Invoice.contract_id, ids),
            Invoice.kind == "invoice",
            InvoiceLine.period_start.is_not(None),
            InvoiceLine.period_start < last,
            InvoiceLine.period_end > first,
        )
    ).all()
    for contract_id, vm_id, gross, net, rate in billed:
        # 002 §6 "montant mensuel facturé": what was invoiced, VAT included (the credit
        # note that pays the credit is VAT included too).
        amount = gross if gross is not None else total_with_vat(net, rate)
        contract_amounts[contract_id] += amount
        if vm_id:
            vm_amounts[vm_id] += amount
    debited = session.execute(
        select(
            LedgerEntry.contract_id,
            LedgerEntry.resource_id,
            LedgerEntry.kind,
            func.sum(LedgerEntry.amount),
        )
        .where(
            counting.among(session, LedgerEntry.contract_id, ids),
            LedgerEntry.kind.in_(["usage", "fee"]),
            LedgerEntry.at > start,
            LedgerEntry.at <= end,
        )
        .group_by(LedgerEntry.contract_id, LedgerEntry.resource_id, LedgerEntry.kind)
    ).all()
    for contract_id, resource_id, kind, amount in debited:
        contract_amounts[contract_id] += -Decimal(amount or 0)
        if kind == "usage" and resource_id:
            vm_amounts[resource_id] += -Decimal(amount or 0)
    negative: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for contract_id, began, ended in session.execute(
        select(
            NegativeBalancePeriod.contract_id,
            NegativeBalancePeriod.started_at,
            NegativeBalancePeriod.ended_at,
        ).where(
            counting.among(session, NegativeBalancePeriod.contract_id, ids),
            NegativeBalancePeriod.started_at < end,
            or_(NegativeBalancePeriod.ended_at.is_(None), NegativeBalancePeriod.ended_at > start),
        )
    ):
        negative[contract_id].append((began, ended or end))
    previous: dict[str, list[sla.IssuedCredit]] = defaultdict(list)
    for report in session.execute(
        select(SlaReport).where(
            counting.among(session, SlaReport.contract_id, ids),
            SlaReport.issued_at >= start - dt.timedelta(days=62),
            SlaReport.issued_at < utc_now(),
        )
    ).scalars():
        for line in json.loads(report.lines):
            if Decimal(line.get("credit", "0")) > 0:
                previous[line["vm_id"]].append(
                    sla.IssuedCredit(report.issued_at.date(), Decimal(line["credit"]))
                )
    probation: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for contract, offer in contracts:
        terms = offer.sla.probation
        mine = vms.get(contract.id, [])
        if terms is None or not mine:
            continue
        if terms.applies_to == "managed_services" and not any(vm.managed for vm in mine):
            continue
        full = session.get(Contract, contract.id)
        period = managed_probation.probation_period(session, full) if full else None
        if period is None:
            continue
        for vm in mine:
            if vm.managed or terms.applies_to != "managed_services":
                probation[vm.id] = period
    return Facts(
        vms,
        found,
        windows,
        notices,
        vm_amounts,
        contract_amounts,
        negative,
        previous,
        probation,
        counts,
        by_calculator,
    )
