"""The ``[billing]`` table: prepaid account or invoices, late payment, reminders, deposits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nuages.terms.schema_common import (
    Clause,
    Duration,
    Money,
    Number,
    Percent,
    StrictBool,
    StrictInt,
    TermsModel,
    Unit,
    problem,
)

PaymentMeans = Literal["card", "transfer", "direct_debit", "cheque"]


class BalanceRefund(TermsModel):
    """Share of a credit balance refunded at the end (000 §13.2), in percent."""

    non_renewal: Percent
    provider_fault: Percent
    client_fault: Percent
    shared_fault: Percent
    clause: Clause | None = None


class Prepaid(TermsModel):
    """A client account credited in advance and debited as services run (000 §1, §13.2)."""

    # 000 §13.2: the Minimum Amount is set by the particular conditions.
    minimum_amount: Money
    debit_basis: Literal["hourly", "monthly"]
    # 000 §9: a service never lasts less than one hour, so a deleted VM costs at least that.
    minimum_billed: Duration
    stopped_vms_billed: StrictBool
    # 000 §11.1: suspension is billed unless the provider was manifestly wrong.
    suspension_billed: StrictBool
    # 000 §11.2: a negative balance allows suspension without notice.
    on_negative_balance: Literal["suspend_without_notice", "notify_then_suspend", "none"]
    top_up_means: Annotated[list[PaymentMeans], Field(min_length=1)]
    balance_refund: BalanceRefund
    clause: Clause | None = None

    @model_validator(mode="after")
    def _minimum_billed(self) -> Prepaid:
        if self.minimum_billed.unit not in (Unit.minutes, Unit.hours):
            raise problem(
                f"minimum_billed is counted in {self.minimum_billed.unit.value}",
                'a duration in "minutes" or "hours"',
                "minimum_billed",
                "unit",
            )
        return self


class Invoiced(TermsModel):
    """Invoices per period, in advance or in arrears (001 §4, 003 §14, 004 §8.2)."""

    period: Literal["month", "quarter"]
    # 003 §14.1: monthly or quarterly at the client's option.
    periods_allowed: Annotated[list[Literal["month", "quarter"]], Field(min_length=1)]
    timing: Literal["advance", "arrears"]
    payment_term: Duration
    # 004 §8.2 "dans le cours du mois suivant l'émission": counted from the end of the
    # month of issue (the client-favourable reading, SPEC §17).
    payment_term_from: Literal["issue", "receipt", "end_of_issue_month"]
    dispute_window: Duration | None = None
    dispute_window_from: Literal["issue", "receipt"] = "issue"
    # SPEC §17 "Receipt of an invoice" (001 §4.1, §4.4): received when the client's mail
    # server accepted its e-mail (recorded by the notices slice); until that is recorded,
    # at the start of the issue date plus this many calendar days (1).
    assumed_receipt_after_issue: Annotated[StrictInt, Field(ge=0, le=31)] | None = None
    payment_means: Annotated[list[PaymentMeans], Field(min_length=1)]
    # 003 §14.2: the first payment may use other means than the following ones.
    first_payment_means: list[PaymentMeans] | None = None
    # 003 §14.5: partial or irregular payments are rejected.
    partial_payments_accepted: StrictBool
    delivery: Literal["email", "post", "portal"]
    clause: Clause | None = None

    @model_validator(mode="after")
    def _period_allowed(self) -> Invoiced:
        if self.period not in self.periods_allowed:
            raise problem(
                f"the default period {self.period!r} is not in periods_allowed",
                "period listed in periods_allowed",
                "period",
            )
        return self


class LatePayment(TermsModel):
    """Late-payment interest (000 §13.1: 3 × legal rate; 001 §4.4: 8 %/year, started months)."""

    rule: Literal["legal_rate_multiple", "fixed_yearly_rate", "none"]
    legal_rate_multiple: Annotated[Number, Field(gt=0, le=10)] | None = None
    # Whose legal rate: a country's series of legal rates entered by staff (SPEC §17);
    # unset, the contract's law (000: Belgium, though it cites the French commercial code).
    legal_rate_series: Literal["FR", "BE"] | None = None
    yearly_rate_pct: Percent | None = None
    started_months_in_full: StrictBool = False
    accrues_from: Literal["due_date", "day_after_due_date"]
    clause: Clause | None = None

    @model_validator(mode="after")
    def _rule_fields(self) -> LatePayment:
        if self.rule == "legal_rate_multiple" and self.legal_rate_multiple is None:
            raise problem("the legal-rate rule needs its multiple", 'legal_rate_multiple = "3"')
        if self.rule == "fixed_yearly_rate" and self.yearly_rate_pct is None:
            raise problem("the fixed-rate rule needs its rate", 'yearly_rate_pct = "8"')
        if self.rule != "legal_rate_multiple" and self.legal_rate_multiple is not None:
            raise problem(
                "legal_rate_multiple is only read by the legal-rate rule",
                'rule = "legal_rate_multiple"',
                "legal_rate_multiple",
            )
        if self.rule != "legal_rate_multiple" and self.legal_rate_series is not None:
            raise problem(
                "legal_rate_series is only read by the legal-rate rule",
                'rule = "legal_rate_multiple"',
                "legal_rate_series",
            )
        if self.rule != "fixed_yearly_rate" and self.yearly_rate_pct is not None:
            raise problem(
                "yearly_rate_pct is only read by the fixed-rate rule",
                'rule = "fixed_yearly_rate"',
                "yearly_rate_pct",
            )
        return self


class ReminderFees(TermsModel):
    """Flat fee per payment reminder, higher on repeat (001 §4.4)."""

    first: Money
    repeat: Money
    clause: Clause | None = None


class Deposit(TermsModel):
    """Deposit on orders including hardware, title kept until paid (001 §4.6)."""

    hardware_pct: Percent
    title_retained_until_paid: StrictBool
    clause: Clause | None = None


class Billing(TermsModel):
    """How the client pays: exactly one of ``prepaid`` or ``invoiced`` matches ``mode``."""

    mode: Literal["prepaid", "invoiced"]
    prepaid: Prepaid | None = None
    invoiced: Invoiced | None = None
    late_payment: LatePayment
    reminder_fees: ReminderFees | None = None
    deposit: Deposit | None = None
    # 003 §14.5: any default makes every remaining sum due at once.
    all_sums_due_on_default: StrictBool = False

    @model_validator(mode="after")
    def _mode_table(self) -> Billing:
        if self.mode == "prepaid":
            if self.prepaid is None:
                raise problem(
                    'mode = "prepaid" needs a [billing.prepaid] table', "[billing.prepaid]"
                )
            if self.invoiced is not None:
                raise problem(
                    "a prepaid offer has no [billing.invoiced] table",
                    'mode = "invoiced" or no [billing.invoiced]',
                    "invoiced",
                )
        else:
            if self.invoiced is None:
                raise problem(
                    'mode = "invoiced" needs a [billing.invoiced] table', "[billing.invoiced]"
                )
            if self.prepaid is not None:
                raise problem(
                    "an invoiced offer has no [billing.prepaid] table",
                    'mode = "prepaid" or no [billing.prepaid]',
                    "prepaid",
                )
        return self
