"""One client's bad data stops only that client (issue 17.2, run and batch part).

The bad data is written straight into the database, as legacy rows would be (the API
edge now refuses control characters): a ``legal_name`` of ``"Tenant A\\u0007SA"`` cannot
go into a Factur-X XML or a pain.008 file.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import sepaxml
import xmlschema
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from nuages.accounts.models import Client
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import Invoice, InvoiceRun, InvoiceSequence, SepaItem
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.factories import World

from .factories import Billing, run_at, utc

D = Decimal
BAD_NAME = "Tenant A\u0007SA"
MANDATE = {
    "mandate_id": "MANDAT-0001",
    "signed_on": "2026-01-20",
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPPXXX",
}
PAIN_008 = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"


def _set_name(database: Database, client_id: str, name: str) -> None:
    with database.unit() as session:
        session.execute(update(Client).where(Client.id == client_id).values(legal_name=name))


def test_regression_one_clients_name_stops_invoicing_for_everyone(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """17.2: three optima-cloud-azure contracts (azure-b2s, 55.00 + 20 % = 66.00 each);
    the one first in id order belongs to a client whose legal name holds U+0007. The run
    used to fail there with a 500 and leave the two later ones uninvoiced every night.
    Now that contract is one problem line of the run report (and of the stored run), it
    has no invoice and took no number; the two others are invoiced 66.00 each, numbered
    1 and 2 without a gap."""
    contracts: dict[str, str] = {}
    for n in range(3):
        client = billing.client(f"Client {n} SARL")
        contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
        billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
        contracts[contract] = client
    bad = min(contracts)
    _set_name(database, contracts[bad], BAD_NAME)

    report = run_at(database, offers, utc(2026, 3, 1, 6))
    [problem] = report.problems
    assert problem["contract_id"] == bad and "XML" in problem["problem"], problem
    assert sorted(d["contract_id"] for d in report.issued) == sorted(set(contracts) - {bad})
    assert [d["grand_total"] for d in report.issued] == [D("66.00"), D("66.00")]
    with database.unit() as session:
        numbers = sorted(session.execute(select(Invoice.seq_no)).scalars())
        assert numbers == [1, 2]
        assert session.execute(select(func.max(InvoiceSequence.last_number))).scalar() == 2
        assert not session.execute(select(Invoice).where(Invoice.contract_id == bad)).first()
        run = session.get(InvoiceRun, report.run_id)
        assert run is not None and (run.issued, run.problems) == (2, 1)
        assert json.loads(run.report)[0]["contract_id"] == bad
    # Once the name is corrected, the next run invoices the contract left out.
    _set_name(database, contracts[bad], "Tenant A SA")
    [late] = run_at(database, offers, utc(2026, 3, 2, 6)).issued
    assert (late["contract_id"], late["grand_total"]) == (bad, D("66.00"))


def test_regression_one_bad_name_stops_the_invoice_sepa_batch_for_everyone(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """17.2: two direct-debit invoices of optima-cloud-azure (004 §8.2): azure-b2s
    66.00 and azure-d4s 192.00 (160.00 + 20 %). The first client's name is then set to
    hold U+0007. The pain.008 batch used to fail as a whole; now it collects the other
    invoice alone (count 1, 192.00, valid against the XSD) and names the invoice left
    out and why; that invoice is not marked as being collected, so a later batch takes
    it once the name is fixed."""
    set_now(utc(2026, 3, 1, 6))
    bad_client, bad_contract, bad_invoice = _direct_debit(database, offers, billing, "azure-b2s")
    _, _, good_invoice = _direct_debit(
        database, offers, billing, "azure-d4s", mandate_id="MANDAT-0002"
    )
    _set_name(database, bad_client, BAD_NAME)
    set_now(utc(2026, 3, 2))
    admin = world.admin()
    r = client.post(
        "/api/v1/sepa-batches",
        json={"collection_date": "2026-04-28", "due_by": "2026-04-30"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["count"], batch["total"]) == (1, "192.00")
    assert [i["invoice_id"] for i in batch["items"]] == [good_invoice]
    [left] = batch["left_out"]
    assert "control character (U+0007)" in left["problem"], left
    xml = client.get(f"/api/v1/sepa-batches/{batch['id']}/xml", headers=admin.headers).text
    xmlschema.XMLSchema(str(PAIN_008)).validate(xml)
    with database.unit() as session:
        assert not session.execute(
            select(SepaItem).where(SepaItem.invoice_id == bad_invoice)
        ).first()
    # Corrected, it goes into the next batch.
    _set_name(database, bad_client, "Tenant A SA")
    r = client.post(
        "/api/v1/sepa-batches",
        json={"collection_date": "2026-04-29", "due_by": "2026-04-30"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    assert [i["invoice_id"] for i in r.json()["items"]] == [bad_invoice]
    assert bad_contract


def _direct_debit(
    database: Database, offers: OfferRegistry, billing: Billing, item: str, **mandate: str
) -> tuple[str, str, str]:
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
    billing.line(contract, item, dt.date(2026, 3, 1))
    billing.profile(contract, mandate={**MANDATE, **mandate})
    issued = [d for d in run_at(database, offers, utc(2026, 3, 1, 6)).issued]
    [mine] = [d for d in issued if d["contract_id"] == contract]
    return client, contract, mine["invoice_id"]
