"""What a run reads to price a contract: its VMs, lines, charges, earlier discounts,
index values and (prepaid) ledger usage — turned into ``pricing`` inputs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.orm import Session

from nuages.compute.services import reads as compute_reads
from nuages.contracts.models import Contract
from nuages.invoicing.models import ContractLine, IndexValue, Invoice, InvoiceLine, PendingCharge
from nuages.invoicing.periods import Period, full_period
from nuages.invoicing.pricing import (
    Billed,
    Charge,
    DraftLine,
    Item,
    PastDiscount,
    PricingProblem,
    Revision,
    Span,
)
from nuages.kernel.calendar import ContractCalendar, shift_date_months
from nuages.kernel.money import round_cents
from nuages.terms import apply
from nuages.terms.schema import Offer, Unit
from nuages.terms.schema_common import Duration

ZERO = Decimal("0.00")
VAT_KEY = "invoicing-vat:"  # ledger entries debiting a consumption invoice's VAT
# The queries of a run, built once (the contract ids bound per call): a run asks them
# for every chunk of contracts (``readahead``) and the other acts for one contract, and
# building a statement costs about as much as SQLite takes to answer it.
_CONTRACT: BindParameter[str] = bindparam("contract_id")
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_LINES = (
    select(ContractLine)
    .where(ContractLine.contract_id.in_(_IDS))
    .order_by(ContractLine.since, ContractLine.created_at)
)
_OPEN_CHARGES = (
    select(PendingCharge)
    .where(PendingCharge.contract_id.in_(_IDS), PendingCharge.invoice_id.is_(None))
    .order_by(PendingCharge.created_at, PendingCharge.id)
)
_INVOICED = select(Invoice.billing_period).where(
    Invoice.contract_id == _CONTRACT, Invoice.billing_period.is_not(None)
)
# Every document with a billing period (credit notes too: ``invoiced_periods``), oldest
# period first; the invoices among them are what ``billed_periods`` reads.
_PERIODIC = (
    select(Invoice)
    .where(Invoice.contract_id.in_(_IDS), Invoice.billing_period.is_not(None))
    .order_by(Invoice.period_start)
)
_BILLED = _PERIODIC.where(Invoice.kind == "invoice")


def _by_contract(
    session: Session, stmt: Select[Any], contract_ids: Sequence[str]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for row in session.execute(stmt, {"ids": list(contract_ids)}).scalars():
        out.setdefault(row.contract_id, []).append(row)
    return out


def contract_lines(session: Session, contract_ids: Sequence[str]) -> dict[str, list[ContractLine]]:
    """The ordered lines of each contract, in the order ``line_items`` takes them."""
    return _by_contract(session, _LINES, contract_ids)


def pending_charges(
    session: Session, contract_ids: Sequence[str]
) -> dict[str, list[PendingCharge]]:
    """Each contract's charges not billed yet, oldest first."""
    return _by_contract(session, _OPEN_CHARGES, contract_ids)


def periodic_invoices(session: Session, contract_ids: Sequence[str]) -> dict[str, list[Invoice]]:
    """Each contract's documents with a billing period, oldest period first."""
    return _by_contract(session, _PERIODIC, contract_ids)


def vm_items(session: Session, contract: Contract, calendar: ContractCalendar) -> list[Item]:
    """One item per VM of the contract that was ever activated, at its flavour."""
    return vm_items_of(compute_reads.contract_vms(session, contract.id), calendar)


def vm_items_of(vms: Iterable[compute_reads.VmFacts], calendar: ContractCalendar) -> list[Item]:
    """``vm_items`` of the contract's VMs as read (``readahead`` reads them per chunk)."""
    out = []
    for vm in vms:
        assert vm.activated_at is not None
        out.append(
            Item(
                item_id=vm.flavour_id,
                quantity=Decimal(1),
                since=calendar.local_date(vm.activated_at),
                until=calendar.local_date(vm.deleted_at) if vm.deleted_at else None,
                vm_id=vm.id,
                label=f"VM {vm.name}",
                key=f"vm:{vm.id}",
            )
        )
    return out


def backup_items(session: Session, calendar: ContractCalendar, contract_id: str) -> list[Item]:
    """One item per period a VM had a backup option (002 §3.5: billed per VM at the
    option's price, prorated like any item); a period within one day bills nothing.
    A change of option replaces the period before it, as an upgrade does: the days
    the old option was paid for cost only the difference (003 §14.3)."""
    return backup_items_of(compute_reads.contract_backup_options(session, contract_id), calendar)


def backup_items_of(
    periods: Iterable[compute_reads.BackupOptionFacts], calendar: ContractCalendar
) -> list[Item]:
    """``backup_items`` of the contract's backup option periods as read."""
    out = []
    last: dict[str, tuple[dt.datetime | None, Item]] = {}
    for period in periods:
        since = calendar.local_date(period.since)
        until = calendar.local_date(period.until) if period.until is not None else None
        before = last.get(period.vm_id)
        replaces = before[1] if before is not None and before[0] == period.since else None
        item = Item(
            item_id=period.option_id,
            quantity=Decimal(1),
            since=since,
            until=until,
            vm_id=period.vm_id,
            label=f"VM {period.vm_name}",
            replaces=replaces,
            key=f"backup:{period.id}",
        )
        last[period.vm_id] = (period.until, item)
        if until is None or since < until:
            out.append(item)
    return out


def firewall_items(contract: Contract, offer: Offer, calendar: ContractCalendar) -> list[Item]:
    """002 §3.6: the firewall tier chosen at order, billed as the catalogue option of
    that tier from the contract's formation to its end, prorated like any item; a
    firewall included in the service (Essentiel's basic one) is no order and bills
    nothing."""
    if contract.firewall_tier is None or contract.activated_at is None:
        return []
    for option in offer.catalogue.options:
        if option.kind.value == "firewall" and option.firewall_tier == contract.firewall_tier:
            if option.included:
                return []
            since = calendar.local_date(contract.activated_at)
            until = calendar.local_date(contract.ended_at) if contract.ended_at else None
            if until is not None and until <= since:
                return []
            return [
                Item(
                    item_id=option.id,
                    quantity=Decimal(1),
                    since=since,
                    until=until,
                    label=option.name,
                    key=f"firewall:{contract.id}",
                )
            ]
    raise PricingProblem(
        f"firewall_tier {contract.firewall_tier!r}: offer {offer.id} has no firewall option "
        "of that tier to bill (002 §3.6)"
    )


def line_items(session: Session, contract_id: str) -> list[Item]:
    """The contract's ordered lines (options, users, flavours not tied to a VM), each
    upgrade carrying the line it replaced (003 §14.3)."""
    return line_items_of(contract_lines(session, [contract_id]).get(contract_id, []))


def line_items_of(rows: list[ContractLine]) -> list[Item]:
    """``line_items`` of the contract's lines as read (in ``_LINES``'s order)."""
    by_id = {row.id: row for row in rows}

    def item(row: ContractLine, depth: int = 0) -> Item:
        replaced = by_id.get(row.replaces_id) if row.replaces_id and depth < 8 else None
        return Item(
            item_id=row.item_id,
            quantity=row.quantity,
            since=row.since,
            until=row.until,
            unit_price=row.unit_price,
            vm_id=row.vm_id,
            label=row.description,
            replaces=item(replaced, depth + 1) if replaced is not None else None,
            key=f"line:{row.id}",
        )

    return [item(row) for row in rows]


def open_charges(session: Session, contract_id: str) -> list[PendingCharge]:
    """Charges not billed yet, oldest first."""
    return pending_charges(session, [contract_id]).get(contract_id, [])


def as_charges(rows: Iterable[PendingCharge]) -> list[Charge]:
    """Pending charges as pricing inputs."""
    return [Charge(r.id, r.kind, r.description, r.amount, r.vat_category != "E") for r in rows]


def invoiced_periods(session: Session, contract_id: str) -> set[str]:
    """The billing periods already invoiced for the contract."""
    rows = session.execute(_INVOICED, {"contract_id": contract_id}).scalars()
    return {r for r in rows if r}


# Line kinds that bill an item for days (the others are charges, tiers, ledger usage).
ITEM_KINDS = ("vm", "item", "users", "prorata", "upgrade")


def billed_periods(
    session: Session, contract_id: str, kind: str
) -> tuple[list[Billed], dict[str, list[Span]]]:
    """The contract's invoiced periods, oldest first, and the day spans its invoice
    lines billed per item, whatever invoice a line is on (9.2: what a catch-up must
    not bill again)."""
    invoices = list(session.execute(_BILLED, {"ids": [contract_id]}).scalars())
    if not invoices:
        return [], {}
    rows = session.execute(billed_lines([i.id for i in invoices])).all()
    return billed_of(invoices, rows, kind)


def billed_lines(invoice_ids: list[str]) -> Select[str, str, dt.date | None, dt.date | None]:
    """The item lines of ``invoice_ids``: what ``billed_of`` reads of them."""
    return select(
        InvoiceLine.invoice_id, InvoiceLine.meta, InvoiceLine.period_start, InvoiceLine.period_end
    ).where(InvoiceLine.invoice_id.in_(invoice_ids), InvoiceLine.kind.in_(ITEM_KINDS))


def billed_of(
    invoices: list[Invoice], rows: Iterable[Any], kind: str
) -> tuple[list[Billed], dict[str, list[Span]]]:
    """``billed_periods`` of the contract's periodic invoices (by period start) and the
    rows of ``billed_lines`` of them."""
    spans: dict[str, list[Span]] = {}
    if not invoices:
        return [], spans
    named: dict[str, bool] = {}
    for invoice_id, meta, start, end in rows:
        src = json.loads(meta or "{}").get("src")
        named.setdefault(invoice_id, False)
        if src and start is not None and end is not None:
            named[invoice_id] = True
            spans.setdefault(str(src), []).append((start, end))
    out: list[Billed] = []
    for invoice in invoices:
        assert invoice.period_start is not None and invoice.period_end is not None
        full_start, full_end = full_period(invoice.period_start, kind)
        if invoice.period_end > full_end:  # invoiced per quarter before a change to months
            full_start, full_end = full_period(invoice.period_start, "quarter")
        period = Period(invoice.period_start, invoice.period_end, full_start, full_end)
        # Issued before lines named their item: the old rule says what it billed.
        legacy = invoice.id in named and not named[invoice.id]
        out.append(Billed(period, legacy=legacy))
    for n, done in enumerate(out[:-1]):
        if done.legacy and out[n + 1].legacy and out[n + 1].period.start == done.period.end:
            out[n] = Billed(done.period, legacy=True, next_legacy=True)
    return out, spans


def _months(duration: Duration) -> int:
    if duration.unit is Unit.years:
        return 12 * duration.amount
    if duration.unit is Unit.months:
        return duration.amount
    raise PricingProblem(f"a minimum subscription of {duration} is not counted in months")


def past_discounts(
    session: Session, offer: Offer, contract_id: str, period_start: dt.date
) -> list[PastDiscount]:
    """Tier discounts and claw-backs billed during the minimum subscription before
    ``period_start`` (001 §4.2 (ii): 12 months; §4.3)."""
    pricing = offer.catalogue.user_pricing
    if pricing is None:
        return []
    since = shift_date_months(period_start, -_months(pricing.minimum_subscription))
    rows = session.execute(
        select(InvoiceLine, Invoice.period_start)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.contract_id == contract_id,
            Invoice.kind == "invoice",
            Invoice.period_start >= since,
            Invoice.period_start < period_start,
            InvoiceLine.kind.in_(("user_discount", "user_clawback")),
        )
    ).all()
    out = []
    for line, start in rows:
        assert start is not None  # the query keeps periodic invoices only
        meta: dict[str, Any] = json.loads(line.meta or "{}")
        out.append(
            PastDiscount(
                period_start=start,
                kind=line.kind,
                base=Decimal(meta.get("base", "0")),
                pct=Decimal(meta.get("pct", "0")),
                amount=line.gross_amount if line.gross_amount is not None else line.net_amount,
            )
        )
    return out


class IndexBook:
    """Index values entered by staff, read once per run."""

    def __init__(self, session: Session) -> None:
        self._values: dict[str, list[tuple[dt.date, Decimal]]] = {}
        for row in session.execute(select(IndexValue).order_by(IndexValue.period)).scalars():
            self._values.setdefault(row.name, []).append((row.period, row.value))

    def last_known(self, name: str, day: dt.date) -> tuple[dt.date, Decimal]:
        """The value of the latest month entered at or before ``day``'s month, within the
        year before it (000 §13.3 "last known values at the revision date");
        ``PricingProblem`` when none."""
        month = day.replace(day=1)
        oldest = shift_date_months(month, -11)
        # A value older than a year is not "last known" but missing: staff forgot to
        # enter the monthly publications, and the revision must not silently use it.
        found = [(p, v) for p, v in self._values.get(name, []) if oldest <= p <= month]
        if not found:
            raise PricingProblem(
                f"missing {name} index value: none entered from {oldest:%Y-%m} to "
                f"{month:%Y-%m} (nuages index set {name} {month:%Y-%m} VALUE)"
            )
        return found[-1]


def stored_revision(
    session: Session, contract_id: str, calendar: ContractCalendar, period_start: dt.date
) -> Revision | None:
    """The revision recorded on the contract in force on ``period_start`` (applied by
    the daily job at each anniversary, or by staff under 003 §14.3); None before any."""
    from nuages.contracts.revisions import revisions_of

    return revision_of(revisions_of(session, contract_id), calendar, period_start)


def revision_of(
    revisions: Iterable[Any], calendar: ContractCalendar, period_start: dt.date
) -> Revision | None:
    """``stored_revision`` of the contract's revisions as read (oldest first)."""
    start = calendar.start_of_day(period_start)
    rows = [r for r in revisions if r.effective_at <= start]
    if not rows:
        return None
    last = rows[-1]
    day = calendar.local_date(last.effective_at)
    note = f"révision au {day:%d/%m/%Y} ({last.note}) ×{last.cumulative:.6f} {last.clause}"
    return Revision(factor=last.cumulative, note=note.strip())


def revision_for(
    offer: Offer, first_day: dt.date, period_start: dt.date, book: IndexBook
) -> Revision | None:
    """The yearly revision in force on ``period_start``: P = P0 × (fixed + Σ w × I/I0)
    with I0 at the start and I at the latest anniversary (000 §13.3, 004 §8.1)."""
    terms = offer.indexation
    if terms.formula != "weighted_indices":
        return None
    years = 0
    while shift_date_months(first_day, 12 * (years + 1)) <= period_start:
        years += 1
    if years == 0:
        return None
    anniversary = shift_date_months(first_day, 12 * years)
    indices: dict[str, tuple[Decimal, Decimal]] = {}
    parts = []
    for weight in terms.indices:
        base_month, base = book.last_known(weight.name, first_day)
        month, current = book.last_known(weight.name, anniversary)
        indices[weight.name] = (base, current)
        parts.append(f"{weight.name} {month:%Y-%m} {current} / {base_month:%Y-%m} {base}")
    factor = apply.revise_price(offer, Decimal(1), indices).price
    clause = terms.clause or ""
    note = f"révision au {anniversary:%d/%m/%Y} ({', '.join(parts)}) ×{factor:.6f} {clause}"
    return Revision(factor=factor, note=note.strip())


def ledger_consumption(
    session: Session, contract_id: str, start: dt.datetime, end: dt.datetime
) -> tuple[list[DraftLine], Decimal]:
    """A prepaid contract's consumption of ``[start, end)`` from billing's ledger
    (000 §13.2): one line per VM or resource, and what the account was debited."""
    try:
        from nuages.billing.models import LedgerEntry
    except ImportError:  # the ledger is not installed: nothing was consumed through it
        return [], ZERO
    # Usage belongs to the month its period starts in (an hour ending at midnight is
    # the old month's); other entries to the month they took effect in. The VAT this
    # slice debits for a consumption invoice is no consumption.
    when = func.coalesce(LedgerEntry.period_start, LedgerEntry.at)
    rows = session.execute(
        select(LedgerEntry)
        .where(
            LedgerEntry.contract_id == contract_id,
            when >= start,
            when < end,
            LedgerEntry.kind.in_(("usage", "fee", "credit")),
            LedgerEntry.idempotency_key.not_like(f"{VAT_KEY}%"),
        )
        .order_by(LedgerEntry.seq)
    ).scalars()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row.kind, row.resource_id or row.description or row.kind)
        group = groups.setdefault(
            key,
            {"amount": Decimal(0), "hours": Decimal(0), "kind": row.kind, "row": row},
        )
        group["amount"] += -Decimal(row.amount)
        group["hours"] += Decimal(row.quantity or 0)
    names: dict[str, str] = {}
    vm_ids = [k[1] for k in groups if k[0] == "usage"]
    if vm_ids:
        for vm in compute_reads.vms_by_id(session, vm_ids):
            names[vm.id] = f"VM {vm.name} ({vm.flavour_id})"
    lines: list[DraftLine] = []
    debited = ZERO
    for (kind, ref), group in groups.items():
        amount = round_cents(group["amount"])
        if amount == 0:
            continue
        row = group["row"]
        if kind == "usage":
            label = f"Consommation {names.get(ref, row.resource_type or 'ressource')}"
            if group["hours"] > 0:
                label += f" — {group['hours'].normalize():f} h"
        elif kind == "credit":
            label = f"Crédit : {row.description or 'pénalité SLA'}"
        else:
            label = row.description or "Frais"
        hourly = kind == "usage" and group["hours"] > 0
        lines.append(
            DraftLine(
                kind=f"ledger_{kind}",
                description=label,
                quantity=group["hours"] if hourly else Decimal(1),
                amount=amount,
                vm_id=ref if kind == "usage" else None,
                unit_code="HUR" if hourly else "C62",
            )
        )
        debited += amount
    return lines, debited
