"""Benchmark: one hourly metering run over 100,000 allocated VMs, against a raw baseline.

For each database (a SQLite file; PostgreSQL when ``NUAGES_TEST_POSTGRES_URL`` is set,
in a database of its own dropped at the end) the script builds 1,000 formed
isstar-cloud contracts (through the services) with 100 VMs each, then, round after
round, times:

- ``metering.run`` for the next hour: prices each flavour from the offer version of
  each contract, writes the 100,000 usage entries with their idempotency keys in ranges
  of 5,000 VMs, each range its own transaction (``INSERT … SELECT … ON CONFLICT DO
  NOTHING`` joined with the prices; VMs that came or went during the hour priced one
  by one), marks the hour done, then applies the balance rules (suspension,
  resumption, low-balance warnings);
- the baseline: the same 100,000 entries (other keys) written by one raw
  ``INSERT … SELECT`` from the ``vms`` table, no pricing, no batching, no checks.

Both write into the same ``ledger_entries`` table (same indexes, same balance trigger).
Prints the median of each over the rounds and the ratio metering / baseline.

    .venv/bin/python bench/metering.py [--vms 100000] [--contracts 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.billing import metering, topups
from nuages.billing.schemas import TransferCreate
from nuages.billing.settings import BillingSettings
from nuages.compute.models import Image, Vm
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.kernel import migrate
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import postgres_database_on  # noqa: E402

OFFERS = ROOT / "offers"
STAFF = Principal("bench", "bench", Role.PROVIDER_ADMIN, None, frozenset(Scope))
START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)

BASELINE = {
    "postgresql": """
INSERT INTO ledger_entries (contract_id, client_id, kind, amount, currency, at, recorded_at,
    idempotency_key, reference, description, resource_type, resource_id, period_start,
    period_end, quantity, unit_price)
SELECT v.contract_id, v.client_id, 'usage', -0.015, 'EUR', :end, now(),
    'bench:vm:' || v.id || ':' || to_char(:start AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MI"Z"'),
    '', 'vm-s: 1 h at 0.0150/hour', 'vm', v.id, :start, :end, 1, 0.015
FROM vms v JOIN billing_accounts a ON a.contract_id = v.contract_id
WHERE v.activated_at < :end AND (v.deleted_at IS NULL OR v.deleted_at > :start)""",
    # SQLite keeps amounts as integer millionths and times as UTC text (see the models).
    "sqlite": """
INSERT INTO ledger_entries (contract_id, client_id, kind, amount, currency, at, recorded_at,
    idempotency_key, reference, description, resource_type, resource_id, period_start,
    period_end, quantity, unit_price)
SELECT v.contract_id, v.client_id, 'usage', -15000, 'EUR', :end, :end,
    'bench:vm:' || v.id || ':' || strftime('%Y%m%dT%H%MZ', :start),
    '', 'vm-s: 1 h at 0.0150/hour', 'vm', v.id, :start, :end, 1000000, 15000
FROM vms v JOIN billing_accounts a ON a.contract_id = v.contract_id
WHERE v.activated_at < :end AND (v.deleted_at IS NULL OR v.deleted_at > :start)""",
}


def _stamp(moment: dt.datetime, dialect: str) -> object:
    # Bound the way UTCDateTime stores it: naive UTC text on SQLite, aware elsewhere.
    if dialect == "sqlite":
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def populate(database: Database, registry: OfferRegistry, n_contracts: int, n_vms: int) -> None:
    """Formed contracts with a large balance, and ``n_vms`` vm-s spread over them."""
    set_now(START - dt.timedelta(hours=1))
    contract_ids: list[tuple[str, str]] = []
    with database.unit() as session:
        clients = [
            Client(
                kind="business",
                legal_name=f"Bench {i}",
                country="BE",
                vat_number=None,
                billing_email=f"bench{i}@example.com",
            )
            for i in range(n_contracts)
        ]
        session.add_all(clients)
        session.flush()
        for c in clients:
            contract = contracts.create_contract(
                session,
                STAFF,
                registry,
                contract_schemas.ContractCreate(
                    offer_id="isstar-cloud", client_id=c.id, accept_terms=True
                ),
            )
            contract_ids.append((contract.id, c.id))
    with database.unit() as session:
        for contract_id, _client in contract_ids:
            topups.record_transfer(
                session,
                STAFF,
                registry,
                contract_id,
                TransferCreate(amount=Decimal("1000000.00"), reference=f"B-{contract_id[:30]}"),
            )
        image = Image(
            name="bench",
            os="linux",
            boot_mode="disk",
            base_path="/nonexistent/bench.qcow2",
            min_disk_gib=1,
            size_bytes=1,
        )
        session.add(image)
        session.flush()
        image_id = image.id
    rows = []
    for i in range(n_vms):
        contract_id, client_id = contract_ids[i % n_contracts]
        vm_id = str(uuid.uuid4())
        rows.append(
            {
                "id": vm_id,
                "client_id": client_id,
                "contract_id": contract_id,
                "name": f"vm-{i}",
                "flavour_id": "vm-s",
                "image_id": image_id,
                "vcpus": 1,
                "ram_mib": 1024,
                "disk_gib": 20,
                "vm_state": "running",
                "power_state": "running",
                "created_at": START,
                "activated_at": START,
            }
        )
    with database.unit() as session:
        for i in range(0, len(rows), 5000):
            session.execute(insert(Vm), rows[i : i + 5000])
    set_now(None)


def bench(database: Database, rounds: int, n_vms: int) -> tuple[list[float], list[float]]:
    """Time ``rounds`` metering runs and baselines, alternating; check the counts."""
    registry = OfferRegistry.from_directory(OFFERS)
    settings = BillingSettings()
    dialect = database.dialect
    ours: list[float] = []
    base: list[float] = []
    for r in range(rounds):
        hour = START + dt.timedelta(hours=r)
        t0 = time.perf_counter()
        report = metering.run(
            database.unit, hour + dt.timedelta(hours=1), registry=registry, settings=settings
        )
        ours.append(time.perf_counter() - t0)
        assert report.written == n_vms, report
        params = {
            "start": _stamp(hour, dialect),
            "end": _stamp(hour + dt.timedelta(hours=1), dialect),
        }
        t0 = time.perf_counter()
        with database.engine.begin() as conn:
            written = conn.execute(text(BASELINE[dialect]), params).rowcount
        base.append(time.perf_counter() - t0)
        assert written == n_vms, written
        print(
            f"  round {r + 1}: metering {ours[-1]:.2f} s, baseline {base[-1]:.2f} s",
            flush=True,
        )
    return ours, base


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(url)
    database = Database(url)
    registry = OfferRegistry.from_directory(OFFERS)
    t0 = time.perf_counter()
    populate(database, registry, args.contracts, args.vms)
    print(f"{name}: {args.contracts} contracts, {args.vms} VMs ready in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    try:
        ours, base = bench(database, args.rounds, args.vms)
    finally:
        database.dispose()
    m_ours, m_base = statistics.median(ours), statistics.median(base)
    print(
        f"{name}: metering run {m_ours:.2f} s, raw INSERT … SELECT {m_base:.2f} s, "
        f"ratio {m_ours / m_base:.2f} (medians of {args.rounds}; "
        f"{args.vms / m_ours:,.0f} entries/s)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="metering run against a raw INSERT … SELECT")
    parser.add_argument("--vms", type=int, default=100_000)
    parser.add_argument("--contracts", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nuages-bench-") as folder:
        os.environ.setdefault("NUAGES_DATA_DIR", folder)
        if args.only in (None, "sqlite"):
            run_backend("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
    pg = os.environ.get("NUAGES_TEST_POSTGRES_URL")
    if args.only in (None, "postgresql"):
        if not pg:
            print("PostgreSQL: skipped (NUAGES_TEST_POSTGRES_URL is not set)")
            return 0
        with postgres_database_on(pg, "nuages_bench") as url:
            run_backend("PostgreSQL", url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
