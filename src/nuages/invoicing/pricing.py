"""What one contract owes for one billing period, as draft lines. Pure: the caller
loads the VMs, contract lines, charges and earlier tier discounts and passes them in.

- In advance (001, 003, 004): every item running at the period's start is billed for
  the period.
- In arrears: every item is billed for the days it ran in the period.
- Catch-up (9.2): every day an item was present in a period already invoiced, and that
  no invoice line billed it for (an item added during the period, or on its first day
  after its invoice was issued, or recorded later with an earlier start), is billed
  prorata on the next invoice (003 §14.3 "à compter de la date d'installation"); an
  upgrade costs the price difference for the days the line it replaced was billed
  (003 §14.3 via ``terms.apply.upgrade_charge``: downgrades cost nothing, refund
  nothing). Invoice lines name the item they bill (``meta["src"]``), so what was billed
  is read from the invoices, whatever the order of runs and of item creation.
- Users (001 §4.2): the tier of the number of subscribed users gives a discount; a
  discount granted for a tier not kept during the minimum subscription is billed back
  (001 §4.3).
- Yearly revision (000 §13.3, 004 §8.1): catalogue prices times the index factor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nuages.invoicing.periods import Period, overlap_days
from nuages.kernel.money import round_cents
from nuages.terms import apply
from nuages.terms.schema import Offer, PriceUnit

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Units priced per month of service, and how many months one price covers.
MONTHS_PER_PRICE = {
    PriceUnit.month: Decimal(1),
    PriceUnit.user_month: Decimal(1),
    PriceUnit.gib_month: Decimal(1),
    PriceUnit.vm: Decimal(1),
    PriceUnit.quarter: Decimal(3),
}


class PricingProblem(Exception):
    """The period cannot be priced (no price, unknown item, unsupported unit): the
    run reports it and issues nothing for the contract."""


@dataclass(frozen=True)
class Item:
    """A billable item of a contract: a VM's flavour, an option, a user count."""

    item_id: str
    quantity: Decimal
    since: dt.date
    until: dt.date | None = None
    unit_price: Decimal | None = None  # quoted price; None: the catalogue's
    vm_id: str | None = None
    label: str = ""
    replaces: Item | None = None  # the item an upgrade replaced (003 §14.3)
    key: str = ""  # what invoice lines name it by: "vm:<id>" or "line:<id>" (9.2)

    def present(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        """The part of ``[start, end)`` the item was present in, or None."""
        lo = max(start, self.since)
        hi = end if self.until is None else min(end, self.until)
        return (lo, hi) if lo < hi else None


Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class Billed:
    """A period already invoiced (or planned earlier in the same run). ``legacy``:
    issued before invoice lines named their item; then an item present at the period's
    start counts as billed for it, and one started during it as caught up when
    ``next_legacy`` (the old rule), instead of reading the lines."""

    period: Period
    legacy: bool = False
    next_legacy: bool = False

    def covered(self, item: Item, spans: Mapping[str, Sequence[Span]]) -> Sequence[Span]:
        """The spans billed for ``item`` (``spans``: every invoice line's, per item); an
        item without a key cannot be found on lines, so the old rule applies to it."""
        if not self.legacy and item.key:
            return spans.get(item.key, [])
        if item.since <= self.period.start or self.next_legacy:
            return [(self.period.start, self.period.end)]
        return []


def gaps(present: Span, covered: Sequence[Span]) -> list[Span]:
    """The parts of ``present`` outside every span of ``covered``."""
    out: list[Span] = []
    cursor, end = present
    for lo, hi in sorted(covered):
        if hi <= cursor or lo >= end:
            continue
        if lo > cursor:
            out.append((cursor, lo))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def coverage(lines: Sequence[DraftLine], into: dict[str, list[Span]]) -> None:
    """Add the day spans the lines bill to ``into``, per item key."""
    out = into
    for line in lines:
        src = line.meta.get("src")
        if src and line.period_start is not None and line.period_end is not None:
            out.setdefault(str(src), []).append((line.period_start, line.period_end))


@dataclass(frozen=True)
class Charge:
    """A pending charge to bill on this invoice (reminder fee, interest, fee)."""

    charge_id: str
    kind: str
    description: str
    amount: Decimal
    taxable: bool


# Charges that are a share of the catalogue's prices (003 §13.2.1: the rest of the
# subscribed duration), so VAT included where the offer quotes so (003 §14.1).
QUOTED_CHARGE_KINDS = frozenset({"early_termination"})


@dataclass(frozen=True)
class PastDiscount:
    """A tier discount (or its claw-back) billed on an earlier invoice (001 §4.3)."""

    period_start: dt.date
    kind: str  # "user_discount" | "user_clawback"
    base: Decimal  # the user lines the discount applied to
    pct: Decimal
    amount: Decimal  # the line's amount (negative for a discount)


@dataclass
class DraftLine:
    """A line before VAT: ``amount`` is net, or VAT included when ``gross``."""

    kind: str
    description: str
    quantity: Decimal
    amount: Decimal
    item_id: str | None = None
    gross: bool = False
    taxable: bool = True
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    vm_id: str | None = None
    unit_code: str = "C62"  # UN/ECE rec. 20: C62 one, HUR hour
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Revision:
    """The yearly revision factor in force for the period, and what it rests on."""

    factor: Decimal
    note: str


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def price_of(offer: Offer, item: Item) -> tuple[Decimal, PriceUnit, str]:
    """The item's unit price, unit and name from the catalogue (or its quote)."""
    for flavour in offer.catalogue.flavours:
        if flavour.id == item.item_id:
            price = item.unit_price if item.unit_price is not None else flavour.price
            return price, flavour.unit, flavour.name
    for option in offer.catalogue.options:
        if option.id == item.item_id:
            if option.on_quote and item.unit_price is None:
                raise PricingProblem(f"{option.id} is priced on quote and has no quoted price")
            price = item.unit_price if item.unit_price is not None else option.price
            return price, option.unit, option.name
    raise PricingProblem(f"item {item.item_id!r} is not in offer {offer.id}'s catalogue")


def _monthly(offer: Offer, item: Item, revision: Revision | None) -> tuple[Decimal, str, bool]:
    """The price of one unit of the item for one month, revised; its name; per user."""
    price, unit, name = price_of(offer, item)
    if unit not in MONTHS_PER_PRICE:
        raise PricingProblem(
            f"{item.item_id} is priced per {unit.value}: an invoiced contract bills "
            "monthly or quarterly prices (hourly use is debited by the prepaid ledger)"
        )
    if revision is not None:
        price = round_cents(price * revision.factor)
    return price / MONTHS_PER_PRICE[unit], name, unit is PriceUnit.user_month


def monthly_of(offer: Offer, item: Item, revision: Revision | None) -> Decimal:
    """One unit of the item for one month at its (revised) price."""
    return _monthly(offer, item, revision)[0]


def _one_off(
    offer: Offer,
    item: Item,
    period: Period,
    spans: Mapping[str, Sequence[Span]],
    gross: bool,
) -> list[DraftLine] | None:
    """An item priced ``one_off`` (hardware delivered, 001 §4.6): billed once, on the
    first invoice whose period ends after its date, at its quoted price × quantity
    (``[]`` when already billed or not yet due); None for any other unit."""
    price, unit, name = price_of(offer, item)
    if unit is not PriceUnit.one_off:
        return None
    if item.since >= period.end:
        return []
    if item.key:
        if spans.get(item.key):
            return []  # an earlier invoice billed it
    elif item.since < period.start:
        return []  # no key to tell: only the period holding its date bills it
    day = item.since
    label = f"{name} — {item.label}" if item.label else name
    return [
        DraftLine(
            kind="item",
            description=f"{label} (livré le {_fr(day)})",
            quantity=item.quantity,
            amount=round_cents(price * item.quantity),
            item_id=item.item_id,
            gross=gross,
            period_start=day,
            period_end=day + dt.timedelta(days=1),
            meta={"src": item.key, "one_off": True} if item.key else {"one_off": True},
        )
    ]


def _amount(monthly: Decimal, quantity: Decimal, period: Period, days: int) -> Decimal:
    full = monthly * period.months * quantity
    if days == period.full_days:
        return round_cents(full)
    return round_cents(full * days / period.full_days)


def _active_at(item: Item, day: dt.date) -> bool:
    return item.since <= day and (item.until is None or item.until > day)


def price_period(
    offer: Offer,
    period: Period,
    billed: Sequence[Billed],
    items: Sequence[Item],
    *,
    timing: str,
    spans: Mapping[str, Sequence[Span]] | None = None,
    revision: Revision | None = None,
    past_discounts: Sequence[PastDiscount] = (),
    charges: Sequence[Charge] = (),
) -> list[DraftLine]:
    """The draft lines of one contract for ``period``; ``PricingProblem`` when an item
    cannot be priced. ``billed``: the contract's periods invoiced before this one, whose
    days an item was present but no line billed (``spans``: the day spans invoice lines
    billed, per item) are caught up here (9.2). Amounts are VAT included when
    the offer quotes so (003 §14.1)."""
    gross = offer.catalogue.prices_include_vat
    spans = spans or {}
    lines: list[DraftLine] = []
    user_base = ZERO
    users = Decimal(0)
    for item in items:
        once = _one_off(offer, item, period, spans, gross)
        if once is not None:
            if once:
                lines.append(once[0])
            continue
        monthly, name, per_user = _monthly(offer, item, revision)
        label = f"{name} — {item.label}" if item.label else name
        if timing == "advance":
            billed_now = _active_at(item, period.start)
            days = overlap_days(period.start, item.until, period.start, period.end)
        else:
            billed_now = overlap_days(item.since, item.until, period.start, period.end) > 0
            days = overlap_days(item.since, item.until, period.start, period.end)
        if billed_now and days > 0:
            amount = _amount(monthly, item.quantity, period, days)
            meta: dict[str, Any] = {"revision": revision.note} if revision else {}
            if item.key:
                meta["src"] = item.key
            if per_user:
                users += item.quantity
                user_base += amount
                label = f"{name} — {item.quantity.normalize():f} utilisateur(s) abonné(s)"
            lines.append(
                DraftLine(
                    kind="users" if per_user else ("vm" if item.vm_id else "item"),
                    description=label,
                    quantity=item.quantity,
                    amount=amount,
                    item_id=item.item_id,
                    gross=gross,
                    period_start=max(period.start, item.since),
                    period_end=period.end if item.until is None else min(period.end, item.until),
                    vm_id=item.vm_id,
                    meta=meta,
                )
            )
        for done in billed:
            if done.period.start >= period.start:
                continue
            for catch_up in _catch_up(offer, item, done, spans, monthly, name, revision):
                catch_up.gross = gross
                if per_user:
                    user_base += catch_up.amount
                lines.append(catch_up)
    lines += _user_tiers(offer, period, users, user_base, past_discounts, gross)
    for charge in charges:
        lines.append(
            DraftLine(
                kind=charge.kind,
                description=charge.description,
                quantity=Decimal(1),
                amount=charge.amount,
                # Fees are stated net of VAT (004 §17.2 "€HT"); what is owed for the
                # subscribed duration is the catalogue's prices, quoted as the offer does.
                gross=gross and charge.kind in QUOTED_CHARGE_KINDS,
                taxable=charge.taxable,
                meta={"charge_id": charge.charge_id},
            )
        )
    return lines


def _catch_up(
    offer: Offer,
    item: Item,
    done: Billed,
    spans: Mapping[str, Sequence[Span]],
    monthly: Decimal,
    name: str,
    revision: Revision | None,
) -> list[DraftLine]:
    """The days of ``done``'s period the item was present and no line billed it for,
    billed prorata from its start (003 §14.3 "à compter de la date d'installation");
    for an upgrade, the days its old line was billed cost only the price difference."""
    previous = done.period
    present = item.present(previous.start, previous.end)
    if present is None:
        return []
    out: list[DraftLine] = []
    for start, end in gaps(present, done.covered(item, spans)):
        old_spans = done.covered(item.replaces, spans) if item.replaces is not None else []
        # Days the replaced line paid for: only the difference (003 §14.3).
        for lo, hi in old_spans:
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi and item.replaces is not None:
                line = _upgrade(
                    offer, item, item.replaces, previous, lo, hi, monthly, name, revision
                )
                if line is not None:
                    out.append(line)
        for lo, hi in gaps((start, end), old_spans):
            out.append(_prorata(item, previous, lo, hi, monthly, name))
    return out


def _prorata(
    item: Item, previous: Period, start: dt.date, end: dt.date, monthly: Decimal, name: str
) -> DraftLine:
    days = (end - start).days
    return DraftLine(
        kind="prorata",
        description=(
            f"{name}{' — ' + item.label if item.label else ''}, prorata du "
            f"{_fr(start)} au {_fr(end - dt.timedelta(days=1))}"
        ),
        quantity=item.quantity,
        amount=_amount(monthly, item.quantity, previous, days),
        item_id=item.item_id,
        period_start=start,
        period_end=end,
        vm_id=item.vm_id,
        meta={"days": days, "of": previous.full_days, "src": item.key},
    )


def _upgrade(
    offer: Offer,
    item: Item,
    old: Item,
    previous: Period,
    start: dt.date,
    end: dt.date,
    monthly: Decimal,
    name: str,
    revision: Revision | None,
) -> DraftLine | None:
    old_monthly, old_name, _ = _monthly(offer, old, revision)
    months = Decimal(previous.months)
    days = (end - start).days
    # upgrade_charge prorates to the period's end: the same count of days ends there.
    result = apply.upgrade_charge(
        offer,
        old_monthly * months * old.quantity,
        monthly * months * item.quantity,
        previous.full_start,
        previous.full_end,
        previous.full_end - dt.timedelta(days=days),
    )
    if result.amount == 0:
        return None  # 003 §14.3: a downgrade is neither billed nor refunded
    return DraftLine(
        kind="upgrade",
        description=(
            f"Mise à niveau {old_name} → {name}, prorata du {_fr(start)} "
            f"au {_fr(end - dt.timedelta(days=1))} (003 §14.3)"
        ),
        quantity=Decimal(1),
        amount=result.amount,
        item_id=item.item_id,
        period_start=start,
        period_end=end,
        vm_id=item.vm_id,
        meta={"days": result.days_charged, "of": result.days_in_period, "src": item.key},
    )


def _user_tiers(
    offer: Offer,
    period: Period,
    users: Decimal,
    base: Decimal,
    past: Sequence[PastDiscount],
    gross: bool,
) -> list[DraftLine]:
    """001 §4.2 tier discount on this invoice's user lines, and the 001 §4.3
    claw-back of discounts granted for a tier no longer kept."""
    pricing = offer.catalogue.user_pricing
    if pricing is None or users == 0:
        return []
    tier = next(
        t
        for t in pricing.tiers
        if t.min_users <= users and (t.max_users is None or users <= t.max_users)
    )
    pct = tier.discount_pct
    out: list[DraftLine] = []
    if pct > 0 and base > 0:
        upper = f"–{tier.max_users}" if tier.max_users is not None else " et plus"
        out.append(
            DraftLine(
                kind="user_discount",
                description=f"Remise palier {tier.min_users}{upper} utilisateurs ({pct} %)",
                quantity=Decimal(1),
                amount=-round_cents(base * pct / HUNDRED),
                gross=gross,
                meta={"users": str(users), "pct": str(pct), "base": str(base)},
            )
        )
    if pricing.clawback_if_tier_not_kept:
        granted = sum(
            (
                round_cents(d.base * (d.pct - pct) / HUNDRED)
                for d in past
                if d.kind == "user_discount" and d.pct > pct
            ),
            ZERO,
        )
        clawed = sum((d.amount for d in past if d.kind == "user_clawback"), ZERO)
        due = granted - clawed
        if due > 0:
            out.append(
                DraftLine(
                    kind="user_clawback",
                    description=(
                        f"Reprise des remises d'un palier non maintenu ({users.normalize():f} "
                        "utilisateurs abonnés) pendant l'abonnement minimal (001 §4.3)"
                    ),
                    quantity=Decimal(1),
                    amount=due,
                    gross=gross,
                    meta={"users": str(users), "pct": str(pct)},
                )
            )
    return out
