"""`nuages gdpr` and `nuages tickets` in a fresh process over a fresh installation: one
JSON document with --json, a refusal by a rule exits 1 with one line naming the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
    }
    env.pop("NUAGES_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "nuages", *args], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_001_s16_9_cli_subprocessors_and_tickets(tmp_path: Path) -> None:
    """A sub-processor added from the CLI (no client yet: none notified); an Indian one
    without its Art. 46 safeguard is refused (exit 1, "safeguard"); the list and an
    empty ticket list are JSON; an unknown contract's agreement is refused (exit 1)."""
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    added = _run(
        tmp_path, "gdpr", "subprocessor-add", "Interxion Belgium NV", "--service",
        "data centre", "--country", "be", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["notified_clients"] == 0
    refused = _run(tmp_path, "gdpr", "subprocessor-add", "Ops", "--service", "s", "--country", "IN")
    assert refused.returncode == 1 and refused.stderr.startswith("error: safeguard")
    listed = json.loads(_run(tmp_path, "gdpr", "subprocessors", "--json").stdout)
    assert [s["country"] for s in listed] == ["BE"]
    assert json.loads(_run(tmp_path, "tickets", "list", "--json").stdout) == []
    unknown = _run(tmp_path, "tickets", "agreement", "nope", "--managed")
    assert unknown.returncode == 1 and "no such contract" in unknown.stderr
