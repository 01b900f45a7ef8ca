"""REST endpoint of a VM's supervision graphs (002 §3; issue 14.4)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.compute.metrics import series
from nuages.kernel.validation import Instant

router = APIRouter(prefix="/api/v1", tags=["compute"])


class MetricPoint(BaseModel):
    """One period of a VM's series: rates per second over the period, CPU % of the VM's
    vCPUs (100 = all busy); null where the hypervisor reported nothing (or the VM
    restarted in the period). Hourly points also give the period's peaks."""

    at: dt.datetime = Field(description="start of the minute or hour (UTC)")
    cpu_percent: float | None
    cpu_percent_max: float | None
    memory_bytes: int | None = Field(description="memory the VM holds")
    memory_used_bytes: int | None = Field(description="what the guest uses (else host RSS)")
    memory_used_max_bytes: int | None
    disk_read_bytes_per_s: float | None
    disk_write_bytes_per_s: float | None
    disk_read_iops: float | None
    disk_write_iops: float | None
    net_rx_bytes_per_s: float | None
    net_tx_bytes_per_s: float | None


class MetricSeries(BaseModel):
    """A VM's points in ``[from, to)`` at one step."""

    vm_id: str
    step: Literal["1m", "1h"]
    from_: dt.datetime = Field(alias="from", serialization_alias="from")
    to: dt.datetime
    points: list[MetricPoint]


@router.get("/vms/{vm_id}/metrics", response_model=MetricSeries, response_model_by_alias=True)
def vm_metrics(
    vm_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    step: Annotated[
        str | None, Query(description="1m (ranges up to 48 h) or 1h (up to 13 months)")
    ] = None,
) -> object:
    """The VM's CPU, memory, disk and network series (002 §3 supervision graphs).
    Default: the last hour at 1m. Minutes are kept 48 hours, hours 13 months."""
    return series.vm_series(session, principal, vm_id, start, end, step)
