"""Gapless numbering under concurrency and crashes; immutable documents in the database.

French CGI art. 242 nonies A: numbers unique, chronological, without gaps; issued
documents are never altered (DESIGN.md "Invoice … immutable once issued").
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import payments, pdf, runs, schemas
from nuages.invoicing.models import Invoice, InvoiceDocument
from nuages.kernel.clock import frozen_at, set_now
from nuages.kernel.db import Database

from .factories import Billing, many_contracts, run_at, utc

ROOT = Path(__file__).resolve().parents[2]


def _numbers(database: Database) -> list[tuple[int, str, str | None]]:
    with database.unit() as session:
        return [
            (r.seq_no, r.contract_id, r.billing_period)
            for r in session.execute(
                select(Invoice).where(Invoice.kind == "invoice").order_by(Invoice.seq_no)
            ).scalars()
        ]


def _assert_gapless(rows: list[tuple[int, str, str | None]], expected: int) -> None:
    assert [n for n, _, _ in rows] == list(range(1, expected + 1)), "gap or duplicate"
    per_period = Counter((c, p) for _, c, p in rows)
    assert max(per_period.values()) == 1, "two invoices for one contract and period"


def test_eight_concurrent_runs_number_without_gap_or_duplicate(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Eight runs at once over the same 40 contracts (two months each): every period is
    invoiced exactly once and numbers are 1…80 without gap or duplicate."""
    client = billing.client("Client Concurrent")
    formed = utc(2026, 2, 1, 9)
    ids = many_contracts(database, offers, client, "optima-cloud-azure", "azure-b2s", formed, 40)
    set_now(utc(2026, 3, 1, 6))
    errors: list[BaseException] = []
    reports: list[runs.RunReport] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            # Half the runs walk the contracts backwards, so they meet in the middle.
            order = ids if n % 2 == 0 else list(reversed(ids))
            reports.append(
                runs.run(
                    database,
                    Actor.system(f"run-{n}"),
                    offers,
                    dt.date(2026, 3, 1),
                    contract_ids=order,
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert sum(len(r.issued) for r in reports) == 80
    assert all(not r.problems for r in reports), [r.problems for r in reports]
    _assert_gapless(_numbers(database), 80)


def test_crash_mid_run_then_rerun_no_duplicate_no_gap(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A run over 1,000 contracts killed with SIGKILL part-way, then run again: every
    contract invoiced once, numbers 1…1000 without gap (each contract's transaction,
    number included, committed whole or not at all)."""
    client = billing.client("Client Crash")
    formed = utc(2026, 3, 1, 9)
    many_contracts(database, offers, client, "optima-cloud-azure", "azure-b2s", formed, 1000)
    moment = utc(2026, 3, 1, 12)
    # This checkout's code, not whichever one the venv has installed in editable mode.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.invoicing.crash_run",
            database.url,
            str(ROOT / "offers"),
            "2026-03-01",
            moment.isoformat(),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    done = 0
    assert child.stdout is not None
    while done < 150 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        done += 1
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    before = _numbers(database)
    assert 150 <= len(before) < 1000, "the run must die part-way"
    _assert_gapless(before, len(before))

    report = run_at(database, offers, moment + dt.timedelta(minutes=5))
    assert not report.problems
    assert len(report.issued) == 1000 - len(before)
    _assert_gapless(_numbers(database), 1000)


def test_issued_documents_are_immutable_in_the_database(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """Triggers refuse any change of an issued document's amounts, number, XML or
    lines, and any deletion; payments and allocations are written once. The state may
    still move (a payment settles it)."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    [issued] = run_at(database, offers, utc(2026, 3, 1, 12)).issued
    invoice_id = issued["invoice_id"]
    refused = [
        "UPDATE invoicing_invoices SET grand_total = grand_total + 1 WHERE id = :id",
        "UPDATE invoicing_invoices SET number = 'F-2026-999999' WHERE id = :id",
        "UPDATE invoicing_invoices SET xml = '<x/>' WHERE id = :id",
        "UPDATE invoicing_invoices SET due_date = NULL WHERE id = :id",
        "DELETE FROM invoicing_invoices WHERE id = :id",
        "UPDATE invoicing_invoice_lines SET net_amount = 1 WHERE invoice_id = :id",
        "DELETE FROM invoicing_invoice_lines WHERE invoice_id = :id",
    ]
    for statement in refused:
        with pytest.raises(DBAPIError, match=r"immutable|append-only"):
            with database.engine.begin() as conn:
                conn.execute(text(statement), {"id": invoice_id})
    with frozen_at(utc(2026, 3, 5)), database.unit() as session:
        payment, _ = payments.record(
            session,
            Actor.system("test"),
            offers,
            schemas.PaymentCreate(
                client_id=client,
                means="transfer",
                amount=Decimal("66.00"),
                received_on=dt.date(2026, 3, 5),
                idempotency_key="immutable-test-1",
            ),
        )
        payment_id = payment.id
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.state == "paid"  # state moves
        pdf.stored_pdf(session, invoice)
    for statement in [
        "UPDATE invoicing_payments SET amount = 1 WHERE id = :id",
        "DELETE FROM invoicing_payments WHERE id = :id",
        "UPDATE invoicing_payment_allocations SET amount = 1 WHERE payment_id = :id",
        "DELETE FROM invoicing_payment_allocations WHERE payment_id = :id",
    ]:
        with pytest.raises(DBAPIError, match=r"written once|append-only"):
            with database.engine.begin() as conn:
                conn.execute(text(statement), {"id": payment_id})
    with pytest.raises(DBAPIError, match="append-only"):
        with database.engine.begin() as conn:
            conn.execute(
                text("UPDATE invoicing_documents SET pdf = :b WHERE invoice_id = :id"),
                {"b": b"%PDF-fake", "id": invoice_id},
            )
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(InvoiceDocument)).scalar() == 1
