"""002 §3.6: the Cloud Datacenter firewall tier chosen at order is billed as its option
of the terms file (firewall-standard 60.00, firewall-advanced 120.00 a month, examples)
through a real invoicing run, prorated like any item, up to the contract's end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database

from .factories import PARIS, Billing, documents_of, run_at, utc

OFFER = "axantis-cloud-datacenter"


def test_002_s3_6_firewall_tier_chosen_at_order_is_billed(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """002 §3.6, billed in advance per month: a Datacenter contract formed on Wed 16
    December 2026 with the advanced firewall bills it for 16–31 December (120.00 × 16/31
    = 61.94) next to the VM block, then 120.00 for January; a contract with the
    standard tier bills 60.00 for a whole month. The line names the option."""
    [advanced] = [o for o in offers.current(OFFER).catalogue.options if o.id == "firewall-advanced"]
    assert (advanced.price, advanced.clause) == (Decimal("120.00"), "002 §3.6")
    start = dt.datetime(2026, 12, 16, 9, tzinfo=PARIS)
    contract = billing.contract(OFFER, billing.client(), start, firewall_tier="advanced")
    billing.vm(contract, "vdc-4-16", start, name="erp")
    run_at(database, offers, utc(2026, 12, 16, 12))
    run_at(database, offers, utc(2027, 1, 1, 6))
    docs = documents_of(database, contract)
    fw = [
        [(x.item_id, x.net_amount) for x in ls if x.item_id.startswith("firewall-")]
        for _, ls in docs
    ]
    assert fw == [
        [("firewall-advanced", Decimal("61.94"))],
        [("firewall-advanced", Decimal("120.00"))],
    ]
    assert (advanced.price * 16 / 31).quantize(Decimal("0.01")) == Decimal("61.94")
    [line] = [x for x in docs[1][1] if x.item_id == "firewall-advanced"]
    assert "avancé" in line.description

    other = billing.contract(
        OFFER, billing.client(), dt.datetime(2027, 1, 1, 0, tzinfo=PARIS), firewall_tier="standard"
    )
    billing.vm(other, "vdc-4-16", dt.datetime(2027, 1, 1, 0, tzinfo=PARIS))
    run_at(database, offers, utc(2027, 1, 1, 7))
    [(_, lines_)] = documents_of(database, other)
    assert [(x.item_id, x.net_amount) for x in lines_ if x.item_id.startswith("firewall-")] == [
        ("firewall-standard", Decimal("60.00"))
    ]
