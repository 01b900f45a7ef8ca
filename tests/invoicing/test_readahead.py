"""A run reads its contracts' inputs a chunk at a time (``invoicing.readahead``): what it
reads ahead is what the contract's own transaction would read, and what lands between
the two is neither lost nor billed twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from nuages.compute import schemas as compute_schemas
from nuages.compute.services import backups
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import readahead
from nuages.invoicing.models import Invoice, PendingCharge
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.terms.apply import calendar_for

from .factories import PARIS, STAFF, Billing, run_at, utc

OFFER = "axantis-cloud-vm-avance"


def _charge(database: Database, contract_id: str, key: str, amount: str) -> str:
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        row = PendingCharge(
            contract_id=contract_id,
            client_id=contract.client_id,
            kind="fee",
            description=f"frais {key}",
            amount=Decimal(amount),
            vat_category="S",
            idempotency_key=f"test:{contract_id}:{key}",
        )
        session.add(row)
        session.flush()
        return row.id


def _target(database: Database, tmp_path: Path) -> None:
    with database.unit() as session:
        backups.add_target(session, STAFF, name="dc2", site="axantis-dc2", path=tmp_path)


def _contract_with_everything(database: Database, offers: OfferRegistry, billing: Billing) -> str:
    """An Avance contract with two VMs (one deleted), a backup option changed once, a
    charge, and December already invoiced (a backup target must exist)."""
    start = dt.datetime(2026, 12, 1, 0, 0, tzinfo=PARIS)
    contract = billing.contract(OFFER, billing.client(), start)
    vm_id = billing.vm(contract, "avance-2-4", start, name="erp")
    billing.vm(contract, "avance-4-8", start, deleted_at=start + dt.timedelta(days=9), name="old")
    for moment, option in (
        (start + dt.timedelta(minutes=5), "backup-7d"),
        (utc(2026, 12, 16, 9), "backup-31d"),
    ):
        with frozen_at(moment), database.unit() as session:
            data = compute_schemas.BackupPlanSet(option=option)
            backups.set_plan(session, STAFF, offers, vm_id, data)
    run_at(database, offers, utc(2026, 12, 1, 6))
    _charge(database, contract, "a", "40.00")
    return contract


def test_inputs_read_ahead_equal_those_read_in_the_contracts_transaction(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """Invoiced periods, billed periods and their day spans, the VMs (deleted too), the
    backup option periods, open charges and the stored revision: the chunk's bulk reads
    give each contract exactly what its own queries give, beside a second contract whose
    rows must not leak into the first one's."""
    _target(database, tmp_path)
    contract_id = _contract_with_everything(database, offers, billing)
    other = _contract_with_everything(database, offers, billing)
    chunk = readahead.load(database, [contract_id, other])
    with database.unit(readonly=True) as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        calendar = calendar_for(offers.current(OFFER))
        ahead = chunk.inputs(session, contract_id)
        live = readahead.Inputs.live(session, contract_id)
        assert ahead.invoiced() == live.invoiced() == {"2026-12-01"}
        assert ahead.billed("month") == live.billed("month")
        assert ahead.billed("month")[1]  # the day spans December billed, per item
        items = ahead.items(contract, calendar)
        assert items == live.items(contract, calendar)
        assert {i.label for i in items} == {"VM erp", "VM old"}
        assert len([i for i in items if i.item_id.startswith("backup-")]) == 2
        assert [c.id for c in ahead.open_charges()] == [c.id for c in live.open_charges()]
        assert len(ahead.open_charges()) == 1
        day = dt.date(2027, 1, 1)
        assert ahead.stored_revision(calendar, day) == live.stored_revision(calendar, day)


def test_a_charge_billed_after_the_read_ahead_is_not_billed_twice(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charge read ahead with its chunk, then billed by another invoice before the
    contract's transaction: the run's compare-and-swap refuses it, the contract's
    invoice rolls back with its number (reported), and the next run invoices the month
    without the charge."""
    _target(database, tmp_path)
    contract_id = _contract_with_everything(database, offers, billing)
    charge_id = _charge(database, contract_id, "b", "15.00")
    real_load = readahead.load

    def load_then_bill(db: Database, ids: list[str]) -> readahead.Chunk:
        chunk = real_load(db, ids)
        with db.unit() as session:  # another run billed the charge meanwhile
            row = session.get(PendingCharge, charge_id)
            assert row is not None
            row.invoice_id = "elsewhere"
        return chunk

    monkeypatch.setattr(readahead, "load", load_then_bill)
    report = run_at(database, offers, utc(2027, 1, 1, 6))
    monkeypatch.setattr(readahead, "load", real_load)
    assert report.issued == []
    assert report.problems == [
        {"contract_id": contract_id, "problem": "a charge was billed meanwhile by another run"}
    ]
    report = run_at(database, offers, utc(2027, 1, 1, 7))
    [issued] = report.issued
    with database.unit(readonly=True) as session:
        january = session.get(Invoice, issued["invoice_id"])
        assert january is not None and january.billing_period == "2027-01-01"
        billed = session.execute(
            select(PendingCharge.id).where(PendingCharge.invoice_id == january.id)
        ).scalars()
        assert charge_id not in set(billed)  # billed elsewhere, once


def test_a_run_over_more_than_one_chunk_invoices_every_contract_once(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Contracts on both sides of a chunk boundary (the chunk set to 2 for the test)
    are each invoiced once, in contract order, and a second run finds nothing to do."""
    _target(database, tmp_path)
    ids = sorted(_contract_with_everything(database, offers, billing) for _ in range(3))
    monkeypatch.setattr(readahead, "CHUNK", 2)
    report = run_at(database, offers, utc(2027, 1, 1, 6), contract_ids=ids)
    again = run_at(database, offers, utc(2027, 1, 1, 7), contract_ids=ids)
    assert [d["contract_id"] for d in report.issued] == ids
    assert not report.problems and not again.issued and not again.problems
