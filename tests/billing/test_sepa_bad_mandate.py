"""A mandate holder name the pain.008 file cannot hold stops only its own top-up
(issue 17.2, batch part). The bad name is written straight into the database, as a
legacy row would be (the API edge now refuses control characters)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import update
from typer.testing import CliRunner

from nuages.billing import ledger, sepa
from nuages.billing.models import DirectDebit
from nuages.cli import app as cli_app
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.payments.models import Mandate as SepaMandate
from tests.billing.factories import Funded, funded
from tests.factories import World

PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}"
STAFF = Actor.system("test")
MANDATE = {
    "iban": "BE68 5390 0754 7034",
    "bic": "GKCCBEBB",
    "holder_name": "Exemple SPRL",
    "signed_on": "2026-11-01",
}


def _mandate_and_debit(client: TestClient, f: Funded, amount: str) -> dict[str, str]:
    base = f"/api/v1/billing/contracts/{f.contract_id}"
    r = client.post(f"{base}/mandates", json=MANDATE, headers=f.owner.headers)
    assert r.status_code == 201, r.text
    r = client.post(
        f"{base}/direct-debits",
        json={"amount": amount, "currency": "EUR", "reference": f"topup-{amount}"},
        headers=f.owner.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def test_regression_bad_holder_name_stops_the_topup_sepa_batch_for_everyone(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """17.2: two prepaid clients each ask a direct-debit top-up (40.00 and 25.00); the
    first mandate's holder name is then set to "Exemple\\u0007SPRL". The batch used to
    fail as a whole (``nuages billing sepa-batch`` for all clients); now it holds the
    25.00 debit alone (credited only at settlement, 17.7: both balances stay 100.00),
    the 40.00 debit stays pending, and is reported with the reason."""
    bad = funded(world, client)
    good = funded(world, client)
    bad_debit = _mandate_and_debit(client, bad, "40.00")
    good_debit = _mandate_and_debit(client, good, "25.00")
    with database.unit() as session:
        session.execute(
            update(SepaMandate)
            .where(SepaMandate.contract_id == bad.contract_id)
            .values(holder_name="Exemple\u0007SPRL")
        )
    problems: list[dict[str, str]] = []
    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF, problems=problems)
        assert batch is not None
        assert (batch.transactions, batch.total) == (1, Decimal("25.00"))
        xml = batch.xml
    doc = etree.fromstring(xml.encode())
    assert [e.text for e in doc.iter(f"{PAIN}EndToEndId")] == [good_debit["end_to_end_id"]]
    [problem] = problems
    assert problem["debit"] == bad_debit["end_to_end_id"]
    assert problem["contract_id"] == bad.contract_id
    assert "control character (U+0007)" in problem["problem"]
    with database.unit() as session:
        left = session.get(DirectDebit, bad_debit["id"])
        assert left is not None and (left.state, left.batch_id) == ("pending", None)
        # Nothing is credited by a batch (17.7: credited at settlement), good or bad.
        assert ledger.balance(session, bad.contract_id) == Decimal("100.00")
        assert ledger.balance(session, good.contract_id) == Decimal("100.00")


def test_regression_sepa_batch_cli_reports_the_debit_left_out(
    client: TestClient,
    world: World,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """17.2, the operator's view: ``nuages billing sepa-batch`` with one bad holder name
    writes the file of the other client's 25.00 collection (exit 0) and prints the debit
    left out with the reason."""
    bad = funded(world, client)
    good = funded(world, client)
    bad_debit = _mandate_and_debit(client, bad, "40.00")
    _mandate_and_debit(client, good, "25.00")
    with database.unit() as session:
        session.execute(
            update(SepaMandate)
            .where(SepaMandate.contract_id == bad.contract_id)
            .values(holder_name="Exemple\u0007SPRL")
        )
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    try:
        out = tmp_path / "batch.xml"
        r = CliRunner().invoke(cli_app, ["billing", "sepa-batch", "--out", str(out)])
    finally:
        settings_module.get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert "1 collection(s), 25.00" in r.output
    assert f"left out: debit {bad_debit['end_to_end_id']}" in r.output
    assert "control character (U+0007)" in r.output
    assert out.read_text("utf-8").count("<DrctDbtTxInf>") == 1
