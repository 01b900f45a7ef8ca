"""Exit code 3 (issue #19): an invoicing run where some contracts could not be
invoiced exits 3 and lists them on stderr; the others are invoiced and reported."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from nuages.accounts.models import Client
from nuages.cli import app as cli_app
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database

from .factories import Billing, utc


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    yield CliRunner()
    settings_module.get_settings.cache_clear()


def test_invoicing_run_with_a_failing_contract_exits_3_and_lists_it(
    database: Database, billing: Billing, cli: CliRunner
) -> None:
    """Two optima-cloud-azure contracts (azure-b2s, 66.00 TTC each); the first client's
    legal name holds U+0007 (a legacy row), which no Factur-X XML can carry. `nuages
    invoicing run --json` prints the report (one document issued, one problem), names
    the contract on stderr, and exits 3 — not 0 (all done) and not 1 (refused)."""
    contracts: dict[str, str] = {}
    for n in range(2):
        client = billing.client(f"Client {n} SARL")
        contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
        billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
        contracts[contract] = client
    bad = min(contracts)
    with database.unit() as session:
        session.execute(
            update(Client).where(Client.id == contracts[bad]).values(legal_name="A\u0007SA")
        )
    with frozen_at(utc(2026, 3, 1, 6)):
        r = cli.invoke(cli_app, ["invoicing", "run", "--on", "2026-03-01", "--json"])
    assert r.exit_code == 3, r.output
    report = json.loads(r.stdout)
    assert [p["contract_id"] for p in report["problems"]] == [bad]
    [issued] = report["issued"]
    assert issued["grand_total"] == "66.00"  # a decimal string, never a float
    assert f"failed: contract {bad}:" in r.stderr
    assert "1 contract(s) failed (listed above)" in r.stderr
