"""Service levels, maintenance, snapshots, backups and support hours of an offer."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from nuages.terms.schema_common import (
    Clause,
    ClockTime,
    Duration,
    Money,
    Percent,
    Slug,
    StrictBool,
    StrictInt,
    TermsModel,
    Unit,
    Weekday,
    problem,
)


class Coverage(TermsModel):
    """When unavailability counts: days and local hours, minus holidays if said so.

    002 §6: Monday–Friday 08:00–18:00 outside public holidays and planned maintenance;
    24/7 is every day from "00:00" to "24:00".
    """

    days: Annotated[list[Weekday], Field(min_length=1)]
    start: ClockTime
    end: ClockTime
    exclude_holidays: StrictBool
    clause: Clause | None = None

    @model_validator(mode="after")
    def _window(self) -> Coverage:
        if len(set(self.days)) != len(self.days):
            raise problem("a day is listed twice", "each weekday at most once", "days")
        if self.end <= self.start:
            raise problem(
                "the coverage ends before it starts", 'end after start, e.g. "08:00"–"18:00"', "end"
            )
        return self

    @property
    def always(self) -> bool:
        """True for 24/7 coverage."""
        return (
            len(self.days) == 7
            and self.start == 0
            and self.end == 1440
            and not self.exclude_holidays
        )


class CreditTier(TermsModel):
    """Credit owed when monthly availability falls in ``lower``–``upper`` (percent).

    A missing bound is open (0 % or 100 %). Bounds say whether they belong to the tier,
    because the written tables are ambiguous at their edges (SPEC §17, 002 §6).
    """

    lower_pct: Percent | None = None
    lower_inclusive: StrictBool = True
    upper_pct: Percent | None = None
    upper_inclusive: StrictBool = True
    credit_pct: Percent

    @property
    def low(self) -> Decimal:
        """The lower bound, 0 when open."""
        return Decimal(0) if self.lower_pct is None else self.lower_pct

    @property
    def high(self) -> Decimal:
        """The upper bound, 100 when open."""
        return Decimal(100) if self.upper_pct is None else self.upper_pct

    @model_validator(mode="after")
    def _bounds(self) -> CreditTier:
        if self.low > self.high or (
            self.low == self.high and not (self.lower_inclusive and self.upper_inclusive)
        ):
            raise problem(
                f"the tier is empty: {self.low} to {self.high}",
                "lower_pct below upper_pct",
                "lower_pct",
            )
        return self


class Caps(TermsModel):
    """Ceilings on credits and penalties, as a percent of the monthly amount."""

    # 000 §5: penalties never exceed 30 % of the invoice of the month of the incidents.
    per_month_pct: Percent | None = None
    # 002 §6: credits over any 30 consecutive days capped at 20 % of monthly fees.
    rolling_days: Annotated[StrictInt, Field(ge=1, le=366)] | None = None
    rolling_pct: Percent | None = None
    # 002 §6 "des frais mensuels du service défaillant": the rolling cap is a share of the
    # failing service's monthly fees, not of the whole contract's.
    rolling_basis: Literal["failing_service", "contract"] = "failing_service"
    clause: Clause | None = None

    @model_validator(mode="after")
    def _rolling_pair(self) -> Caps:
        if (self.rolling_days is None) != (self.rolling_pct is None):
            raise problem(
                "a rolling cap needs both rolling_days and rolling_pct",
                "both keys or neither",
                "rolling_pct" if self.rolling_pct is None else "rolling_days",
            )
        return self


class Claim(TermsModel):
    """How credits are obtained: computed automatically or on the client's request."""

    mode: Literal["automatic", "on_request"]
    window: Duration | None = None
    clause: Clause | None = None


class Probation(TermsModel):
    """A period during which the SLA does not apply (002 §4: managed services, 3 months)."""

    applies_to: Literal["managed_services", "all"]
    period: Duration
    starts_on: Literal["footprint_audit_end", "contract_start"]
    clause: Clause | None = None


class Sla(TermsModel):
    """The availability promise, how it is measured and what it pays (002 §6, 000 §5, 001 §6)."""

    enabled: StrictBool
    objective_pct: Percent | None = None
    # 001 §6: best efforts only, no credit attached.
    best_effort: StrictBool = False
    coverage: Coverage | None = None
    # 002 §6 read per SPEC §17: availability is a share of the month's coverage minutes
    # (coverage window minus holidays and planned maintenance), not of every minute of the
    # month; the operator sees the choice here. Equal for 24/7 coverage.
    denominator: Literal["coverage_minutes", "month_minutes"] = "coverage_minutes"
    # 002 §6 "en cas de Notification de Défaillance": the client's failure notice is
    # recorded and unavailability counts from the earlier of detection and notice.
    failure_notice: StrictBool = False
    # Outages shorter than this do not count.
    minimum_outage: Duration | None = None
    planned_maintenance_excluded: StrictBool = True
    excusable_causes: list[Slug] = []
    credit_tiers: list[CreditTier] = []
    credit_basis: Literal["monthly_amount", "month_invoice"] = "monthly_amount"
    caps: Caps = Caps()
    claim: Claim | None = None
    # 000 §5: while a prepaid account is negative the penalty system is suspended and
    # penalties for that time are lost.
    suspended_while_balance_negative: StrictBool = False
    # 000 §5: penalties are a lump sum in full settlement.
    full_settlement: StrictBool = False
    bonuses_possible: StrictBool = False
    probation: Probation | None = None
    clause: Clause | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Sla:
        if self.enabled and self.objective_pct is None:
            raise problem("an enabled SLA needs its objective", 'objective_pct = "99.85"')
        if self.enabled and self.coverage is None:
            raise problem("an enabled SLA needs its coverage", "a [sla.coverage] table")
        if self.minimum_outage is not None and self.minimum_outage.unit not in (
            Unit.minutes,
            Unit.hours,
        ):
            raise problem(
                "minimum_outage must be short",
                'a duration in "minutes" or "hours"',
                "minimum_outage",
                "unit",
            )
        self._check_tiers()
        return self

    def _check_tiers(self) -> None:
        tiers = self.credit_tiers
        if tiers and not self.enabled:
            raise problem("credit tiers on a disabled SLA", "enabled = true", "credit_tiers")
        for i, tier in enumerate(tiers):
            at_or_above = self.objective_pct is not None and (
                tier.high > self.objective_pct
                or (tier.high == self.objective_pct and tier.upper_inclusive)
            )
            if at_or_above:
                raise problem(
                    f"tier {i} grants a credit at or above the objective {self.objective_pct} %",
                    "every tier below the objective",
                    "credit_tiers",
                    i,
                    "upper_pct",
                )
        for i in range(1, len(tiers)):
            above, below = tiers[i - 1], tiers[i]
            where = ("credit_tiers", i, "upper_pct")
            if above.lower_pct is None or below.upper_pct is None:
                raise problem(
                    f"tiers {i - 1} and {i} overlap (an open bound)",
                    "tiers ordered from the highest availability down, not overlapping",
                    *where,
                )
            if below.high > above.low or (
                below.high == above.low and below.upper_inclusive and above.lower_inclusive
            ):
                raise problem(
                    f"tier {i} (up to {below.high} %) overlaps tier {i - 1} (from {above.low} %)",
                    "tiers ordered from the highest availability down, not overlapping",
                    *where,
                )
            if below.high < above.low or (
                below.high == above.low and not (below.upper_inclusive or above.lower_inclusive)
            ):
                raise problem(
                    f"availability between tier {i} and tier {i - 1} earns no credit "
                    f"(gap at {below.high}–{above.low} %)",
                    "contiguous tiers: exactly one side includes each shared bound",
                    *where,
                )
            if below.credit_pct < above.credit_pct:
                raise problem(
                    f"tier {i} pays less ({below.credit_pct} %) than the better tier {i - 1}",
                    "credits growing as availability falls",
                    "credit_tiers",
                    i,
                    "credit_pct",
                )


class ClockWindow(TermsModel):
    """A daily local window; it may wrap past midnight ("22:00"–"08:00", 000 §7)."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> ClockWindow:
        if self.start == self.end:
            raise problem("the window is empty", "start different from end", "end")
        return self


class Maintenance(TermsModel):
    """Planned maintenance: how early it is announced and when it preferably happens."""

    notice: Duration | None = None
    channel: Literal["email", "portal", "registered_letter"] = "email"
    preferred_window: ClockWindow | None = None
    # 000 §7: maintenance escapes penalties only if announced at least `notice` ahead.
    excluded_from_sla_only_with_notice: StrictBool = False
    clause: Clause | None = None


class Snapshots(TermsModel):
    """VM snapshots (002 §3: at most 2 per VM, kept 7 days)."""

    available: StrictBool
    max_per_vm: Annotated[StrictInt, Field(ge=0)] | None = None
    retention: Duration | None = None
    clause: Clause | None = None


class Backups(TermsModel):
    """Periodic backups (002 §3.5: daily, outside working hours, 7 or 31 days, another site)."""

    available: StrictBool
    on_request: StrictBool = True
    frequency: Literal["daily", "weekly"] = "daily"
    window: Literal["outside_working_hours", "any_time"] = "outside_working_hours"
    retention_days_choices: list[Annotated[StrictInt, Field(ge=1)]] = []
    custom_retention_on_quote: StrictBool = False
    # 002 §3.5: backups sit in another data centre than the VM (two sites at least).
    offsite: StrictBool = False
    min_sites: Annotated[StrictInt, Field(ge=1)] = 1
    volume_shown: StrictBool = False
    # 001 §2.2: destroyed without further notice once the retention ends.
    destroyed_after_retention: StrictBool = True
    clause: Clause | None = None

    @model_validator(mode="after")
    def _choices(self) -> Backups:
        choices = self.retention_days_choices
        if self.available and not choices:
            raise problem(
                "available backups need at least one retention",
                "retention_days_choices = [7, 31]",
            )
        if choices != sorted(set(choices)):
            raise problem(
                "retention choices must be ascending and distinct",
                "e.g. [7, 31]",
                "retention_days_choices",
            )
        if self.offsite and self.min_sites < 2:
            raise problem("offsite backups need two sites", "min_sites = 2", "min_sites")
        return self


class Support(TermsModel):
    """Support hours and the price of interventions outside them (001 §10, 003 §5.1.3)."""

    hours: Coverage | None = None
    out_of_hours_minimum_fee: Money | None = None
    out_of_hours_surcharge_pct: Annotated[Percent, Field(le=100)] | None = None
    # 003 §5.1.3: intervention within 4 hours with the maintenance offer.
    intervention_within: Duration | None = None
    # 001 §10.4: a DRS covered by an SLA is replaced within 48 hours.
    replacement_within: Duration | None = None
    # 002 §3.8.3: updates installed on average within 72 working hours (an average, not a
    # deadline; kept as information).
    average_update_delay: Duration | None = None
    clause: Clause | None = None
