"""Request and response bodies of the failure-notice API (002 §6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from nuages.kernel.validation import Instant, Out, Strict


class FailureNoticeCreate(Strict):
    """A failure notice of a VM: what fails; staff recording a notice received another way
    (telephone, e-mail) give when it was received (never in the future)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"description": "web-1 does not answer on port 443 since 09:00"}]
        }
    )

    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    received_at: dt.datetime | None = None


class FailureNoticeOut(Out):
    """A recorded failure notice."""

    id: str
    vm_id: str
    client_id: str
    contract_id: str
    noticed_at: dt.datetime
    description: str
    filed_by: str | None


class SlaMonthOut(BaseModel):
    """One VM's SLA month (002 §6): what availability was a share of, and the credit."""

    vm_id: str
    offer_id: str
    month: str
    denominator: str
    denominator_minutes: Decimal
    coverage_minutes: Decimal
    minutes_in_month: int
    counted_minutes: Decimal
    availability_pct: Decimal
    objective_pct: Decimal | None
    objective_met: bool
    credit_rate_pct: Decimal
    monthly_amount: Decimal | None
    credit_amount: Decimal | None
    rolling_cap_base: Decimal | None
    rolling_cap_applied: bool


# ---------------------------------------------------------------- outages, maintenance

Scope = Literal["vm", "host", "site", "platform"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class IncidentCreate(Strict):
    """A staff-declared outage: its scope (``scope_ref``: the VM, host id or site name;
    none for the platform), when it started (and ended, if over), its cause (one of the
    affected offers' excusable causes, or ``not-excusable``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "platform",
                    "start": "2026-11-03T09:00:00Z",
                    "end": "2026-11-03T09:40:00Z",
                    "cause": "not-excusable",
                    "description": "core switch failure in the Waterloo room",
                }
            ]
        }
    )

    scope: Scope
    scope_ref: Annotated[str, StringConstraints(max_length=63)] | None = None
    start: Instant
    end: Instant | None = None
    cause: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: Text


class IncidentPatch(Strict):
    """Set a declared outage's cause, or its end once it is over; or reclassify an
    outage recorded by reconciliation (a VM found down, a host unreachable): its cause,
    with the ``reason`` (required then; its end is when the VM was seen running again)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "end": "2026-11-03T10:15:00Z",
                    "cause": "force-majeure",
                    "reason": "regional power cut, grid operator's notice 2026-114",
                }
            ]
        }
    )

    cause: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    end: Instant | None = None
    reason: Text | None = None


class IncidentOut(Out):
    """A declared outage and the VMs it took down."""

    id: str
    scope: str
    scope_ref: str | None
    start: dt.datetime
    end: dt.datetime | None
    cause: str
    description: str
    declared_by: str | None
    declared_at: dt.datetime
    vm_ids: list[str] = []
    # ``declared`` by staff, or recorded by ``reconciliation`` (a VM found down) or for
    # an unreachable ``host``; for recorded ones, the cause compute recorded and the
    # reason staff gave when they reclassified it.
    source: str = "declared"
    recorded_cause: str | None = None
    reason: str | None = None


class MaintenanceCreate(Strict):
    """A planned maintenance window. Outside an affected offer's preferred window
    (000 §7: 22:00–08:00) it is refused unless ``confirm_outside_window`` is true."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "host",
                    "scope_ref": "HOST_ID",
                    "start": "2030-11-20T22:00:00+01:00",
                    "end": "2030-11-20T23:30:00+01:00",
                    "reason": "hypervisor kernel update",
                }
            ]
        }
    )

    scope: Scope
    scope_ref: Annotated[str, StringConstraints(max_length=63)] | None = None
    start: Instant
    end: Instant
    reason: Text
    confirm_outside_window: bool = False


class MaintenanceContractOut(BaseModel):
    """How one affected contract is told, and whether the window is excusable for it."""

    contract_id: str
    client_id: str
    offer_id: str
    notice_id: str | None
    notice_state: str | None
    notice_sent_at: dt.datetime | None
    in_time: bool
    rule: str


class MaintenanceOut(BaseModel):
    """A maintenance window, whom it affects and whether it was announced in time."""

    id: str
    scope: str
    scope_ref: str | None
    start: dt.datetime
    end: dt.datetime
    reason: str
    outside_window: bool
    announced_at: dt.datetime
    vm_ids: list[str]
    contracts: list[MaintenanceContractOut]


# ---------------------------------------------------------------- reports, credits


class ClaimCreate(Strict):
    """A claim of a report's credit (002 §6 "sur demande")."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "ticket 4411"}]})

    note: Annotated[str, StringConstraints(max_length=300)] = ""


class CreditOut(Out):
    """A report's credit and how far it went."""

    id: str
    report_id: str
    amount: Decimal
    state: str
    claim_until: dt.datetime | None
    claimed_at: dt.datetime | None
    applied_at: dt.datetime | None
    applied_ref: str | None


class ReportOut(BaseModel):
    """One contract's SLA month as issued (or, not issued yet, as it stands)."""

    id: str | None
    contract_id: str
    offer_id: str
    month: str
    version: int
    supersedes_id: str | None
    changes: str
    denominator: str
    objective_pct: Decimal | None
    availability_pct: Decimal
    objective_met: bool
    counted_minutes: Decimal
    credit_amount: Decimal
    credit_mode: str
    issued_at: dt.datetime | None
    lines: list[dict[str, Any]]
    credit: CreditOut | None = None


class ContractSlaOut(BaseModel):
    """A contract's SLA month and its upcoming maintenance."""

    report: ReportOut
    issued: bool
    upcoming_maintenance: list[MaintenanceOut]
