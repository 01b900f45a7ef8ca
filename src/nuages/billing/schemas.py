"""Request and response bodies of the billing API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from nuages.kernel.validation import Money, Out, SafeName, Strict

# A top-up in the currency's cents: positive, at most 2 decimals, below 10^10.
TopUpAmount = Annotated[Money, Field(gt=0, max_digits=12, decimal_places=2)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# The SEPA character set (EPC guidelines): what banks carry in references.
SepaText = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=35, pattern=r"^[A-Za-z0-9/?:().,'+ -]+$", strip_whitespace=True
    ),
]
Reason = Annotated[str, StringConstraints(min_length=3, max_length=300, strip_whitespace=True)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$")]
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class TransferCreate(Strict):
    """A bank transfer the provider received for a contract's account (000 §13.2).

    ``reference`` is the bank's own reference of the credit (AcctSvcrRef on the
    statement): the same transfer can never be credited twice, by hand or by import.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": "150.00",
                    "currency": "EUR",
                    "reference": "BANKREF-2026-000123",
                    "received_on": "2026-11-20",
                }
            ]
        }
    )

    amount: TopUpAmount
    currency: Currency = "EUR"
    reference: SepaText
    received_on: dt.date | None = Field(default=None, description="value date; today if omitted")
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class AdjustmentCreate(Strict):
    """A staff movement with its reason: a correction (either sign), a credit, a fee or a
    refund of credit balance. Corrections are new entries; nothing is ever edited."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "credit",
                    "amount": "12.50",
                    "reason": "SLA penalty for the outage of 3 November (000 §5)",
                    "idempotency_key": "sla-2026-11-ticket-42",
                }
            ]
        }
    )

    kind: Literal["adjustment", "credit", "fee", "refund"]
    amount: Annotated[Money, Field(max_digits=18, decimal_places=6)] = Field(
        description="positive; an adjustment may be negative (a debit)"
    )
    reason: Reason
    idempotency_key: Key | None = Field(default=None, description="retries find the first entry")


class MandateCreate(Strict):
    """A SEPA Core mandate the client signed: the IBAN and BIC are checked."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "iban": "BE68 5390 0754 7034",
                    "bic": "GKCCBEBB",
                    "holder_name": "Exemple SPRL",
                    "signed_on": "2026-11-01",
                }
            ]
        }
    )

    iban: Annotated[str, StringConstraints(min_length=5, max_length=42)]
    bic: Annotated[str, StringConstraints(min_length=8, max_length=11)] | None = None
    holder_name: Annotated[str, StringConstraints(min_length=1, max_length=70)]
    signed_on: dt.date
    # A pre-notification period shorter than the SEPA rulebook's 14 days, if the
    # mandate agrees one (the debtor signed it); None: 14 calendar days.
    prenotice_days: int | None = Field(default=None, ge=1, le=14)


def mask_iban(iban: str) -> str:
    """An IBAN with all but its country, check digits and last four characters hidden."""
    return iban[:4] + "*" * max(len(iban) - 8, 0) + iban[-4:]


class MandateOut(Out):
    """A mandate; the IBAN is shown masked."""

    id: str
    contract_id: str
    reference: str
    iban_masked: Annotated[str, AfterValidator(mask_iban)] = Field(validation_alias="iban")
    bic: str
    holder_name: str
    signed_on: dt.date
    state: str
    used: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class DirectDebitCreate(Strict):
    """Ask for a direct-debit top-up under the contract's active mandate; it goes out in
    the next pain.008 batch. ``reference`` is the caller's own: a retry finds the first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": "200.00", "currency": "EUR", "reference": "topup-2026-11"}]
        }
    )

    amount: TopUpAmount
    currency: Currency = "EUR"
    reference: Key


class DirectDebitOut(Out):
    """A collection and where it stands: pending, in_batch, settled (credited),
    returned or cancelled."""

    id: str
    contract_id: str
    mandate_id: str
    amount: Decimal
    currency: str
    end_to_end_id: str
    state: str
    batch_id: str | None
    collection_date: dt.date | None
    sequence_type: str | None
    settled_at: dt.datetime | None
    returned_at: dt.datetime | None
    return_reason: str | None
    created_at: dt.datetime


class DebitSettleCreate(Strict):
    """The bank booked a collection sent in a batch: the account is credited, once."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"end_to_end_id": "NUA0123456789ABCDEF"}]}
    )

    end_to_end_id: SepaText


class DebitReturnCreate(Strict):
    """The debtor's bank returned a collection (R-transaction): its top-up is reversed."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"end_to_end_id": "NUA0123456789ABCDEF", "reason": "AM04"}]}
    )

    end_to_end_id: SepaText
    reason: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{4}$")] = Field(
        description="ISO 20022 return reason code, e.g. AM04 (insufficient funds)"
    )


class AccountRowOut(Out):
    """An account in a list."""

    contract_id: str
    client_id: str
    currency: str
    balance: Decimal
    payment_reference: str
    negative_since: dt.datetime | None
    suspended_at: dt.datetime | None
    created_at: dt.datetime


class IntervalOut(BaseModel):
    """A half-open span [start, end)."""

    start: dt.datetime
    end: dt.datetime


class EntryOut(Out):
    """One ledger entry."""

    seq: int
    kind: str
    amount: Decimal
    currency: str
    at: dt.datetime
    recorded_at: dt.datetime
    reference: str
    description: str
    resource_type: str | None
    resource_id: str | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    quantity: Decimal | None
    unit_price: Decimal | None
    corrects_seq: int | None


class AccountOut(BaseModel):
    """A contract's prepaid account: balance, how to pay, how long it lasts."""

    contract_id: str
    client_id: str
    currency: str
    balance: Decimal
    payment_reference: str = Field(description="write it on transfers (ISO 11649)")
    minimum_amount: Decimal = Field(description="credited to form the contract (000 §3.1)")
    contract_state: str
    negative_since: dt.datetime | None
    suspended_at: dt.datetime | None
    hourly_burn: Decimal = Field(description="what the running resources cost per hour")
    runs_out_at: dt.datetime | None = Field(description="at the current burn; null if none")


class UsageOut(Out):
    """One resource over one period, as debited."""

    seq: int
    resource_type: str | None
    resource_id: str | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    description: str


class UsageTotalOut(BaseModel):
    """What one resource cost over [since, until)."""

    resource_type: str
    resource_id: str
    periods: int
    quantity: Decimal
    amount: Decimal


class ExtensionCreate(Strict):
    """Extra VMs, extra resources for one VM, or an option, for a limited period
    (000 §8), billed per extra VM-hour.

    ``vms``: ``quantity`` VMs of flavour ``item_id`` booting ``image`` (default: the
    image of the contract's newest VM) with ``ssh_key_ids`` (default: that VM's keys).
    ``resources``: VM ``vm_id`` runs with the vCPU and RAM of flavour ``item_id`` for
    the period (its disk stays: a disk cannot shrink back), then gets its own back.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "vms",
                    "item_id": "vm-m",
                    "quantity": 2,
                    "starts_at": "2030-01-10T08:00:00Z",
                    "ends_at": "2030-01-12T20:00:00Z",
                    "reason": "sales campaign",
                }
            ]
        }
    )

    kind: Literal["vms", "resources", "option"] = "vms"
    item_id: SafeName = Field(
        description="a flavour id (vms, resources) or an option id of the offer"
    )
    quantity: int = Field(ge=1, le=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Annotated[str, StringConstraints(max_length=300)] = ""
    image: Annotated[str, StringConstraints(min_length=1, max_length=63)] | None = Field(
        default=None, description="vms: an image id or name"
    )
    ssh_key_ids: list[ObjectId] | None = Field(default=None, max_length=20)
    vm_id: ObjectId | None = Field(default=None, description="resources: the VM to enlarge")


class ExtensionDecision(Strict):
    """An owner's answer to an extension request."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "agreed"}]})

    reason: Annotated[str, StringConstraints(max_length=300)] = ""


class ExtensionOut(Out):
    """An extension and where it stands."""

    id: str
    contract_id: str
    kind: str
    item_id: str
    quantity: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    active_from: dt.datetime | None
    state: str
    reason: str
    requested_by: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    policy_id: str | None
    image_id: str | None
    vm_id: str | None
    released_at: dt.datetime | None
    created_at: dt.datetime


class PolicyPut(Strict):
    """The owner's standing authorisation for automatic extensions (000 §8)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "cpu_pct": 85,
                    "sustained_minutes": 15,
                    "flavour_id": "vm-m",
                    "quantity": 1,
                    "duration_hours": 6,
                    "monthly_budget": "50.00",
                }
            ]
        }
    )

    enabled: bool = True
    cpu_pct: int = Field(ge=1, le=100)
    sustained_minutes: int = Field(ge=1, le=1440)
    flavour_id: SafeName
    quantity: int = Field(ge=1, le=20)
    duration_hours: int = Field(ge=1, le=744)
    monthly_budget: TopUpAmount


class PolicyOut(Out):
    """An automatic-extension policy."""

    id: str
    contract_id: str
    enabled: bool
    cpu_pct: int
    sustained_minutes: int
    flavour_id: str
    quantity: int
    duration_hours: int
    monthly_budget: Decimal
    set_by: str | None
    updated_at: dt.datetime


class StatementReport(BaseModel):
    """What an imported bank statement did, line by line."""

    credited: list[str] = []
    settled: list[str] = []
    duplicates: list[str] = []
    returns: list[str] = []
    unmatched: list[str] = []


AnyKind = Literal["topup", "usage", "fee", "credit", "refund", "adjustment", "reversal"]


class CardTopupOut(BaseModel):
    """A card top-up the provider's signed event credited (000 §13.2), or found already
    credited when the provider delivers the same event again."""

    target: Literal["topup"] = "topup"
    contract_id: str
    contract_state: str = Field(description="active once the minimum amount is in (000 §3.1)")
    seq: int = Field(description="the ledger entry of the top-up")
    amount: Decimal
    currency: str
    balance: Decimal
    provider_ref: str
    already_recorded: bool = Field(description="true: this event was credited before")
    detail: str
