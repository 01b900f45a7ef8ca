"""An offer's SLA applied (002 §6, 000 §5, 000 §7): the calculator's policy from
``[sla]``, the maintenance left out, a month's availability and its capped credit.
Re-exported by :mod:`nuages.terms.apply`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from nuages.kernel.calendar import ContractCalendar, Interval
from nuages.terms.apply_base import (
    TermsNotApplicable,
    calendar_for,
    coverage_window,
    duration_unit,
)
from nuages.terms.calc import sla
from nuages.terms.schema import Duration, Offer, Unit

__all__ = [
    "MaintenanceWindow",
    "SlaAssessment",
    "assess",
    "excluded_maintenance",
    "sla_for_month",
    "sla_policy",
    "suspended_spans",
]

ZERO = Decimal(0)


def _timedelta(duration: Duration | None) -> dt.timedelta:
    if duration is None:
        return dt.timedelta(0)
    if duration.unit is Unit.minutes:
        return dt.timedelta(minutes=duration.amount)
    if duration.unit is Unit.hours:
        return dt.timedelta(hours=duration.amount)
    raise TermsNotApplicable(f"{duration} is not a length of time in minutes or hours")


_POLICIES: dict[tuple[str, str], sla.SlaPolicy] = {}


def sla_policy(offer: Offer) -> sla.SlaPolicy:
    """The calculator's policy built from ``[sla]``: coverage, tiers, minimum outage, causes.

    A disabled or best-effort SLA keeps its coverage (availability is still reported) but
    pays nothing (003 §5.1.2, 001 §6). Kept per offer version (content hash) once built.
    """
    key = (offer.id, offer.content_hash)
    if offer.content_hash and key in _POLICIES:
        return _POLICIES[key]
    policy = _sla_policy(offer)
    if offer.content_hash:
        _POLICIES[key] = policy
    return policy


def _sla_policy(offer: Offer) -> sla.SlaPolicy:
    terms = offer.sla
    if terms.coverage is None:
        raise TermsNotApplicable(f"offer {offer.id} states no SLA coverage")
    tiers = tuple(
        sla.CreditTier(
            lower=t.lower_pct,
            upper=t.upper_pct,
            lower_inclusive=t.lower_inclusive,
            upper_inclusive=t.upper_inclusive,
            rate=t.credit_pct,
        )
        for t in terms.credit_tiers
    )
    return sla.SlaPolicy(
        coverage=coverage_window(terms.coverage),
        tiers=tiers if terms.enabled else (),
        minimum_outage=_timedelta(terms.minimum_outage),
        excusable_causes=frozenset(terms.excusable_causes),
        month_cap_pct=terms.caps.per_month_pct,
        denominator=terms.denominator,
    )


@dataclass(frozen=True)
class MaintenanceWindow:
    """Planned maintenance: when it ran and when it was announced (None: not announced)."""

    start: dt.datetime
    end: dt.datetime
    announced_at: dt.datetime | None = None


@dataclass(frozen=True)
class SlaAssessment:
    """One month of an offer's SLA: the calculator's report and the caps applied to it."""

    offer_id: str
    report: sla.SlaMonth
    objective_pct: Decimal | None
    objective_met: bool
    monthly_amount: Decimal | None
    credit_amount: Decimal | None
    rolling_cap_applied: bool
    # The fee the rolling cap was a share of (002 §6: the failing service's), if any.
    rolling_cap_base: Decimal | None
    excluded_maintenance: tuple[Interval, ...]


def excluded_maintenance(
    offer: Offer, calendar: ContractCalendar, windows: Iterable[MaintenanceWindow]
) -> list[Interval]:
    """The windows left out of the month under the offer (000 §7: only if announced in
    time)."""
    if not offer.sla.planned_maintenance_excluded:
        return []
    notice = offer.maintenance.notice
    out: list[Interval] = []
    for window in windows:
        if offer.maintenance.excluded_from_sla_only_with_notice and notice is not None:
            # 000 §7: maintenance escapes penalties only if announced ≥ 2 clear days ahead.
            if window.announced_at is None or not sla.maintenance_is_excluded(
                calendar,
                window.announced_at,
                window.start,
                notice=notice.amount,
                unit=duration_unit(notice),
            ):
                continue
        out.append((window.start, window.end))
    return out


def sla_for_month(
    offer: Offer,
    year: int,
    month: int,
    outages: Iterable[sla.Outage],
    monthly_amount: Decimal | None = None,
    *,
    maintenance: Iterable[MaintenanceWindow] = (),
    negative_balance: Sequence[Interval] = (),
    previous_credits: Sequence[sla.IssuedCredit] = (),
    issued_on: dt.date | None = None,
    failure_notices: Sequence[sla.FailureNotice] = (),
    service_monthly_fee: Decimal | None = None,
    no_sla: Sequence[Interval] = (),
) -> SlaAssessment:
    """Availability and credit of one month under the offer's terms.

    Measured per 002 §6 / SPEC §17 with the offer's coverage, minimum outage and
    excusable causes; planned maintenance is left out when the offer says so (000 §7:
    only if announced in time). Time while a prepaid account was negative is dropped
    when the offer suspends penalties then (000 §5). The credit is the tier's rate of
    ``monthly_amount`` (or of the month's invoice, 000 §5), capped per month (000 §5:
    30 %) and over any rolling window (002 §6: 20 % per 30 days, given the credits
    already issued and the issue date, by default the first day after the month).

    002 §6: availability is over the offer's ``sla.denominator`` (coverage minutes for
    the seeds); ``failure_notices`` move an outage's start back to the client's earlier
    notice; the rolling cap is a share of ``service_monthly_fee``, the failing service's
    monthly fees (``sla.caps.rolling_basis = "failing_service"``), and
    ``previous_credits`` are that service's credits. Without a service fee the cap falls
    back to ``monthly_amount``. ``no_sla``: spans during which no SLA applies (002 §4
    probation), taken out of the count like a suspension.
    """
    calendar = calendar_for(offer)
    policy = sla_policy(offer)
    if failure_notices:
        outages = sla.with_failure_notices(list(outages), failure_notices)
    excluded = excluded_maintenance(offer, calendar, maintenance)
    suspended = [*suspended_spans(offer, negative_balance), *no_sla]
    report = sla.month_report(
        calendar,
        year,
        month,
        outages,
        policy,
        monthly_amount if monthly_amount is not None else ZERO,
        maintenance=excluded,
        penalty_suspended=suspended,
    )
    return assess(
        offer,
        year,
        month,
        report,
        monthly_amount,
        previous_credits=previous_credits,
        issued_on=issued_on,
        service_monthly_fee=service_monthly_fee,
        excluded=excluded,
    )


def suspended_spans(offer: Offer, negative_balance: Sequence[Interval]) -> list[Interval]:
    """The spans a negative prepaid balance takes out of the count, when the offer says
    so (000 §5)."""
    return list(negative_balance) if offer.sla.suspended_while_balance_negative else []


def assess(
    offer: Offer,
    year: int,
    month: int,
    report: sla.SlaMonth,
    monthly_amount: Decimal | None,
    *,
    previous_credits: Sequence[sla.IssuedCredit] = (),
    issued_on: dt.date | None = None,
    service_monthly_fee: Decimal | None = None,
    excluded: Sequence[Interval] = (),
) -> SlaAssessment:
    """The objective and the capped credit of a counted month (``sla_for_month``, or the
    monthly job's counting path with ``sla.month_figures``): 002 §6 rolling cap over the
    failing service's fees, given the credits already issued."""
    objective = offer.sla.objective_pct
    credit: Decimal | None = None
    rolling_applied = False
    cap_base: Decimal | None = None
    if monthly_amount is not None:
        credit = report.credit_amount
        caps = offer.sla.caps
        if caps.rolling_days is not None and caps.rolling_pct is not None:
            day = issued_on or (dt.date(year, month, 1) + dt.timedelta(days=32)).replace(day=1)
            cap_base = monthly_amount
            if caps.rolling_basis == "failing_service" and service_monthly_fee is not None:
                cap_base = service_monthly_fee
            allowed = sla.rolling_cap_allowance(
                credit,
                day,
                previous_credits,
                cap_base,
                cap_pct=caps.rolling_pct,
                window_days=caps.rolling_days,
            )
            rolling_applied = allowed < credit
            credit = allowed
    return SlaAssessment(
        offer_id=offer.id,
        report=report,
        objective_pct=objective,
        objective_met=objective is None or report.availability_pct >= objective,
        monthly_amount=monthly_amount,
        credit_amount=credit,
        rolling_cap_applied=rolling_applied,
        rolling_cap_base=cap_base,
        excluded_maintenance=tuple(excluded),
    )
