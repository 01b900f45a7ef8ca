"""Request and response bodies of the reversibility and liability API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from nuages.kernel.validation import Instant, Out, SafeName, Strict

Cause = Literal[
    "client_notice",
    "provider_notice",
    "non_renewal",
    "client_breach",
    "provider_breach",
    "force_majeure",
    "negative_balance",
    "hold_over_15_days",
    "terms_refused",
]


class EndNow(Strict):
    """Staff end a contract now, naming the cause (it decides the 000 §13.2 refund)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"cause": "client_notice", "fault": None}]}
    )

    cause: Cause
    # 000 §13.2: whose fault an early termination was, when staff state it (a shared
    # fault refunds half the balance); none: the cause decides.
    fault: Literal["provider", "client", "shared"] | None = None


class CopiesRequest(Strict):
    """Copies of the data: the VMs named, or every VM left (001 §7 recovery; 004 §17.2
    full backup of each VM)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"vm_ids": None}]})

    vm_ids: list[str] | None = Field(default=None, max_length=500)


class ChoiceRequest(Strict):
    """001 §7: deletion or recovery of all the data, by registered letter (its date)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"choice": "recovery", "letter_at": None}]}
    )

    choice: Literal["deletion", "recovery"]
    letter_at: dt.datetime | None = None


class ConfirmRequest(Strict):
    """004 §5: the client confirms it has recovered its data."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"received": True}]})

    received: Literal[True]


class EraseRequest(Strict):
    """Staff order the erasure now, with the reason kept in the erasure record."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "data never claimed after 003 §13.2"}]}
    )

    reason: str = Field(min_length=1, max_length=180)


class DeliveryOut(BaseModel):
    """One copy handed over: the export's file, checksum, link and fee."""

    vm_id: str
    kind: str
    transfer: int
    fee: Decimal | None
    export_id: str
    state: str | None
    sha256: str | None
    size_bytes: int | None
    expires_at: dt.datetime | None
    download: str | None
    requested_at: dt.datetime


class UnpaidOut(BaseModel):
    number: str
    outstanding: Decimal
    due_date: dt.date | None


class ExitOut(BaseModel):
    """The exit of an ended contract: its state, its deadline and clause, the choice,
    the refund, the copies and the erasure record."""

    contract_id: str
    state: str
    cause: str
    clause: str
    ended_at: dt.datetime
    window: str
    window_ends_at: dt.datetime | None
    deadline: dt.datetime | None
    deadline_means: str
    denied: bool
    service_continues: bool
    confirmation_ends: bool
    requires_paid_up: bool
    fee: Decimal | None
    fee_per: str
    choice: str | None
    letter_at: dt.datetime | None
    refund_amount: Decimal | None
    confirmed_at: dt.datetime | None
    erasure_reason: str | None
    erasure_started_at: dt.datetime | None
    erased_at: dt.datetime | None
    erasure_record_id: str | None
    erasure_record_hash: str | None
    closed_at: dt.datetime | None
    deliveries: list[DeliveryOut]
    unpaid: list[UnpaidOut]


class CapOut(BaseModel):
    """A liability cap (SPEC §15) and the claim deadline."""

    contract_id: str
    clause: str
    rule: str
    cap: Decimal
    currency: str
    failure_at: dt.datetime
    failure_end: dt.datetime | None
    claim_deadline: dt.datetime | None
    claim_by: str
    basis: dict[str, str]


class RelocationCreate(Strict):
    """Staff announce a move of the contract's data outside the EU (001 §5.3): its VMs
    (``vm_id`` one of them, else all) or their backups, to a site (its country from the
    hosts serving it, else ``country``). ``moves_at`` defaults to the earliest date the
    notice allows; a country without an adequacy decision needs the client's written
    consent and a safeguard (001 §5.4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject": "vms",
                    "site": "montreal-1",
                    "country": "CA",
                    "vm_id": None,
                    "moves_at": None,
                    "safeguard": "",
                    "consented_on": None,
                    "reason": "data centre consolidation",
                }
            ]
        }
    )

    subject: Literal["vms", "backups"]
    site: SafeName
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    vm_id: str | None = Field(default=None, max_length=36)
    moves_at: Instant | None = None
    safeguard: str = Field(default="", max_length=200)
    consented_on: dt.date | None = None
    reason: str = Field(default="", max_length=500)


class RelocationOut(Out):
    """An announced move of the data outside the EU and the exit it opened (001 §5.3)."""

    id: str
    contract_id: str
    subject: str
    vm_id: str | None
    site: str
    country: str
    transfer_basis: str
    safeguard: str
    consented_on: dt.date | None
    reason: str
    clause: str
    notified_at: dt.datetime
    moves_at: dt.datetime
    exit_until: dt.datetime


class PartialRecoveryRequest(Strict):
    """001 §7: a partial recovery while the contract runs: the VMs whose disks are
    copied (one request is one transfer, EUR 250)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"vm_ids": ["3f2b6c1e-0000-4000-8000-000000000001"]}]}
    )

    vm_ids: list[str] = Field(min_length=1, max_length=500)


class SigningKeyOut(Out):
    """The provider's public key for erasure records (Ed25519): the base64 of its 32 raw
    bytes and the same key as PEM (SubjectPublicKeyInfo)."""

    algorithm: str
    key_id: str
    public_key: str
    public_key_pem: str


class VerdictOut(Out):
    """Whether a record verifies against the provider's key, and why not."""

    valid: bool
    reason: str
    key_id: str


class ErasureRecordOut(Out):
    """A contract's erasure record as the history keeps it (``record``: what, when, by
    whom, the manifest's SHA-256 and the provider's signature) and its check now."""

    contract_id: str
    history_id: str
    history_hash: str
    at: dt.datetime
    record: dict[str, Any]
    verdict: VerdictOut
