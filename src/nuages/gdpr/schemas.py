"""Request and response bodies of the GDPR API (001 §15–16)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from nuages.kernel.validation import Email, Instant, Multiline, Out, Strict

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Long = Annotated[
    str, Multiline, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class DpoSet(Strict):
    """The client's data protection officer or GDPR contact (Art. 30.2, 001 §16.4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Marie Dupont", "email": "dpo@exemple.be", "phone": "+32 2 555 01 02"}
            ]
        }
    )

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Email
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""


class SubProcessorCreate(Strict):
    """A sub-processor added, or replacing one (``replaces_id``), 001 §16.9."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Interxion Belgium NV",
                    "service": "data centre hosting (Zaventem)",
                    "country": "BE",
                    "address": "Wezembeekstraat 2, 1930 Zaventem",
                }
            ]
        }
    )

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    service: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    country: Country
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    safeguard: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = Field(
        default="",
        description="outside the EEA and without adequacy: the GDPR Art. 46 instrument",
    )
    replaces_id: str | None = None


class SubProcessorOut(Out):
    id: str
    name: str
    service: str
    country: str
    address: str
    safeguard: str
    active_from: dt.datetime
    ended_at: dt.datetime | None
    replaced_by_id: str | None


class SubProcessorChange(Out):
    """The sub-processor written and how many clients were notified."""

    sub_processor: SubProcessorOut
    replaced: SubProcessorOut | None
    notified_clients: int


class BreachScope(Strict):
    """What the breach touched; the affected clients are resolved from it: every client
    (``all``), the clients named, those with a VM on one of the hosts, or on a host
    serving one of the sites."""

    all: bool = False
    client_ids: list[str] = Field(default_factory=list, max_length=10000)
    hosts: list[str] = Field(default_factory=list, max_length=1000)
    sites: list[str] = Field(default_factory=list, max_length=1000)


class BreachCreate(Strict):
    """A breach notice with every item 001 §16.7 (ii) lists; none may be left out."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "summary": "Backup volume readable by another tenant",
                    "circumstances": "A permission change on the backup store of site brussels-1",
                    "nature": "confidentiality breach",
                    "data_concerned": "VM backups (files of the client's applications)",
                    "data_volume": "3 backups, 120 GiB",
                    "person_categories": "the client's customers and employees",
                    "persons_count": 1200,
                    "consequences": "possible disclosure of contact details",
                    "measures": "permission restored at 10:40; access logs under review",
                    "occurred_at": "2026-11-03T08:00:00Z",
                    "detected_at": "2026-11-03T09:30:00Z",
                    "contact_name": "Provider DPO",
                    "contact_email": "dpo@provider.example",
                    "scope": {"client_ids": ["CLIENT_ID"]},
                }
            ]
        }
    )

    summary: Line
    circumstances: Long
    nature: Line
    data_concerned: Long
    data_volume: Line
    person_categories: Line
    persons_count: Annotated[int, Field(ge=0)]
    consequences: Long
    measures: Long
    occurred_at: Instant
    detected_at: Instant
    contact_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    contact_email: Email
    contact_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    scope: BreachScope


class BreachNotified(Out):
    client_id: str
    notice_id: str
    state: str
    queued_at: dt.datetime
    sent_at: dt.datetime | None


class BreachOut(Out):
    """A breach, its detection time beside the sending time of each client's e-mail."""

    id: str
    summary: str
    occurred_at: dt.datetime
    detected_at: dt.datetime
    opened_at: dt.datetime
    notified: list[BreachNotified]


class AuditCreate(Strict):
    """A client announces an audit (001 §16.8): at least the offer's notice ahead."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "CONTRACT_ID",
                    "starts_on": "2026-11-16",
                    "auditor": "Cabinet Audit SRL",
                    "scope": "technical and organisational measures, annex 1",
                }
            ]
        }
    )

    contract_id: str
    starts_on: dt.date
    auditor: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    scope: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class AuditOut(Out):
    id: str
    client_id: str
    contract_id: str
    auditor: str
    scope: str
    requested_at: dt.datetime
    starts_on: dt.date
    earliest_start: dt.date
    state: str
    provider_hours: Decimal | None
    billed_hours: Decimal | None
    charge_id: str | None


class AccessCreate(Strict):
    """Staff ask for access to a client's personal data (001 §15.3)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"what": "consoles", "reason": "ticket 42: VM web-1 does not boot", "hours": 4}
            ]
        }
    )

    what: Literal["users", "consoles", "data"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]
    hours: Annotated[int, Field(ge=1, le=72)] = 8


class AccessOut(Out):
    id: str
    client_id: str
    staff_user_id: str
    staff_email: str
    what: str
    reason: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
