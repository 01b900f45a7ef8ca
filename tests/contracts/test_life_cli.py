"""`nuages contracts …` (issue #21 item 8): the daily pass and the deadlines listing from
the command line, in a fresh process on a fresh database; bad usage exits 2."""

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
        [sys.executable, "-m", "nuages", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_daily_and_deadlines_json(tmp_path: Path) -> None:
    """On an empty installation the daily pass acts on nothing (twice), the listing is
    empty, and `--within 30x` is bad usage."""
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    for _ in range(2):
        done = _run(tmp_path, "contracts", "daily", "--now", "2026-12-01T00:30:00Z", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["acts"] == 0
    listed = _run(tmp_path, "contracts", "deadlines", "--within", "30d", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    bad = _run(tmp_path, "contracts", "deadlines", "--within", "30x")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --within")
    missing = _run(tmp_path, "contracts", "terminate", "no-such-contract")
    assert missing.returncode == 1 and "error:" in missing.stderr
