"""Request and response bodies of the failure-notice API (002 §6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from nuages.kernel.validation import Out, Strict


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
