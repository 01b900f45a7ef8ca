"""Exactly once under crashes: ``kill -9`` of ``nuages billing meter`` in the middle of
a run over 5,000 VMs, then a re-run, charges every VM-period exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.billing import ledger, metering
from nuages.billing.models import LedgerEntry, MeteringPeriod
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.billing.factories import at, funded, vms
from tests.factories import World

VMS = 5000
HOURS = [at("2026-11-02 09:00") + dt.timedelta(hours=i) for i in range(4)]


def _usage_count(database: Database) -> int:
    with database.engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "usage")
        ).scalar_one()
        conn.rollback()
    return int(total)


def test_kill_9_mid_run_then_rerun_charges_every_vm_period_once(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, tmp_path: Path
) -> None:
    """5,000 vm-s from 09:00, metered up to 13:00 = 4 hours = 20,000 entries. The CLI
    (batches of 25 VMs, each its own transaction) is killed with SIGKILL once a few
    thousand entries are in; the re-run writes exactly the missing ones: the ledger then
    holds each (VM, hour) once, 20,000 × 0.0150 = 300.00 EUR in all, and every balance
    equals the sum of its entries."""
    set_now(at("2026-11-02 08:00"))
    f = funded(world, client, "100000.00")
    ids = vms(database, f.contract_id, f.client_id, VMS, at("2026-11-02 09:00"))
    env = os.environ | {
        "NUAGES_DATABASE_URL": database.url,
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_BILLING_METERING_BATCH": "25",
        "NUAGES_OFFERS_DIR": str(Path(__file__).resolve().parents[2] / "offers"),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "nuages", "billing", "meter", "--now", "2026-11-02T13:00:00+00:00"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            seen = _usage_count(database)
            if seen >= 2500:
                break
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        _out, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()
    at_kill = _usage_count(database)
    assert 2500 <= at_kill < VMS * len(HOURS), "the run must die half-way"

    set_now(at("2026-11-02 13:00"))  # metering runs as of now (17.8)
    report = metering.run(database.unit, at("2026-11-02 13:00"), registry=offers)
    assert report.written == VMS * len(HOURS) - at_kill
    with database.unit() as session:
        pairs = Counter(
            session.execute(
                select(LedgerEntry.resource_id, LedgerEntry.period_start).where(
                    LedgerEntry.kind == "usage"
                )
            ).all()
        )
        assert pairs == Counter({(vm, h): 1 for vm in ids for h in HOURS})
        total = session.execute(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.kind == "usage")
        ).scalar_one()
        assert total == -300
        assert ledger.verify(session) == []
        done = session.execute(
            select(MeteringPeriod.period_start).order_by(MeteringPeriod.period_start)
        ).scalars()
        assert list(done) == HOURS
