"""Monthly availability, SLA credits and their caps (002 §6, 000 §5, 000 §7).

The measure follows 002 §6 as read by SPEC §17 (revised 2026-12): the objective is a
share "du temps, pendant la période de couverture", so the denominator is the month's
**coverage minutes** (the coverage window's minutes in the contract's zone, minus public
holidays when the window excludes them, minus planned maintenance): November 2026 in
France has 20 working days × 600 = 12,000. A policy may still state ``month_minutes``
(every real minute of the month: 44,700 in October 2026 in Paris); the terms file says
which. The numerator counts only unavailability inside the coverage window, outside
planned maintenance, and not excusable, with overlapping outages merged so that no minute
is counted twice; an outage the client notified before the platform detected it counts
from the notice (002 §6 "Notification de Défaillance", ``with_failure_notices``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from nuages.kernel.calendar import (
    ContractCalendar,
    CoverageWindow,
    Interval,
    Unit,
    clip_intervals,
    interval_minutes,
    merge_intervals,
    subtract_intervals,
)
from nuages.kernel.clock import ensure_aware
from nuages.kernel.money import CENT, round_cents

HUNDRED = Decimal(100)
ZERO = Decimal(0)

Denominator = Literal["coverage_minutes", "month_minutes"]


@dataclass(frozen=True)
class Outage:
    """A span ``[start, end)`` during which the service was unavailable.

    ``excusable`` marks an event the provider answers for by no credit (002 §6
    "Evénements Excusables"); ``cause`` is matched against the policy's excusable causes.
    """

    start: dt.datetime
    end: dt.datetime
    cause: str | None = None
    excusable: bool = False
    # The service (VM) that failed; a failure notice applies to its own service only.
    service: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_aware(self.start))
        object.__setattr__(self, "end", ensure_aware(self.end))
        if self.end <= self.start:
            raise ValueError(f"an outage must end after it starts: {self.start} → {self.end}")


@dataclass(frozen=True)
class CreditTier:
    """A credit ``rate`` (% of the monthly amount) owed when availability lies in the tier.

    Bounds are percentages; ``None`` is open. Each bound says whether it belongs to the
    tier, because written tables are ambiguous at their edges (SPEC §17).
    """

    lower: Decimal | None
    upper: Decimal | None
    lower_inclusive: bool
    upper_inclusive: bool
    rate: Decimal

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError("a credit rate is never negative")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"empty tier: {self.lower} > {self.upper}")

    def contains(self, availability: Decimal) -> bool:
        """Whether ``availability`` (percent) falls inside this tier."""
        if self.lower is not None:
            if availability < self.lower or (
                availability == self.lower and not self.lower_inclusive
            ):
                return False
        if self.upper is not None:
            if availability > self.upper or (
                availability == self.upper and not self.upper_inclusive
            ):
                return False
        return True


# 002 §6 as read by SPEC §17: ≥ 99.85 no credit; ]99.5, 99.85[ → 5 %; [97, 99.5] → 10 %
# (99.5 sits in both written rows, the client-favourable one applies); < 97 → 20 %.
TIERS_002_S6: tuple[CreditTier, ...] = (
    CreditTier(Decimal("99.5"), Decimal("99.85"), False, False, Decimal(5)),
    CreditTier(Decimal(97), Decimal("99.5"), True, True, Decimal(10)),
    CreditTier(None, Decimal(97), False, False, Decimal(20)),
)


@dataclass(frozen=True)
class SlaPolicy:
    """How an offer measures availability and pays credits (from its terms file).

    ``minimum_outage``: outages shorter than this do not count. ``month_cap_pct``: the
    most a single month's credit may be, as a percent of the monthly amount.
    ``denominator``: what availability is a share of (002 §6, SPEC §17): the month's
    coverage minutes (the client-favourable reading, the default) or all its minutes.
    """

    coverage: CoverageWindow
    tiers: tuple[CreditTier, ...] = TIERS_002_S6
    minimum_outage: dt.timedelta = dt.timedelta(0)
    excusable_causes: frozenset[str] = frozenset()
    month_cap_pct: Decimal | None = None
    denominator: Denominator = "coverage_minutes"


@dataclass(frozen=True)
class SlaMonth:
    """The SLA result of one calendar month (002 §6)."""

    year: int
    month: int
    minutes_in_month: int
    # The coverage window's minutes of the month minus planned maintenance (002 §6).
    coverage_minutes: Decimal
    # Which of the two availability was computed over, and its value.
    denominator: Denominator
    denominator_minutes: Decimal
    unavailable_minutes: Decimal
    availability_pct: Decimal
    credit_rate_pct: Decimal
    credit_before_cap: Decimal
    credit_amount: Decimal
    counted: tuple[Interval, ...]


def is_excused(outage: Outage, excusable_causes: frozenset[str]) -> bool:
    """Whether an outage is an excusable event (002 §6 (i)–(vi), force majeure)."""
    return outage.excusable or (outage.cause is not None and outage.cause in excusable_causes)


def counted_unavailability(
    calendar: ContractCalendar,
    start: dt.datetime,
    end: dt.datetime,
    outages: Iterable[Outage],
    policy: SlaPolicy,
    *,
    maintenance: Sequence[Interval] = (),
    penalty_suspended: Sequence[Interval] = (),
) -> list[Interval]:
    """The unavailability that counts against the SLA inside ``[start, end)`` (002 §6).

    Steps: drop excusable outages; merge the rest (overlaps never count twice); drop
    merged incidents shorter than ``policy.minimum_outage`` — judged on the incident's
    whole length, so one that straddles the coverage edge still counts its covered part;
    keep only the part inside the coverage window; remove planned maintenance and any
    span where penalties are suspended (000 §5, negative prepaid balance).
    """
    kept = [(o.start, o.end) for o in outages if not is_excused(o, policy.excusable_causes)]
    incidents = [(s, e) for s, e in merge_intervals(kept) if e - s >= policy.minimum_outage]
    inside = clip_intervals(incidents, start, end)
    covered = calendar.covered_part(policy.coverage, inside)
    return subtract_intervals(covered, [*maintenance, *penalty_suspended])


def availability_pct(minutes_in_month: int | Decimal, unavailable_minutes: Decimal) -> Decimal:
    """002 §6: (denominator − unavailable minutes) / denominator × 100.

    The denominator is the month's coverage minutes or all its minutes (``SlaPolicy.
    denominator``). Not rounded: a tier boundary is compared against the exact figure.
    A month with no coverage at all (every covered minute under planned maintenance)
    had nothing to miss: 100 %.
    """
    if minutes_in_month < 0:
        raise ValueError("a month has minutes")
    if not ZERO <= unavailable_minutes <= minutes_in_month:
        raise ValueError(f"unavailable minutes out of range: {unavailable_minutes}")
    if minutes_in_month == 0:
        return HUNDRED
    total = Decimal(minutes_in_month)
    return (total - unavailable_minutes) / total * HUNDRED


def coverage_minutes(
    calendar: ContractCalendar,
    year: int,
    month: int,
    window: CoverageWindow,
    *,
    maintenance: Sequence[Interval] = (),
) -> Decimal:
    """002 §6: the month's minutes inside the coverage window, minus planned maintenance.

    Mon–Fri 08:00–18:00 is 10 real hours a day whatever the DST change, so November 2026
    in France (21 weekdays, Wed 11 November a holiday) has 20 × 600 = 12,000.
    """
    start, end = calendar.month_bounds(year, month)
    covered = calendar.covered_intervals(window, start, end)
    return interval_minutes(subtract_intervals(covered, clip_intervals(maintenance, start, end)))


@dataclass(frozen=True)
class FailureNotice:
    """The client's "Notification de Défaillance" (002 §6) of ``service`` at ``at``."""

    service: str
    at: dt.datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_aware(self.at))


def with_failure_notices(
    outages: Sequence[Outage], notices: Sequence[FailureNotice]
) -> list[Outage]:
    """002 §6: unavailability counts from the earlier of its detection and the notice.

    A notice of a service applies to that service's first outage that ends after the
    notice, provided the notice came after the end of the service's previous outage (a
    notice never reaches back over a span the service was seen working). Such an outage
    starts at the notice when the notice is earlier; an outage already running at the
    notice is unchanged. Outages without a service are left as they are.
    """
    by_service: dict[str, list[int]] = {}
    for i, outage in enumerate(outages):
        if outage.service is not None:
            by_service.setdefault(outage.service, []).append(i)
    result = list(outages)
    for service, indexes in by_service.items():
        ordered = sorted(indexes, key=lambda i: outages[i].start)
        previous_end: dt.datetime | None = None
        for i in ordered:
            outage = outages[i]
            noticed = [
                n.at
                for n in notices
                if n.service == service
                and n.at < outage.start
                and (previous_end is None or n.at >= previous_end)
            ]
            if noticed:
                result[i] = replace(outage, start=min(noticed))
            previous_end = outage.end if previous_end is None else max(previous_end, outage.end)
    return result


def credit_rate(availability: Decimal, tiers: Sequence[CreditTier]) -> Decimal:
    """The credit rate (percent) owed for ``availability`` under ``tiers`` (002 §6).

    When tiers overlap the highest rate wins: an ambiguous table is read in the client's
    favour (SPEC §17). No matching tier means no credit.
    """
    return max((t.rate for t in tiers if t.contains(availability)), default=ZERO)


def cap_amount(amount: Decimal, base: Decimal, cap_pct: Decimal | None) -> Decimal:
    """``amount`` rounded to the cent and limited to ``cap_pct`` % of ``base``.

    The amount rounds half-up as every document amount does; the cap rounds *down*, so
    a capped credit never exceeds its cap by a rounding cent. ``None`` means no cap.
    """
    rounded = round_cents(amount)
    if cap_pct is None:
        return rounded
    return min(rounded, (base * cap_pct / HUNDRED).quantize(CENT, rounding=ROUND_FLOOR))


def month_report(
    calendar: ContractCalendar,
    year: int,
    month: int,
    outages: Iterable[Outage],
    policy: SlaPolicy,
    monthly_amount: Decimal,
    *,
    maintenance: Sequence[Interval] = (),
    penalty_suspended: Sequence[Interval] = (),
) -> SlaMonth:
    """Availability and credit of one calendar month (002 §6, SPEC §17).

    Availability is a share of ``policy.denominator``: the coverage minutes (minus
    ``maintenance``) or every minute of the month. The credit is ``rate`` % of
    ``monthly_amount`` (002 §6 "montant mensuel facturé"), limited by
    ``policy.month_cap_pct`` and rounded to the cent. The rolling 30-day cap and the
    000 §5 penalty cap depend on other months and invoices: apply
    ``rolling_cap_allowance`` and ``penalty_cap`` to the result.
    """
    if monthly_amount < 0:
        raise ValueError("a monthly amount is never negative")
    start, end = calendar.month_bounds(year, month)
    counted = counted_unavailability(
        calendar,
        start,
        end,
        outages,
        policy,
        maintenance=maintenance,
        penalty_suspended=penalty_suspended,
    )
    covered = coverage_minutes(calendar, year, month, policy.coverage, maintenance=maintenance)
    return month_figures(
        calendar, year, month, policy, monthly_amount, interval_minutes(counted), covered, counted
    )


def month_figures(
    calendar: ContractCalendar,
    year: int,
    month: int,
    policy: SlaPolicy,
    monthly_amount: Decimal,
    unavailable: Decimal,
    covered: Decimal,
    counted: Sequence[Interval] = (),
) -> SlaMonth:
    """The month's figures once its unavailable and coverage minutes are counted (by
    ``month_report``, or by the monthly job's counting path in SQL): availability over
    the policy's denominator, the tier's rate and the credit (002 §6, SPEC §17)."""
    if monthly_amount < 0:
        raise ValueError("a monthly amount is never negative")
    minutes = calendar.minutes_in_month(year, month)
    over = covered if policy.denominator == "coverage_minutes" else Decimal(minutes)
    availability = availability_pct(over, unavailable)
    rate = credit_rate(availability, policy.tiers)
    before_cap = monthly_amount * rate / HUNDRED
    return SlaMonth(
        year=year,
        month=month,
        minutes_in_month=minutes,
        coverage_minutes=covered,
        denominator=policy.denominator,
        denominator_minutes=over,
        unavailable_minutes=unavailable,
        availability_pct=availability,
        credit_rate_pct=rate,
        credit_before_cap=before_cap,
        credit_amount=cap_amount(before_cap, monthly_amount, policy.month_cap_pct),
        counted=tuple(counted),
    )


@dataclass(frozen=True)
class IssuedCredit:
    """An SLA credit already issued, on the contract-local date it was issued."""

    issued_on: dt.date
    amount: Decimal


def rolling_cap_allowance(
    proposed: Decimal,
    issued_on: dt.date,
    previous: Sequence[IssuedCredit],
    monthly_fee: Decimal,
    *,
    cap_pct: Decimal = Decimal(20),
    window_days: int = 30,
) -> Decimal:
    """How much of ``proposed`` may be issued on ``issued_on`` under a rolling cap.

    002 §6: credits issued over any period of 30 consecutive calendar days are capped at
    20 % of the monthly fees of the failing service: ``monthly_fee`` is that service's
    fee (not the whole contract's) and ``previous`` that service's credits. Every window
    of ``window_days`` days that contains ``issued_on`` is checked against all
    ``previous`` credits (earlier or, if back-dated, later ones), and the new credit is
    cut to fit the fullest window.
    Never negative; rounded to the cent.
    """
    if proposed < 0 or monthly_fee < 0:
        raise ValueError("credits and fees are never negative")
    if window_days < 1:
        raise ValueError("a rolling window lasts at least a day")
    cap = monthly_fee * cap_pct / HUNDRED
    fullest = ZERO
    for offset in range(window_days):
        first = issued_on - dt.timedelta(days=window_days - 1 - offset)
        last = first + dt.timedelta(days=window_days - 1)
        used = sum((c.amount for c in previous if first <= c.issued_on <= last), ZERO)
        fullest = max(fullest, used)
    room = (cap - fullest).quantize(CENT, rounding=ROUND_FLOOR)
    return max(ZERO, min(round_cents(proposed), room))


def penalty_cap(
    penalties: Decimal, month_invoice: Decimal, *, cap_pct: Decimal = Decimal(30)
) -> Decimal:
    """000 §5: penalties never exceed 30 % of the invoice of the month of the incidents.

    Rounded to the cent; the cap itself rounds down so it holds after rounding.
    """
    if penalties < 0 or month_invoice < 0:
        raise ValueError("penalties and invoices are never negative")
    return cap_amount(penalties, month_invoice, cap_pct)


@dataclass(frozen=True)
class BalancePoint:
    """The prepaid account's balance just after a movement at ``at``."""

    at: dt.datetime
    balance: Decimal


def negative_balance_periods(points: Sequence[BalancePoint], until: dt.datetime) -> list[Interval]:
    """Spans during which the prepaid account was below zero, up to ``until`` (000 §5).

    Each point's balance holds until the next point. The result feeds
    ``penalty_suspended`` of ``month_report``: 000 §5 suspends the penalty system while
    the client account is negative and the penalties of that time are lost.
    """
    until = ensure_aware(until)
    ordered = sorted(points, key=lambda p: ensure_aware(p.at))
    spans: list[Interval] = []
    for i, point in enumerate(ordered):
        if point.balance >= 0:
            continue
        start = ensure_aware(point.at)
        end = ensure_aware(ordered[i + 1].at) if i + 1 < len(ordered) else until
        end = min(end, until)
        if start < end:
            spans.append((start, end))
    return merge_intervals(spans)


def without_penalty_suspension(
    counted: Sequence[Interval], negative_periods: Sequence[Interval]
) -> list[Interval]:
    """000 §5: remove from counted unavailability the time the account was negative."""
    return subtract_intervals(counted, negative_periods)


def maintenance_is_excluded(
    calendar: ContractCalendar,
    announced_at: dt.datetime,
    starts_at: dt.datetime,
    *,
    notice: int = 2,
    unit: Unit = Unit.CLEAR_DAYS,
) -> bool:
    """000 §7: maintenance is excluded from penalties only if announced ≥ 2 clear days ahead.

    With the clear-day reading of ``ContractCalendar.add`` (SPEC §16: neither the
    announcement day nor the last day counts), maintenance announced on day D may start
    from D+4 00:00 local. 001 §6 (24 h ahead) is ``notice=24, unit=HOURS``.
    """
    return ensure_aware(starts_at) >= calendar.add(announced_at, notice, unit)
