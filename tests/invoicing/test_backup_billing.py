"""The backup option billed per VM (002 §3.5) at its price in the offer's terms file,
through a real invoicing run: a plan set opens the option's days, a change of option
or its end closes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from nuages.compute import schemas as compute_schemas
from nuages.compute.services import backups
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database

from .factories import PARIS, STAFF, Billing, documents_of, run_at, utc

OFFER = "axantis-cloud-vm-avance"


def _price(offers: OfferRegistry, option_id: str) -> Decimal:
    offer = offers.current(OFFER)
    [option] = [o for o in offer.catalogue.options if o.id == option_id]
    assert option.kind.value == "backup" and option.clause == "002 §3.5"
    return option.price


def _plan(database: Database, offers: OfferRegistry, vm_id: str, option: str | None) -> None:
    with database.unit() as session:
        if option is None:
            backups.end_plan(session, STAFF, vm_id)
        else:
            data = compute_schemas.BackupPlanSet(option=option)
            backups.set_plan(session, STAFF, offers, vm_id, data)


def test_002_s3_5_backup_option_billed_per_vm_at_its_price(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """002 §3.5 (backup-7d at 5.00/month, backup-31d at 12.00/month in the terms file),
    billed in advance per month: December bills the VM's backup-7d in full (5.00); the
    change to backup-31d on 16 Dec costs the difference for 16–31 Dec (7.00 × 16/31 =
    3.61, 003 §14.3) and January bills 12.00; the plan ended on 10 Jan is not billed in
    February (nor refunded: 003 §14.3)."""
    seven, thirty_one = _price(offers, "backup-7d"), _price(offers, "backup-31d")
    assert (seven, thirty_one) == (Decimal("5.00"), Decimal("12.00"))
    start = dt.datetime(2026, 12, 1, 0, 0, tzinfo=PARIS)
    contract = billing.contract(OFFER, billing.client(), start)
    vm_id = billing.vm(contract, "avance-2-4", start, name="erp")
    with database.unit() as session:
        backups.add_target(session, STAFF, name="dc2", site="axantis-dc2", path=tmp_path)
    with frozen_at(start + dt.timedelta(minutes=5)):
        _plan(database, offers, vm_id, "backup-7d")
    run_at(database, offers, utc(2026, 12, 1, 6))
    with frozen_at(dt.datetime(2026, 12, 16, 10, tzinfo=PARIS)):
        _plan(database, offers, vm_id, "backup-31d")
    run_at(database, offers, utc(2027, 1, 1, 6))
    with frozen_at(dt.datetime(2027, 1, 10, 10, tzinfo=PARIS)):
        _plan(database, offers, vm_id, None)
    run_at(database, offers, utc(2027, 2, 1, 6))

    docs = documents_of(database, contract)
    assert len(docs) == 3
    backup_lines = [
        [(x.kind, x.item_id, x.net_amount) for x in lines_ if x.item_id.startswith("backup-")]
        for _inv, lines_ in docs
    ]
    assert backup_lines[0] == [("vm", "backup-7d", seven)]
    expected_upgrade = ((thirty_one - seven) * 16 / 31).quantize(Decimal("0.01"))
    assert sorted(backup_lines[1]) == sorted(
        [("vm", "backup-31d", thirty_one), ("upgrade", "backup-31d", expected_upgrade)]
    )
    assert expected_upgrade == Decimal("3.61")
    assert backup_lines[2] == []
    [december_line] = [x for x in docs[0][1] if x.item_id == "backup-7d"]
    assert "erp" in december_line.description
