"""Monthly SLA reports per contract (002 §6, 001 §6, 000 §5; issue 22).

Each VM of a contract is a service. Its month is measured by the offer's formula and
denominator (``terms.apply.sla_for_month``): 002 §6 over the month's coverage minutes
(Mon–Fri 08:00–18:00 less public holidays and excused maintenance, SPEC §17), counted
from the earlier of detection and the client's failure notice; 001 §6 and 000 §5 24/7.
The credit is the tier's share of the service's monthly amount (the invoiced amount of
the VM for the month, or its prepaid debits of the month; without either, the
flavour's price), with the 002 §6 cap of 20 % of that service's fees per 30 days; 000 §5
caps the contract's penalties at 30 % of the month's invoice (its debits, prepaid) and
drops the time the account was negative. A managed server has no SLA during the 002 §4
probation, as the managed slice states it (``managed.probation.probation_period``: 3
months from the end of the footprint audit); that time leaves the count.

The monthly job counts outages in SQL (``counting``); ``measure`` (one contract, read
routes) runs the pure calculator per VM; both give the same figures.

A report is immutable once issued (append-only table). Running the month again issues
nothing when nothing changed, and a corrected version (``version`` + 1) saying what
changed when a late fact moved the figures; its credit is what the new figures grant
beyond the credits already granted (a credit given is never taken back).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Vm
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.calendar import Unit
from nuages.kernel.clock import utc_now
from nuages.kernel.db import new_id
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.money import round_cents
from nuages.sla import counting, maintenance
from nuages.sla.bulk import insert_many as _insert_many
from nuages.sla.models import SlaCredit, SlaReport
from nuages.sla.month_facts import Facts as _Facts
from nuages.sla.month_facts import OfferMonth, Party
from nuages.sla.month_facts import credit_mode as credit_mode  # read by views
from nuages.sla.month_facts import read_facts as _facts
from nuages.terms import apply
from nuages.terms.calc import sla
from nuages.terms.schema import Offer

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PCT = Decimal("0.000001")


def check_month(year: int, month: int) -> None:
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValidationFailed(f"month: {year:04d}-{month:02d} is not a calendar month")


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month), or a 422 naming ``month``."""
    try:
        day = dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ValidationFailed(f"month: {text!r} is not YYYY-MM") from None
    return day.year, day.month


class ContractRef(NamedTuple):
    """A contract as the monthly job reads it: four columns, not an ORM object (10,000
    of those cost more than the counting)."""

    id: str
    client_id: str
    offer_id: str
    offer_hash: str


@dataclass
class ContractMonth:
    """One contract's month as measured now (not yet a report)."""

    contract: Party
    offer: Offer
    year: int
    month: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    availability_pct: Decimal = HUNDRED
    objective_met: bool = True
    counted_minutes: Decimal = ZERO
    credit_amount: Decimal = ZERO
    # Each line's ``json.dumps(line, sort_keys=True)``, when ``_measure`` wrote them from
    # its templates (most lines differ only by id, name and amount).
    texts: list[str] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def lines_json(self) -> str:
        """The lines as stored, ``json.dumps(lines, sort_keys=True)`` (read once the month
        is measured)."""
        if self.texts is not None and len(self.texts) == len(self.lines):
            return "[" + ", ".join(self.texts) + "]"  # json.dumps's separators
        return json.dumps(self.lines, sort_keys=True)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of ``json.dumps([lines, str(credit)], sort_keys=True)`` (the lines hold
        only text, numbers and booleans), built from ``lines_json`` without a second
        encoding: the same digest as every report issued before."""
        data = f"[{self.lines_json}, {json.dumps(str(self.credit_amount))}]"
        return hashlib.sha256(data.encode()).hexdigest()


_NOTHING = {"availability_pct": "100", "counted_minutes": "0", "credit": "0"}
# A line's keys sort as: the figures before "monthly_amount", "name", "note",
# "objective_met", "probation_until", "rolling_cap_applied", "vm_id".
_NOTHING_HEAD = "{" + json.dumps(_NOTHING, sort_keys=True)[1:-1] + ", "
_quote = encode_basestring_ascii  # json.dumps(text): the same bytes
_NO_WINDOWS: tuple[list[apply.MaintenanceWindow], list[sla.Outage]] = ([], [])  # never changed


class _Figures(NamedTuple):
    """A measured VM's line figures, what the contract's totals take of them, and the
    line's JSON around its id, name and amount."""

    line: dict[str, Any]
    unavailable: Decimal
    availability: Decimal
    objective_met: bool
    credit: Decimal
    head: str  # the keys before "monthly_amount"
    middle: str  # "objective_met" and "rolling_cap_applied"


def _figures(
    offer: Offer, plan: OfferMonth, assessment: apply.SlaAssessment, late: int
) -> _Figures:
    """A measured VM's line figures (``_Figures``)."""
    report = assessment.report
    credit = assessment.credit_amount or ZERO
    if plan.capped_per_month:  # capped over the contract below (000 §5), not per VM
        credit = round_cents(report.credit_before_cap)
    if plan.mode == "none":
        credit = ZERO
    availability = report.availability_pct.quantize(PCT)
    line = {
        "availability_pct": str(availability),
        "counted_minutes": str(report.unavailable_minutes),
        "denominator_minutes": str(report.denominator_minutes),
        "coverage_minutes": str(report.coverage_minutes),
        "credit_rate_pct": str(report.credit_rate_pct),
        "credit": str(credit),
        "rolling_cap_applied": assessment.rolling_cap_applied,
        "late_maintenance": late,
        "objective_met": assessment.objective_met,
    }
    before = {k: v for k, v in line.items() if k < "monthly_amount"}
    after = {k: v for k, v in line.items() if k > "monthly_amount"}
    assert all("name" < k < "vm_id" for k in after)
    return _Figures(
        line,
        report.unavailable_minutes,
        availability,
        assessment.objective_met,
        credit,
        "{" + json.dumps(before, sort_keys=True)[1:-1] + ", ",
        json.dumps(after, sort_keys=True)[1:-1] + ", ",
    )


def _measure(contract: Party, offer: Offer, year: int, month: int, facts: _Facts) -> ContractMonth:
    plan = facts.plan(offer, year, month)
    calendar, start, end = plan.calendar, plan.start, plan.end
    result = ContractMonth(contract, offer, year, month)
    count = facts.counts.get(contract.id)
    negative = facts.negative.get(contract.id, [])
    suspended = list(negative) if plan.suspends else []  # apply.suspended_spans
    lines = result.lines
    texts: list[str] = []
    result.texts = texts
    # Read once, not per VM (50,000 of them in a month).
    fees, prepaid, amounts = plan.fees, plan.prepaid, facts.vm_amounts
    all_windows, probation = facts.windows, facts.probation
    by_calculator = facts.by_calculator
    happened_in_sql = count.any_outage if count is not None else set()
    amount_total = ZERO  # the lines' monthly amounts (the 000 §5 cap's fallback base)
    counted, availability, met, credited = ZERO, HUNDRED, True, ZERO
    for vm in facts.vms.get(contract.id, ()):
        vm_id, name = vm.id, vm.name
        fee = fees.get(vm.flavour_id)
        amount = amounts.get(vm_id) or ZERO
        if not amount and not prepaid:
            amount = fee or ZERO  # not invoiced yet: the flavour's monthly price
        shown = str(amount)
        amount_total += amount
        line: dict[str, Any] = {"vm_id": vm_id, "name": name, "monthly_amount": shown}
        windows = all_windows.get(vm_id)
        excused, late = maintenance.split(offer, windows) if windows else _NO_WINDOWS
        # 002 §4: no SLA while the managed slice says the service is in probation.
        no_sla: list[tuple[dt.datetime, dt.datetime]] = []
        period = probation.get(vm_id) if probation else None
        if period is not None and period[0] < end and period[1] > start:
            line["probation_until"] = period[1].isoformat()
            no_sla.append(period)
            if period[0] <= start and period[1] >= end:
                line |= _NOTHING
                line["note"] = "no SLA during the managed service's probation (002 §4)"
                lines.append(line)
                texts.append(json.dumps(line, sort_keys=True))
                continue
        in_sql = count is not None and vm_id not in by_calculator
        if in_sql:
            happened = vm_id in happened_in_sql
        else:
            found = [*facts.outages.get(vm.id, []), *late]
            happened = bool(found)
        if not happened and not excused:  # nothing happened: 100 %, no calculation needed
            line |= _NOTHING
            lines.append(line)
            if period is None:
                texts.append(
                    f'{_NOTHING_HEAD}"monthly_amount": {_quote(shown)}, '
                    f'"name": {_quote(name)}, "vm_id": {_quote(vm_id)}}}'
                )
            else:
                texts.append(json.dumps(line, sort_keys=True))
            continue
        previous = facts.previous.get(vm.id, [])
        if in_sql and count is not None:  # the monthly job: counted in SQL (``counting``)
            excluded = apply.excluded_maintenance(offer, calendar, excused) if excused else []
            unavailable, covered = count.minutes(
                vm_id, excluded=excluded, suspended=[*suspended, *no_sla]
            )
            # The figures are a function of these alone (``excluded`` only changes the
            # coverage, in the key): Decimals by their text, which the line stores.
            key = (
                str(amount),
                str(fee),
                str(unavailable),
                str(covered),
                len(late),
                tuple((p.issued_on, str(p.amount)) for p in previous) if previous else (),
            )
            figures = plan.figures.get(key)
            if figures is None:
                month_figures = sla.month_figures(
                    calendar, year, month, count.policy, amount, unavailable, covered
                )
                assessment = apply.assess(
                    offer,
                    year,
                    month,
                    month_figures,
                    amount,
                    previous_credits=previous,
                    issued_on=plan.issued_on,
                    service_monthly_fee=fee,
                    excluded=excluded,
                )
                figures = plan.figures[key] = _figures(offer, plan, assessment, len(late))
        else:
            assessment = apply.sla_for_month(
                offer,
                year,
                month,
                found,
                amount,
                maintenance=excused,
                negative_balance=negative,
                previous_credits=previous,
                issued_on=plan.issued_on,
                failure_notices=facts.notices.get(vm.id, []),
                service_monthly_fee=fee,
                no_sla=no_sla,
            )
            figures = _figures(offer, plan, assessment, len(late))
        line |= figures.line
        lines.append(line)
        if period is None:
            texts.append(
                f'{figures.head}"monthly_amount": {_quote(shown)}, '
                f'"name": {_quote(name)}, {figures.middle}"vm_id": {_quote(vm_id)}}}'
            )
        else:
            texts.append(json.dumps(line, sort_keys=True))
        counted += figures.unavailable
        availability = min(availability, figures.availability)
        met = met and figures.objective_met
        credited += figures.credit
    result.counted_minutes, result.availability_pct = counted, availability
    result.objective_met, result.credit_amount = met, credited
    pct = offer.sla.caps.per_month_pct
    if pct is not None:
        # The lines' amounts as they read (Decimal(str(a)) == a, exponent included).
        base = facts.contract_amounts.get(contract.id) or amount_total
        result.credit_amount = min(result.credit_amount, round_cents(base * pct / HUNDRED))
    return result


def measure(
    session: Session, registry: OfferRegistry, contract: Contract, year: int, month: int
) -> ContractMonth:
    """One contract's month as it stands now (nothing written)."""
    offer = registry.for_contract(session, contract)
    start, end = apply.calendar_for(offer).month_bounds(year, month)
    return _measure(contract, offer, year, month, _facts(session, [(contract, offer)], start, end))


def latest(session: Session, contract_id: str, year: int, month: int) -> SlaReport | None:
    """The newest issued version of a contract's month."""
    return session.execute(
        select(SlaReport)
        .where(
            SlaReport.contract_id == contract_id, SlaReport.year == year, SlaReport.month == month
        )
        .order_by(SlaReport.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def _changes(before: SlaReport, now: ContractMonth) -> str:
    old = {x["vm_id"]: x for x in json.loads(before.lines)}
    parts = []
    for line in now.lines:
        was = old.get(line["vm_id"], {})
        if was.get("counted_minutes") != line.get("counted_minutes") or was.get(
            "credit"
        ) != line.get("credit"):
            parts.append(
                f"{line['name']}: counted {was.get('counted_minutes', '0')} → "
                f"{line.get('counted_minutes')} min, credit {was.get('credit', '0')} → "
                f"{line.get('credit')}"
            )
    parts.append(f"contract credit {before.credit_amount} → {now.credit_amount}")
    return f"corrects version {before.version}: " + "; ".join(parts)


@dataclass
class RunResult:
    """What one monthly run wrote."""

    contracts: int = 0
    issued: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)


def _claim_until(offer: Offer, issued_at: dt.datetime) -> dt.datetime | None:
    claim = offer.sla.claim
    if claim is None or claim.window is None:
        return None  # no window stated: claims stay open (SPEC §17)
    return apply.calendar_for(offer).add(
        issued_at, claim.window.amount, Unit(claim.window.unit.value)
    )


@dataclass
class _Pending:
    """Reports and credits of a batch, written with one statement each."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)


def _issue(
    session: Session,
    who: Actor,
    measured: ContractMonth,
    before: SlaReport | None,
    result: RunResult,
    pending: _Pending,
) -> None:
    contract, offer = measured.contract, measured.offer
    now = utc_now()
    report: dict[str, Any] = {
        "id": new_id(),
        "contract_id": contract.id,
        "client_id": contract.client_id,
        "offer_id": offer.id,
        "year": measured.year,
        "month": measured.month,
        "version": 1 if before is None else before.version + 1,
        "supersedes_id": None if before is None else before.id,
        "changes": "" if before is None else _changes(before, measured),
        "denominator": offer.sla.denominator,
        "objective_pct": offer.sla.objective_pct,
        "availability_pct": measured.availability_pct,
        "objective_met": measured.objective_met,
        "counted_minutes": measured.counted_minutes,
        "credit_amount": measured.credit_amount,
        "credit_mode": credit_mode(offer),
        "fingerprint": measured.fingerprint,
        "lines": measured.lines_json,
        "issued_at": now,
    }
    pending.reports.append(report)
    (result.issued if before is None else result.corrected).append(report["id"])
    granted = ZERO
    if before is not None:
        earlier = select(SlaReport.id).where(
            SlaReport.contract_id == contract.id,
            SlaReport.year == measured.year,
            SlaReport.month == measured.month,
        )
        for credit in session.execute(
            select(SlaCredit).where(SlaCredit.report_id.in_(earlier))
        ).scalars():
            if credit.state == "claimable":
                credit.state = "superseded"  # the corrected report's credit replaces it
            elif credit.state in ("due", "applied"):
                granted += credit.amount
        # A correction is rare and says what changed: each one has its own history entry.
        history.record(
            session,
            who,
            object_type="sla_report",
            object_id=report["id"],
            action="sla.report.correct",
            params={
                "contract_id": contract.id,
                "month": f"{measured.year:04d}-{measured.month:02d}",
                "version": report["version"],
                "changes": report["changes"][:500],
                "credit": str(measured.credit_amount),
            },
            client_id=contract.client_id,
            scope="billing",
        )
    amount = measured.credit_amount - granted
    if amount > 0 and report["credit_mode"] != "none":
        on_request = report["credit_mode"] == "on_request"
        credit_id = new_id()
        pending.credits.append(
            {
                "id": credit_id,
                "report_id": report["id"],
                "contract_id": contract.id,
                "client_id": contract.client_id,
                "amount": amount,
                "state": "claimable" if on_request else "due",
                "claim_until": _claim_until(offer, now) if on_request else None,
                "claimed_at": None,
                "claimed_by": None,
                "applied_at": None,
                "applied_ref": None,
                "created_at": now,
            }
        )
        result.credits.append(credit_id)


def _write(session: Session, who: Actor, pending: _Pending, year: int, month: int) -> None:
    """Write a batch's reports and credits, and one history entry for the batch (each
    report is itself an append-only record naming its contract)."""
    _insert_many(session, SlaReport.__tablename__, pending.reports)
    _insert_many(session, SlaCredit.__tablename__, pending.credits)
    first = [r for r in pending.reports if r["version"] == 1]
    if first:
        history.record(
            session,
            who,
            object_type="sla_month",
            object_id=f"{year:04d}-{month:02d}",
            action="sla.report.issue",
            params={
                "reports": len(first),
                "credits": len(pending.credits),
                "credit_total": str(sum((c["amount"] for c in pending.credits), ZERO)),
            },
            scope="billing",
        )


def issue_month(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    year: int,
    month: int,
    *,
    contract_ids: Sequence[str] | None = None,
    batch: int = 2000,
    fast: bool = True,
) -> RunResult:
    """Issue the month's report of every contract with a VM in it (or ``contract_ids``):
    a new report, a corrected version when the figures moved, nothing otherwise.
    Outages are counted in SQL (``counting``; ``fast=False``: by the calculator, VM by
    VM, as ``measure`` does)."""
    with _collector_paused():
        return _issue_month(session, who, registry, year, month, contract_ids, batch, fast)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """CPython's cyclic collector paused for the run (it runs again after): a run keeps
    its batch's rows, lines and counted pieces alive until the batch is written, and the
    collector's passes traversed them again and again (0.5 to 0.7 s of a 10,000-report
    run of 1.8 to 2.0 s, bench/sla.py on SQLite). The run makes few cycles; its garbage
    is freed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _issue_month(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    year: int,
    month: int,
    contract_ids: Sequence[str] | None,
    batch: int,
    fast: bool,
) -> RunResult:
    check_month(year, month)
    result = RunResult()
    stmt = select(Contract.id, Contract.client_id, Contract.offer_id, Contract.offer_hash).where(
        Contract.id.in_(select(Vm.contract_id).where(Vm.activated_at.is_not(None)))
    )
    if contract_ids is not None:
        stmt = stmt.where(Contract.id.in_(list(contract_ids)))
    by_offer: dict[str, list[tuple[Party, Offer]]] = defaultdict(list)
    versions: dict[tuple[str, str], Offer] = {}
    # Each offer object's (offer id, content hash) pairs: every contract reported, the
    # month is counted once per offer for all of them (not per batch of ids).
    pairs_of: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row in session.execute(stmt.order_by(Contract.id)).all():
        ref = ContractRef(*row)
        offer = versions.get((ref.offer_id, ref.offer_hash))
        if offer is None:  # once per offer version, through the registry
            full = session.get(Contract, ref.id)
            assert full is not None
            offer = versions[(ref.offer_id, ref.offer_hash)] = registry.for_contract(session, full)
            pairs_of[id(offer)].append((ref.offer_id, ref.offer_hash))
        by_offer[offer.offer.timezone].append((ref, offer))
    for pairs in by_offer.values():
        start, end = apply.calendar_for(pairs[0][1]).month_bounds(year, month)
        if end > utc_now():
            raise ValidationFailed(f"month: {year:04d}-{month:02d} is not over")
        plans: dict[tuple[int, int, int], OfferMonth] = {}  # shared by the batches
        counted: dict[int, counting.MonthCount] = {}
        if fast and contract_ids is None:
            local = apply.calendar_for(pairs[0][1]).local_date(start)
            for offer in {id(o): o for _, o in pairs}.values():
                count = counting.MonthCount(offer, local.year, local.month)
                only = len(pairs_of) == 1  # one offer version in the whole run
                count.load_offer(session, pairs_of[id(offer)], min(end, utc_now()), only=only)
                counted[id(offer)] = count
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            facts = _facts(session, chunk, start, end, fast=fast, counted=counted)
            facts.plans = plans
            newest: dict[str, SlaReport] = {}
            for r in session.execute(
                select(SlaReport).where(
                    counting.among(session, SlaReport.contract_id, [c.id for c, _ in chunk]),
                    SlaReport.year == year,
                    SlaReport.month == month,
                )
            ).scalars():
                if r.contract_id not in newest or newest[r.contract_id].version < r.version:
                    newest[r.contract_id] = r
            pending = _Pending()
            for contract, offer in chunk:
                result.contracts += 1
                measured = _measure(contract, offer, year, month, facts)
                before = newest.get(contract.id)
                if before is None or before.fingerprint != measured.fingerprint:
                    _issue(session, who, measured, before, result, pending)
            _write(session, who, pending, year, month)
    return result
