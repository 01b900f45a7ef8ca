"""Contract life: duration and renewal, changes, indexation, suspension, termination,
reversibility and liability."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from nuages.terms.schema_common import (
    Clause,
    Duration,
    Fraction,
    Money,
    Number,
    Percent,
    Slug,
    StrictBool,
    StrictInt,
    StrictStr,
    TermsModel,
    problem,
)


class Renewal(TermsModel):
    """Tacit renewal (000 §9: same duration; 001 §3.2: 12 months from 1 January)."""

    tacit: StrictBool
    period: Duration | None = None
    aligned_to: Literal["none", "january_1"] = "none"
    clause: Clause | None = None

    @model_validator(mode="after")
    def _period(self) -> Renewal:
        if self.tacit and self.period is None:
            raise problem("a tacit renewal needs its period", "period = { amount, unit }")
        return self


class Withdrawal(TermsModel):
    """Consumer withdrawal (003 §12: 7 clear days, extended to the next jour ouvrable)."""

    consumers_only: StrictBool = True
    period: Duration
    extend_to_next_jour_ouvrable: StrictBool
    clause: Clause | None = None


class ContractDuration(TermsModel):
    """The ``[duration]`` table: initial term, minimum, renewal and notice."""

    initial: Duration
    minimum: Duration | None = None
    # 000 §9: whatever the order says, a service never lasts less than one hour.
    minimum_service: Duration | None = None
    # 001 §3.1: the first term ends on 31 December of the following calendar year.
    end_alignment: Literal["none", "december_31_following_year"] = "none"
    renewal: Renewal
    # Non-renewal or termination must reach the other party this long before the term
    # ends (001 §3.2: 3 months; 003 §13.1.4: 90 days; 004 §5: 3 months).
    notice_before_term_end: Duration | None = None
    notice_by: Literal["registered_letter", "email", "any"] = "registered_letter"
    # 004 §5: termination takes effect only once the client confirms it has its data,
    # and billing runs until then.
    effective_when_data_recovered: StrictBool = False
    withdrawal: Withdrawal | None = None
    clause: Clause | None = None


class Changes(TermsModel):
    """The ``[changes]`` table: how the provider may change the terms or the service."""

    # 001 §19: any change needs a writing signed by both parties.
    unilateral: StrictBool
    channel: Literal["email", "online", "registered_letter"] = "email"
    # 000 §4: one month to refuse by registered letter; 004 §3: 30 days.
    refusal_window: Duration | None = None
    # From when the refusal window runs: the provider's notice (000 §4) or the entry into
    # force of the new terms (004 §3 "dans un délai maximal de trente (30) jours suivant
    # l'entrée en vigueur").
    refusal_window_from: Literal["notice", "entry_into_force"] = "notice"
    refusal_by: Literal["registered_letter", "email", "any"] = "any"
    silence_is_acceptance: StrictBool = True
    # 000 §4: changes imposed by law cannot be refused.
    legal_changes_refusable: StrictBool = False
    # ``old_terms_continue``: the clause states no consequence of a refusal; read for the
    # client (SPEC §17) the refused version does not bind it (004 §3).
    on_refusal: Literal[
        "old_terms_until_end_no_renewal", "old_terms_continue", "termination", "none"
    ] = "none"
    # 003 §14.4: the client may terminate within 30 days of a service change.
    service_change_termination_window: Duration | None = None
    # 004 §4, §8.1: after a change of service or price the client may terminate
    # "conformément à l'article Durée": with this notice (§5: 3 months), effective that
    # long after the client's notice, without waiting for the term (SPEC §2, §17).
    change_termination_notice: Duration | None = None
    # 001 §4.5: tariffs for a renewal are notified 3 months before it.
    renewal_tariffs_notice: Duration | None = None
    clause: Clause | None = None

    @model_validator(mode="after")
    def _unilateral(self) -> Changes:
        if self.refusal_window_from == "entry_into_force" and self.refusal_window is None:
            raise problem(
                "refusal_window_from without a refusal window",
                "a refusal_window, or no refusal_window_from",
                "refusal_window_from",
            )
        if not self.unilateral and self.refusal_window is not None:
            raise problem(
                "a refusal window without unilateral changes",
                "unilateral = true, or no refusal_window",
                "refusal_window",
            )
        return self


class IndexWeight(TermsModel):
    """One index of a revision formula and its weight."""

    name: Slug
    weight: Fraction
    description: StrictStr | None = None


class Indexation(TermsModel):
    """Yearly price revision (000 §13.3 formula; 004 §8.1 Syntec; 003 §14.3 5 % cap)."""

    formula: Literal["weighted_indices", "capped_increase", "published_tariffs", "none"]
    fixed_part: Fraction = Decimal(0)
    indices: list[IndexWeight] = []
    anniversary_of: Literal["contract_start", "minimum_amount_paid", "renewal"] = "contract_start"
    index_values: Literal["last_known_at_revision"] = "last_known_at_revision"
    yearly_cap_pct: Percent | None = None
    announced_by: Literal["email", "registered_letter", "online", "none"] = "none"
    client_may_terminate: StrictBool = False
    clause: Clause | None = None

    @model_validator(mode="after")
    def _weights(self) -> Indexation:
        names = [index.name for index in self.indices]
        if len(set(names)) != len(names):
            raise problem("an index is listed twice", "each index once", "indices")
        if self.formula == "weighted_indices":
            if not self.indices:
                raise problem("the weighted formula needs indices", "[[indexation.indices]]")
            total = self.fixed_part + sum((i.weight for i in self.indices), Decimal(0))
            if total != 1:
                raise problem(
                    f"fixed_part and weights sum to {total}",
                    "fixed_part + Σ weights = 1",
                    "indices",
                )
        elif self.indices:
            raise problem(
                f"indices are only read by the weighted formula, not {self.formula!r}",
                'formula = "weighted_indices" or no indices',
                "indices",
            )
        if self.formula == "capped_increase" and self.yearly_cap_pct is None:
            raise problem("a capped increase needs its cap", 'yearly_cap_pct = "5"')
        return self


class SuspensionGround(TermsModel):
    """One reason the provider may suspend, with the delay and notice it requires."""

    cause: Slug
    # What must happen first, and how long after it suspension may start.
    after: Literal["event", "formal_notice", "reminder", "due_date", "issue_date"] = "event"
    delay: Duration | None = None
    notice: Literal["none", "email_if_possible", "email", "registered_letter"] = "none"
    billed: StrictBool = True
    # Who lifts a network cut on this ground: staff, or only the server's reinstall —
    # a compromised server's connection stays cut "en attendant la réinstallation à neuf
    # de la machine" (003 §7.3), "dans l'attente de la réinstallation par le CLIENT"
    # (004 annexe 1). Read by compute's network cut (``compute/net``).
    lifted_by: Literal["staff", "reinstall"] = "staff"
    clause: Clause | None = None


class Suspension(TermsModel):
    """The ``[suspension]`` table (000 §11, 001 §13.2, 003 §8, §14.5, 004 §7, §17.1)."""

    grounds: Annotated[list[SuspensionGround], Field(min_length=1)]
    # 003 §8: suspension blocks access, not the service, and never releases payment.
    blocks_access_only: StrictBool = False
    restored_when_remedied: StrictBool = True
    # 004 §17.1: a suspension longer than 15 days lets the provider terminate.
    provider_may_terminate_after: Duration | None = None
    # 003 §8: a suspension is placed and lifted by a written notice …
    by_written_notice: StrictBool = False
    # … and never turns into a termination by itself (a termination needs its own notice).
    never_becomes_termination: StrictBool = False
    clause: Clause | None = None

    @model_validator(mode="after")
    def _unique(self) -> Suspension:
        if self.never_becomes_termination and self.provider_may_terminate_after is not None:
            raise problem(
                "never_becomes_termination contradicts provider_may_terminate_after "
                "(003 §8: a suspension is never a ground to terminate)",
                "one of the two",
                "provider_may_terminate_after",
            )
        causes = [g.cause for g in self.grounds]
        for i, cause in enumerate(causes):
            if cause in causes[:i]:
                raise problem(
                    f"ground {cause!r} is listed twice", "each cause once", "grounds", i, "cause"
                )
        return self


class ForceMajeure(TermsModel):
    """Force-majeure timings (003 §9)."""

    notify_within: Duration | None = None
    automatic_termination_after: Duration | None = None
    termination_notice: Duration | None = None
    either_party_may_terminate_after: Duration | None = None
    clause: Clause | None = None


class Termination(TermsModel):
    """Termination for breach (000 §16: 15 clear days; 001 §3.3: 30 days; 003 §13.1.2: 8 days)."""

    breach_cure: Duration | None = None
    breach_notice_by: Literal["registered_letter", "any_proof", "email"] = "registered_letter"
    # 000 §16: VMs may be suspended before the cure period ends.
    may_suspend_during_cure: StrictBool = False
    # 001 §13.2: suspended or ended if not remedied within 48 h of a reminder.
    remedy_after_reminder: Duration | None = None
    force_majeure: ForceMajeure | None = None
    # 003 §13.1.5: a notice's date is the postmark of its first presentation; deadlines run
    # from it. ``receipt``: from when it was received.
    notice_dated_by: Literal["receipt", "first_presentation"] = "receipt"
    # 003 §13.2.1: on early termination every unpaid amount of the subscribed duration
    # becomes due at once (and data is returned only once it is paid, reversibility).
    early_termination_remaining_due: StrictBool = False
    clause: Clause | None = None


class Reversibility(TermsModel):
    """Getting data back at the end (000 §18, 001 §7, 002 §10, 003 §13.2, 004 §17.2)."""

    window: Duration | None = None
    starts_on: Literal["contract_end", "termination_letter_received"] = "contract_end"
    exercise_by: Literal["registered_letter", "request", "none"] = "request"
    fee: Money | None = None
    fee_per: Literal["transfer", "vm", "none"] = "none"
    media_billed: StrictBool = False
    requires_paid_up: StrictBool = False
    # 002 §10: no reversibility after a payment default.
    denied_after_payment_default: StrictBool = False
    # 000 §18: an image of each VM in a standard format, whatever the cause of the end.
    vm_images_standard_format: StrictBool = False
    partial_recovery_anytime: StrictBool = False
    service_continues_during_window: StrictBool = False
    # None when the contract does not say what happens once the window is over.
    after_window: (
        Literal["erase", "destroy_confidentially", "extract_to_media_at_client_cost"] | None
    ) = None
    clause: Clause | None = None

    @model_validator(mode="after")
    def _fee(self) -> Reversibility:
        if (self.fee is None) != (self.fee_per == "none"):
            raise problem(
                "fee and fee_per go together", 'both (fee = "250", fee_per = "transfer") or neither'
            )
        return self


class Liability(TermsModel):
    """The provider's liability cap and the window for claims (SPEC §15)."""

    cap_rule: Literal[
        "monthly_multiple_by_duration",
        "yearly_fee_paid_last_12_months",
        "amounts_received_until_event",
        "invoiced_last_12_months_aggregate",
        "none",
    ]
    # 000 §12.1: 2 × monthly amount if the failure lasted ≤ 15 days, else 1 × yearly.
    short_failure_max_days: Annotated[StrictInt, Field(ge=1)] | None = None
    short_failure_monthly_multiple: Annotated[Number, Field(gt=0)] | None = None
    long_failure_yearly_multiple: Annotated[Number, Field(gt=0)] | None = None
    claim_window: Duration | None = None
    claim_by: Literal["registered_letter", "any"] = "any"
    indirect_damages_excluded: StrictBool = True
    # 001 §13.1: damages for termination capped at the yearly fee of the last 12 months.
    termination_damages_cap: Literal["yearly_fee_last_12_months", "none"] = "none"
    clause: Clause | None = None

    @model_validator(mode="after")
    def _rule_fields(self) -> Liability:
        needs = (
            self.short_failure_max_days,
            self.short_failure_monthly_multiple,
            self.long_failure_yearly_multiple,
        )
        if self.cap_rule == "monthly_multiple_by_duration" and None in needs:
            raise problem(
                "this cap rule needs its three numbers",
                "short_failure_max_days, short_failure_monthly_multiple, "
                "long_failure_yearly_multiple",
            )
        if self.cap_rule != "monthly_multiple_by_duration" and any(n is not None for n in needs):
            raise problem(
                "short/long failure numbers are only read by the monthly-multiple rule",
                'cap_rule = "monthly_multiple_by_duration"',
            )
        return self


class Confidentiality(TermsModel):
    """How long confidentiality lasts after the end (000 §15: 5 years; 003 §15: 1 year)."""

    after_end: Duration
    clause: Clause | None = None


class DataProtection(TermsModel):
    """GDPR processor duties the platform times (001 §15–16).

    001 §16.8: the client announces an audit at least 5 *jours ouvrables* ahead
    (Monday–Saturday minus the law's holidays, SPEC §16), and the provider's work beyond
    3 hours is billed (read for the client: the provider's work, SPEC §14).
    """

    audit_notice: Duration | None = None
    audit_free_hours: Annotated[StrictInt, Field(ge=0)] | None = None
    clause: Clause | None = None


class Abuse(TermsModel):
    """Misuse reports and violation notices (003 §7.9).

    After a misuse report the provider may assign a new IP address (of ``ip_country``) to
    which the client must switch; the old one is released after a switch-over period the
    staff set. After a violation notice the client must stop the activity or be
    suspended. Reports and notices are kept per client.
    """

    ip_reassignment_after_misuse: StrictBool = False
    ip_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    switch_over_set_by_staff: StrictBool = True
    suspension_after_violation_notice: StrictBool = False
    reports_kept_per_client: StrictBool = True
    clause: Clause | None = None
