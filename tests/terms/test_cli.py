"""``nuages offers`` and ``nuages terms`` through the real entry point: one subprocess per
command, and Typer's runner on ``nuages.cli.app`` for the input errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nuages.cli import app

ROOT = Path(__file__).resolve().parents[2]
OFFERS = ROOT / "offers"
NUAGES = Path(sys.executable).parent / "nuages"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``nuages`` script, offers found through NUAGES_OFFERS_DIR."""
    env = {**os.environ, "NUAGES_OFFERS_DIR": str(OFFERS), "NUAGES_DATA_DIR": str(cwd / "data")}
    return subprocess.run(
        [str(NUAGES), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_offers_check_all_shipped_files_subprocess(tmp_path: Path) -> None:
    """`nuages offers check offers/*.toml` exits 0 and says ok for each file."""
    files = sorted(str(p) for p in OFFERS.glob("*.toml"))
    done = run("offers", "check", *files, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok") == 8


def test_offers_check_reports_file_line_path_subprocess(tmp_path: Path) -> None:
    """A broken file: exit 1, one `FILE:LINE: KEY.PATH: what (expected …)` per problem."""
    text = (OFFERS / "isstar-cloud.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(
        text.replace('timezone = "Europe/Brussels"', 'timezone = "Mars/Olympus"').replace(
            'per_month_pct = "30"', 'per_month_pct = "130"'
        )
    )
    done = run("offers", "check", str(OFFERS / "cloudbizz.toml"), str(broken), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    pattern = re.compile(rf"^{re.escape(str(broken))}:(\d+): ([\w.\[\]]+): .+ \(expected .+\)$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m.group(2)) for m in parsed if m] == ["offer.timezone", "sla.caps.per_month_pct"]
    tz_line = next(i for i, t in enumerate(broken.read_text().splitlines(), 1) if "Mars" in t)
    assert parsed[0] is not None and int(parsed[0].group(1)) == tz_line
    assert "2 problem(s)" in done.stderr


def test_offers_list_json_subprocess(tmp_path: Path) -> None:
    """`nuages offers list --json` names the eight offers and their hashes."""
    done = run("offers", "list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["offers"]) == 8
    assert all(len(row["sha256"]) == 64 for row in data["offers"])


def test_terms_sla_json_subprocess(tmp_path: Path) -> None:
    """002 §6 / SPEC §17: 100 minutes down on Mon 5 October 2026 09:00–10:40 Paris, plus an
    excusable hour and a Saturday outage: 100 of the 13,200 coverage minutes (22 weekdays ×
    600; the month has 44,700) → 99.2424… % (shown floored to four places) → 10 % of
    1,000.00; the output names its denominator."""
    done = run(
        "terms", "sla", "axantis-cloud-vm-avance", "--month", "2026-10",
        "--outage", "2026-10-05T09:00/2026-10-05T10:40",
        "--outage", "2026-10-06T09:00/2026-10-06T10:00/client-acts",
        "--outage", "2026-10-10T09:00:00+02:00/2026-10-10T12:00:00+02:00",
        "--monthly-amount", "1000", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["minutes_in_month"] == 44700
    assert (data["denominator"], data["denominator_minutes"]) == ("coverage_minutes", "13200")
    assert data["counted_minutes"] == "100"
    assert data["availability_pct"] == "99.2424"
    assert data["credit_rate_pct"] == "10"
    assert data["credit_amount"] == "100.00"
    assert data["objective_met"] is False


def test_terms_deadline_json_subprocess(tmp_path: Path) -> None:
    """003 §12: a consumer ordering Mon 6 July 2026 may withdraw until the end of Wed
    15 July (14 July is a holiday)."""
    done = run(
        "terms", "deadline", "virtualsr-svp", "--event", "withdrawal_start",
        "--at", "2026-07-06T11:00", "--consumer", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [deadline] = json.loads(done.stdout)["deadlines"]
    assert deadline["name"] == "consumer-withdrawal" and deadline["clause"] == "003 §12"
    assert deadline["last_day"] == "2026-07-15"
    assert deadline["ends_at"] == "2026-07-15T22:00:00+00:00"


def test_terms_revise_json_subprocess(tmp_path: Path) -> None:
    """000 §13.3: P0 100, Syntec 250 → 262.5, ElecVert 120 → 132 → 108.50."""
    done = run(
        "terms", "revise", "isstar-cloud", "--price", "100",
        "--index", "syntec=250:262.5", "--index", "elecvert=120:132", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["factor"], data["price_cents"], data["capped"]) == ("1.085", "108.50", False)


def test_terms_interest_json_subprocess(tmp_path: Path) -> None:
    """000 §13.1: 1,000.00 due 31 January 2026 paid 2 March, legal rate 3.50 % → 10.50 %
    over 30 days → 8.63."""
    done = run(
        "terms", "interest", "isstar-cloud", "--amount", "1000", "--due", "2026-01-31",
        "--paid", "2026-03-02", "--legal-rate", "3.50", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["interest"], data["annual_rate_pct"], data["days_late"]) == ("8.63", "10.50", 30)


def test_terms_sla_text_output() -> None:
    """Without --json the same numbers print as `key: value` lines."""
    result = CliRunner().invoke(
        app,
        ["terms", "sla", str(OFFERS / "cloudbizz.toml"), "--month", "2026-06",
         "--outage", "2026-06-13T01:00/2026-06-13T06:00"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "counted_minutes: 300" in result.output
    assert "minutes_in_month: 43200" in result.output
    assert "denominator: coverage_minutes" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["terms", "sla", "nope", "--month", "2026-10"], "no offer 'nope'"),
        (["terms", "sla", "isstar-cloud", "--month", "2026-13"], "is not YYYY-MM"),
        (["terms", "sla", "isstar-cloud", "--month", "2026-10", "--outage", "x"], "START/END"),
        (
            [
                "terms",
                "sla",
                "isstar-cloud",
                "--month",
                "2026-10",
                "--outage",
                "2026-10-05T10:00/2026-10-05T09:00",
            ],
            "ends before it starts",
        ),
        (
            ["terms", "sla", "isstar-cloud", "--month", "2026-10", "--monthly-amount", "1,5"],
            "not a decimal amount",
        ),
        (["terms", "sla", "optima-cloud-azure", "--month", "2026-10"], "no SLA coverage"),
        (["terms", "deadline", "isstar-cloud", "--event", "order", "--at", "soon"], "ISO"),
        (["terms", "revise", "isstar-cloud", "--price", "100", "--index", "syntec"], "NAME=BASE"),
        (
            ["terms", "revise", "isstar-cloud", "--price", "100", "--index", "syntec=1:2"],
            "missing elecvert",
        ),
        (["terms", "revise", "cloudbizz", "--price", "100"], "no yearly revision formula"),
        (["terms", "revise", "virtualsr-svp", "--price", "100"], "proposed"),
        (
            [
                "terms",
                "interest",
                "isstar-cloud",
                "--amount",
                "10",
                "--due",
                "2026-01-01",
                "--paid",
                "2026-02-01",
            ],
            "--legal-rate",
        ),
        (
            [
                "terms",
                "interest",
                "cloudbizz",
                "--amount",
                "-10",
                "--due",
                "2026-01-01",
                "--paid",
                "2026-02-01",
            ],
            "negative",
        ),
        (
            [
                "terms",
                "interest",
                "cloudbizz",
                "--amount",
                "10",
                "--due",
                "01/01/2026",
                "--paid",
                "2026-02-01",
            ],
            "not an ISO date",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a clear message on stderr, exit 2, no traceback."""
    monkeypatch.setenv("NUAGES_OFFERS_DIR", str(OFFERS))
    from nuages.kernel.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, args)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_input_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """The real script too: exit 2, one line on stderr."""
    done = run(
        "terms", "deadline", "isstar-cloud", "--event", "order", "--at", "2026-02-30", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --at '2026-02-30' is not an ISO date or date-time (e.g. 2026-10-05T09:30)"
    ]


def test_regression_terms_sla_help_does_not_crash_subprocess(tmp_path: Path) -> None:
    """`nuages terms sla --help` printed a rich MarkupError traceback on "[/CAUSE]"."""
    done = run("terms", "sla", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MarkupError" not in done.stderr and "Traceback" not in done.stderr
    assert "START/END/CAUSE" in " ".join(done.stdout.split())


def test_regression_terms_sla_refuses_unknown_outage_cause_subprocess(tmp_path: Path) -> None:
    """002 §6 lists the excusable events; a cause the offer does not list ("client-act",
    a typo of "client-acts") was counted as unavailability without a word. It is refused
    (exit 2, the known causes named), and the listed cause still excuses the hour."""
    outage = "2026-10-05T09:00/2026-10-05T10:00"
    done = run(
        "terms", "sla", "axantis-cloud-vm-avance", "--month", "2026-10",
        "--outage", f"{outage}/client-act", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert "'client-act' is not an excusable cause" in done.stderr
    assert "client-acts" in done.stderr and "Traceback" not in done.stderr
    done = run(
        "terms", "sla", "axantis-cloud-vm-avance", "--month", "2026-10",
        "--outage", f"{outage}/client-acts", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counted_minutes"] == "0"
