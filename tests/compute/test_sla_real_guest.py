"""Issue 22 with a real guest: a QEMU killed on the host is an outage for the SLA from
the last moment reconciliation saw it running (it was seen down on the next pass; the
start is read for the client, SPEC §17) to the moment it ran again, and the month's
report counts exactly that span."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from nuages.compute.models import VmOutage
from nuages.compute.services import reconcile
from nuages.contracts.models import Contract
from nuages.kernel.clock import set_now, utc_now
from nuages.sla import outages as sla_outages
from nuages.sla import reports
from tests.compute.test_vm_e2e import E2E, e2e, qemu_pid  # noqa: F401

pytestmark = pytest.mark.vm


def test_000_s5_killed_guest_counts_from_last_seen_running_to_running_again(e2e: E2E) -> None:  # noqa: F811
    """000 §5 (seed: 24/7, outages under 5 minutes ignored): the pass at T0 sees the VM
    running; kill -9 of its QEMU; the pass at T0 + 1 min sees it down (outage from T0,
    read for the client, SPEC §17); it is started again at T0 + 10 min. The SLA slice
    reads the one span [T0, T0 + 10 min) and the month's report counts its 10 minutes
    (of 43,200 in November, 44,640 in December…). Time moves by the clock, the guest is
    real."""
    cw = e2e.cw
    accepted = e2e.create("sla-victim", [])
    vm_id = accepted["vm"]["id"]
    assert e2e.wait(accepted)["state"] == "succeeded"
    t0 = utc_now()
    try:
        set_now(t0)
        reconcile.run_pass(cw.database, cw.runtime)
        os.kill(qemu_pid(vm_id), signal.SIGKILL)
        time.sleep(1)
        set_now(t0 + dt.timedelta(minutes=1))
        for _ in range(3):
            reconcile.run_pass(cw.database, cw.runtime)
            if e2e.vm(vm_id)["vm_state"] == "error":
                break
            time.sleep(1)
        assert e2e.vm(vm_id)["vm_state"] == "error"
        set_now(t0 + dt.timedelta(minutes=10))
        r = e2e.api.post(f"/api/v1/vms/{vm_id}/start", headers=e2e.owner.headers)
        assert r.status_code == 202, r.text
        assert e2e.wait(r.json())["state"] == "succeeded"
        with cw.database.unit() as session:
            [row] = session.execute(select(VmOutage).where(VmOutage.vm_id == vm_id)).scalars()
            assert (row.start, row.detected_at) == (t0, t0 + dt.timedelta(minutes=1))
            assert row.end == t0 + dt.timedelta(minutes=10)
            read = sla_outages.vm_outages(
                session, [vm_id], t0 - dt.timedelta(days=1), t0 + dt.timedelta(days=1)
            )
            assert [(o.start, o.end, o.cause) for o in read[vm_id]] == [
                (t0, t0 + dt.timedelta(minutes=10), "crashed")
            ]
            contract = session.get(Contract, e2e.contract)
            assert contract is not None
            calendar = reports.apply.calendar_for(cw.offers.for_contract(session, contract))
            local = calendar.local_date(t0)
            month = reports.measure(session, cw.offers, contract, local.year, local.month)
    finally:
        set_now(None)
    [line] = month.lines
    assert line["vm_id"] == vm_id
    # 10 minutes, unless the span crosses the month's edge in the contract's zone.
    start, end = calendar.month_bounds(local.year, local.month)
    inside = min(end, t0 + dt.timedelta(minutes=10)) - max(start, t0)
    assert month.counted_minutes == Decimal(int(inside.total_seconds())) / 60
