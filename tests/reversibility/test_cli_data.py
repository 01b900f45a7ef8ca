"""`nuages contracts relocations` and `nuages contracts partial-recoveries` (issue #21):
the same rules as the API from the command line, acting as provider staff; bad input
is a clear CLI error with nothing written."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from nuages.cli import app as cli_app
from nuages.compute.runtime import set_runtime
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import set_now
from nuages.kernel.settings import Settings
from nuages.reversibility.models import ContractRelocation, PartialRecovery
from tests.reversibility.conftest import Ex

UTC = dt.UTC


@pytest.fixture
def cli(ex: Ex, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("NUAGES_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NUAGES_OFFERS_DIR", str(Path(__file__).resolve().parents[2] / "offers"))
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    previous = set_runtime(ex.cw.runtime)  # the CLI's exports run on the test driver
    yield CliRunner()
    set_runtime(previous)
    settings_module.get_settings.cache_clear()


def _count(ex: Ex, model: type) -> int:
    with ex.database.unit() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_001_s5_3_relocations_record_and_list_from_the_cli(ex: Ex, cli: CliRunner) -> None:
    """A move to Montréal announced 1 June 2026: from 2 September (3 months' notice,
    001 §5.3 (i)), the client's exit open until 2 July 00:00 Brussels (ii). A site in the
    EU is refused naming 001 §5.2 (exit 1), a bad date is a usage error (exit 2); both
    write nothing."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", vms=1)
    set_now(dt.datetime(2026, 6, 1, 8, tzinfo=UTC))
    base = ["contracts", "relocations"]
    r = cli.invoke(cli_app, [*base, "record", ex.contract_id, "--site", "paris-2",
                             "--country", "FR", "--reason", "move"])  # fmt: skip
    assert r.exit_code == 1 and "001 §5.2" in r.stderr, r.output
    r = cli.invoke(cli_app, [*base, "record", ex.contract_id, "--site", "montreal-1",
                             "--moves-at", "soon", "--country", "CA"])  # fmt: skip
    assert r.exit_code == 2 and "--moves-at" in r.stderr, r.output
    assert _count(ex, ContractRelocation) == 0
    r = cli.invoke(cli_app, [*base, "record", ex.contract_id, "--site", "montreal-1",
                             "--country", "CA", "--reason", "consolidation", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    move = json.loads(r.stdout)
    assert (move["country"], move["clause"]) == ("CA", "001 §5.3")
    assert move["exit_until"] == "2026-07-01T22:00:00Z"
    assert move["moves_at"] == "2026-09-01T22:00:00Z"
    r = cli.invoke(cli_app, [*base, "list", ex.contract_id, "--json"])
    assert r.exit_code == 0 and [m["id"] for m in json.loads(r.stdout)] == [move["id"]]


def test_001_s7_partial_recovery_from_the_cli_fee_shown_then_asked(ex: Ex, cli: CliRunner) -> None:
    """Without --confirm the fee (250, per transfer, 001 §7) is shown and nothing is
    written; with it one transfer is asked and charged once; the list shows the copy
    with its SHA-256 once written. No --vm-id is a usage error."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", vms=1)
    base = ["contracts", "partial-recoveries"]
    r = cli.invoke(cli_app, [*base, "request", ex.contract_id])
    assert r.exit_code == 2 and "--vm-id" in r.output
    r = cli.invoke(cli_app, [*base, "request", ex.contract_id, "--vm-id", ex.vm_ids[0], "--json"])
    assert r.exit_code == 0, r.output
    quote = json.loads(r.stdout)
    assert (quote["available"], quote["fee"], quote["fee_per"], quote["clause"]) == (
        True, "250", "transfer", "001 §7",
    )  # fmt: skip
    assert _count(ex, PartialRecovery) == 0 and _count(ex, PendingCharge) == 0
    r = cli.invoke(cli_app, [*base, "request", ex.contract_id, "--vm-id", ex.vm_ids[0],
                             "--confirm", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    [asked] = json.loads(r.stdout)
    assert (asked["transfer"], asked["fee"]) == (1, "250.00")
    assert _count(ex, PartialRecovery) == 1 and _count(ex, PendingCharge) == 1
    ex.run_queued()
    r = cli.invoke(cli_app, [*base, "list", ex.contract_id, "--json"])
    assert r.exit_code == 0, r.output
    [listed] = json.loads(r.stdout)
    assert listed["state"] == "ready" and len(listed["sha256"]) == 64
    r = cli.invoke(cli_app, [*base, "request", ex.contract_id, "--vm-id", "nope", "--confirm"])
    assert r.exit_code == 1 and "vm_ids" in r.stderr and _count(ex, PartialRecovery) == 1
