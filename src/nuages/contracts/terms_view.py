"""The whole offer as a client accepts it: ``GET /api/v1/offers/{offer_id}``.

Every figure comes from the terms file of the version shown (``content_hash``, the
version an order sends back), with the clause that states it. These are response models
only: the terms-file schema (``nuages.terms.schema``) validates files; these read a
validated offer (``from_attributes``) and show it with plain JSON types (decimals as
strings, clock times as ``"HH:MM"``).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nuages.terms.schema import Offer


class View(BaseModel):
    """A read-only part of an offer, read from the terms model by attribute."""

    model_config = ConfigDict(from_attributes=True)


class PeriodOut(View):
    """A period of the contract, e.g. 12 months (001 §3.1), with its clause."""

    amount: int
    unit: str = Field(
        description="minutes, hours, calendar_days, clear_days, working_days, "
        "jours_ouvrables, months or years (SPEC §16)"
    )
    clause: str | None = None


class Clocked(View):
    """Converts clock times kept as minutes after midnight into "HH:MM"."""

    @field_validator("start", "end", mode="before", check_fields=False)
    @classmethod
    def _hhmm(cls, value: object) -> object:
        if isinstance(value, int):
            return f"{value // 60:02d}:{value % 60:02d}"
        return value


class CoverageOut(Clocked):
    """When a promise holds: days and local hours, holidays excluded or not."""

    days: list[str]
    start: str = Field(description='local time "HH:MM"')
    end: str = Field(description='local time "HH:MM"; "24:00" is the end of the day')
    exclude_holidays: bool
    clause: str | None = None


class SourceOut(View):
    seed: str
    document: str
    version: str


class OptionOut(View):
    """An option and its price (002 §3, 001 §2.2), with its clause."""

    id: str
    kind: str
    name: str
    price: Decimal
    unit: str
    included: bool
    on_quote: bool
    retention_days: int | None
    firewall_tier: str | None
    sends_mail: bool
    clause: str | None


class UserTierOut(View):
    min_users: int
    max_users: int | None
    discount_pct: Decimal


class UserPricingOut(View):
    """Per-user pricing and tier discounts (001 §4.2–4.3)."""

    price_per_user: Decimal
    unit: str
    minimum_subscription: PeriodOut
    tiers: list[UserTierOut]
    clawback_if_tier_not_kept: bool
    clause: str | None


class RenewalOut(View):
    tacit: bool
    period: PeriodOut | None
    aligned_to: str
    clause: str | None


class WithdrawalOut(View):
    """Consumer withdrawal (003 §12)."""

    consumers_only: bool
    period: PeriodOut
    extend_to_next_jour_ouvrable: bool
    clause: str | None


class DurationOut(View):
    """Initial term, renewal and notice (000 §9, 001 §3, 003 §11, 004 §5)."""

    initial: PeriodOut
    minimum: PeriodOut | None
    minimum_service: PeriodOut | None
    end_alignment: str
    renewal: RenewalOut
    notice_before_term_end: PeriodOut | None
    notice_by: str
    effective_when_data_recovered: bool
    withdrawal: WithdrawalOut | None
    clause: str | None


class ChangesOut(View):
    """How the terms may change, and the windows to refuse (000 §4, 004 §3)."""

    unilateral: bool
    channel: str
    refusal_window: PeriodOut | None
    refusal_by: str
    silence_is_acceptance: bool
    legal_changes_refusable: bool
    on_refusal: str
    service_change_termination_window: PeriodOut | None
    refusal_window_from: str
    change_termination_notice: PeriodOut | None
    renewal_tariffs_notice: PeriodOut | None
    clause: str | None


class PrepaidOut(View):
    """A prepaid account (000 §13.2)."""

    minimum_amount: Decimal
    debit_basis: str
    minimum_billed: PeriodOut
    stopped_vms_billed: bool
    suspension_billed: bool
    on_negative_balance: str
    top_up_means: list[str]
    clause: str | None


class InvoicedOut(View):
    """Invoices and their payment terms (001 §4, 003 §14, 004 §8.2)."""

    period: str
    periods_allowed: list[str]
    timing: str
    payment_term: PeriodOut
    payment_term_from: str
    dispute_window: PeriodOut | None
    dispute_window_from: str
    payment_means: list[str]
    first_payment_means: list[str] | None
    partial_payments_accepted: bool
    delivery: str
    clause: str | None


class LatePaymentOut(View):
    """Late-payment interest (000 §13.1, 001 §4.4)."""

    rule: str
    legal_rate_multiple: Decimal | None
    yearly_rate_pct: Decimal | None
    started_months_in_full: bool
    accrues_from: str
    clause: str | None


class ReminderFeesOut(View):
    first: Decimal
    repeat: Decimal
    clause: str | None


class DepositOut(View):
    hardware_pct: Decimal
    title_retained_until_paid: bool
    clause: str | None


class PaymentOut(View):
    """How the client pays, and what paying late costs."""

    mode: str
    prepaid: PrepaidOut | None
    invoiced: InvoicedOut | None
    late_payment: LatePaymentOut
    reminder_fees: ReminderFeesOut | None
    deposit: DepositOut | None
    all_sums_due_on_default: bool


class IndexWeightOut(View):
    name: str
    weight: Decimal
    description: str | None


class IndexationOut(View):
    """Yearly price revision (000 §13.3, 003 §14.3, 004 §8.1)."""

    formula: str
    fixed_part: Decimal
    indices: list[IndexWeightOut]
    anniversary_of: str
    yearly_cap_pct: Decimal | None
    announced_by: str
    client_may_terminate: bool
    clause: str | None


class CreditTierOut(View):
    """A credit owed when monthly availability falls between the bounds (002 §6)."""

    lower_pct: Decimal | None
    lower_inclusive: bool
    upper_pct: Decimal | None
    upper_inclusive: bool
    credit_pct: Decimal


class CapsOut(View):
    per_month_pct: Decimal | None
    rolling_days: int | None
    rolling_pct: Decimal | None
    rolling_basis: str
    clause: str | None


class ClaimOut(View):
    mode: str
    window: PeriodOut | None
    clause: str | None


class ProbationOut(View):
    applies_to: str
    period: PeriodOut
    starts_on: str
    clause: str | None


class SlaOut(View):
    """The availability promise and what it pays (000 §5, 001 §6, 002 §6)."""

    enabled: bool
    objective_pct: Decimal | None
    best_effort: bool
    coverage: CoverageOut | None
    # 002 §6 / SPEC §17: what availability is a share of (coverage or month minutes).
    denominator: str
    failure_notice: bool
    minimum_outage: PeriodOut | None
    planned_maintenance_excluded: bool
    excusable_causes: list[str]
    credit_tiers: list[CreditTierOut]
    credit_basis: str
    caps: CapsOut
    claim: ClaimOut | None
    suspended_while_balance_negative: bool
    full_settlement: bool
    bonuses_possible: bool
    probation: ProbationOut | None
    clause: str | None


class ClockWindowOut(Clocked):
    start: str
    end: str


class MaintenanceOut(View):
    notice: PeriodOut | None
    channel: str
    preferred_window: ClockWindowOut | None
    excluded_from_sla_only_with_notice: bool
    clause: str | None


class SuspensionGroundOut(View):
    """One ground for suspension, what must come first and the notice (SPEC §11)."""

    cause: str
    after: str
    delay: PeriodOut | None
    notice: str
    billed: bool
    lifted_by: str  # a network cut on it: lifted by staff or by a reinstall (003 §7.3)
    clause: str | None


class SuspensionOut(View):
    grounds: list[SuspensionGroundOut]
    blocks_access_only: bool
    restored_when_remedied: bool
    provider_may_terminate_after: PeriodOut | None
    clause: str | None


class TerminationOut(View):
    """Termination for breach (000 §16, 001 §3.3, 003 §13.1.2)."""

    breach_cure: PeriodOut | None
    breach_notice_by: str
    may_suspend_during_cure: bool
    remedy_after_reminder: PeriodOut | None
    clause: str | None


class ReversibilityOut(View):
    """Getting data back at the end (000 §18, 001 §7, 002 §10, 003 §13.2, 004 §17.2)."""

    window: PeriodOut | None
    starts_on: str
    exercise_by: str
    fee: Decimal | None
    fee_per: str
    media_billed: bool
    requires_paid_up: bool
    denied_after_payment_default: bool
    vm_images_standard_format: bool
    partial_recovery_anytime: bool
    service_continues_during_window: bool
    after_window: str | None
    clause: str | None


class LiabilityOut(View):
    """The liability cap and the window for claims (SPEC §15)."""

    cap_rule: str
    short_failure_max_days: int | None
    short_failure_monthly_multiple: Decimal | None
    long_failure_yearly_multiple: Decimal | None
    claim_window: PeriodOut | None
    claim_by: str
    indirect_damages_excluded: bool
    termination_damages_cap: str
    clause: str | None


class TermsOut(View):
    """Everything the offer's terms file promises, section by section."""

    options: list[OptionOut]
    user_pricing: UserPricingOut | None
    duration: DurationOut
    changes: ChangesOut
    payment: PaymentOut
    indexation: IndexationOut
    sla: SlaOut
    maintenance: MaintenanceOut
    suspension: SuspensionOut
    termination: TerminationOut
    reversibility: ReversibilityOut
    liability: LiabilityOut

    @classmethod
    def of(cls, offer: Offer) -> TermsOut:
        """The sections of one validated offer."""
        return cls(
            options=[OptionOut.model_validate(o) for o in offer.catalogue.options],
            user_pricing=(
                UserPricingOut.model_validate(offer.catalogue.user_pricing)
                if offer.catalogue.user_pricing is not None
                else None
            ),
            duration=DurationOut.model_validate(offer.duration),
            changes=ChangesOut.model_validate(offer.changes),
            payment=PaymentOut.model_validate(offer.billing),
            indexation=IndexationOut.model_validate(offer.indexation),
            sla=SlaOut.model_validate(offer.sla),
            maintenance=MaintenanceOut.model_validate(offer.maintenance),
            suspension=SuspensionOut.model_validate(offer.suspension),
            termination=TerminationOut.model_validate(offer.termination),
            reversibility=ReversibilityOut.model_validate(offer.reversibility),
            liability=LiabilityOut.model_validate(offer.liability),
        )
