"""Request and response bodies of tickets and change requests (001 §10, 002 §3.8)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from nuages.kernel.validation import Money, Multiline, Out, Strict

Body = Annotated[
    str, Multiline, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)
]
CATEGORIES = ("incident", "question", "update", "request")
SEVERITIES = ("critical", "high", "normal", "low")


class TicketCreate(Strict):
    """A ticket about a VM (its contract follows) or a contract. An ``incident`` on a
    VM is also the client's failure notice (001 §10.1, 002 §6) for the SLA."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "incident",
                    "severity": "high",
                    "vm_id": "VM_ID",
                    "subject": "web-1 does not answer",
                    "body": "Since 09:10 the site returns a timeout.",
                }
            ]
        }
    )

    category: Literal["incident", "question", "update", "request"]
    severity: Literal["critical", "high", "normal", "low"] = "normal"
    vm_id: str | None = None
    contract_id: str | None = None
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Body


class Intervention(Strict):
    """Staff work done for the ticket: minutes, and whether the provider caused it."""

    minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    provider_at_fault: bool = False


class MessageCreate(Strict):
    """A message on a ticket; staff may log an intervention and close the ticket."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"body": "We restarted the web server; it answers again."}]}
    )

    body: Body
    intervention: Intervention | None = None
    close: bool = False


class MessageOut(Out):
    id: str
    author_id: str
    staff: bool
    body: str
    at: dt.datetime
    intervention_minutes: int | None
    out_of_hours: bool
    provider_at_fault: bool
    charge_id: str | None


class TicketOut(Out):
    id: str
    client_id: str
    contract_id: str
    vm_id: str | None
    category: str
    severity: str
    subject: str
    state: str
    opened_at: dt.datetime
    in_hours: bool
    intervention_due_at: dt.datetime | None
    update_due_at: dt.datetime | None
    first_response_at: dt.datetime | None
    closed_at: dt.datetime | None
    failure_notice_id: str | None


class TicketDetail(TicketOut):
    """A ticket with its business hours, timers and messages."""

    business_hours: dict[str, Any]
    business_minutes_open: Decimal
    intervention_overdue: bool
    update_overdue: bool
    messages: list[MessageOut]


class AgreementSet(BaseModel):
    """Staff-side fields of a support agreement (CLI)."""

    hourly_rate: Decimal | None = None
    maintenance_offer: bool | None = None
    managed: bool | None = None
    standard_changes_per_month: int | None = None
    standard_change_price: Decimal | None = None
    significant_change_price: Decimal | None = None
    footprint_audit_end: dt.datetime | None = None


class ChangeRequestCreate(Strict):
    """A managed-service change (002 §3.8.4); a priced one needs ``accept_price``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "standard", "description": "Open port 8443 on web-1's firewall"}]
        }
    )

    kind: Literal["standard", "significant", "major"]
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    vm_id: str | None = None
    accept_price: bool = False
    accepted_amount: Money | None = Field(
        default=None, description="optional: the price the client saw; refused if it differs"
    )


class ChangeRequestOut(Out):
    id: str
    contract_id: str
    vm_id: str | None
    kind: str
    description: str
    month: str
    within_quota: bool
    price: Decimal | None
    price_accepted: bool
    state: str
    charge_id: str | None
    created_at: dt.datetime


class ChangeRequestList(BaseModel):
    """The contract's change requests with this month's standard-change quota."""

    month: str
    quota: int
    used: int
    items: list[ChangeRequestOut]


class UpdateReport(BaseModel):
    """002 §3.8.3: updates installed on average within 72 working hours, per month."""

    contract_id: str
    month: str
    target_hours: Decimal | None
    updates: int
    average_hours: Decimal | None
    met: bool | None
