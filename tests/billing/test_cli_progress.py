"""Progress on long work (issue #19): ``nuages billing meter`` catching up hours draws
a bar with counts and an estimate on a terminal, prints no progress when its output is
not one, and stops at an hour boundary on Ctrl-C saying how many hours were metered.

Real subprocesses over the test database; the terminal is a pseudo-terminal (pty)."""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select as sql_select

from nuages.billing.models import MeteringPeriod
from nuages.kernel.db import Database
from tests.billing.factories import at

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-02T14:00:00+00:00"


def _last_metered(database: Database, hours_before: int) -> None:
    """The state after a worker stopped ``hours_before`` hours before NOW."""
    start = at("2026-11-02 14:00") - dt.timedelta(hours=hours_before + 1)
    with database.unit() as session:
        session.add(
            MeteringPeriod(
                period_start=start,
                period_end=start + dt.timedelta(hours=1),
                completed_at=start + dt.timedelta(hours=1),
                entries=0,
            )
        )


def _metered(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(sql_select(func.count()).select_from(MeteringPeriod)).scalar())


def _env(database: Database, tmp_path: Path) -> dict[str, str]:
    env = os.environ | {
        "NUAGES_DATABASE_URL": database.url,
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(ROOT / "offers"),
        "COLUMNS": "120",
    }
    env.pop("NUAGES_PROGRESS", None)
    return env


class PtyRun:
    """``argv`` with stdin, stdout and stderr on a pseudo-terminal (a terminal to it)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.fd, child_fd = pty.openpty()
        # A test run started in the background by a non-interactive shell (`cmd &`,
        # nohup) inherits SIGINT ignored, and an ignored signal stays ignored across
        # exec: Python would then never raise KeyboardInterrupt. The child gets the
        # default back, as a terminal's process would have.
        self.child = subprocess.Popen(
            argv,
            env=env,
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        os.close(child_fd)
        self.seen = b""

    def read(self, until: bytes | None = None, timeout: float = 120) -> str:
        """Read until ``until`` appears, or to the end of the output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until in self.seen:
                break
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if not ready:
                if self.child.poll() is not None and until is None:
                    break
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen.decode(errors="replace")

    def finish(self) -> str:
        text = self.read()
        self.child.wait(timeout=120)
        os.close(self.fd)
        return text


def test_meter_shows_a_bar_with_counts_and_estimate_on_a_terminal(
    database: Database, tmp_path: Path
) -> None:
    """400 hours to catch up: the terminal gets a bar `[###…] done/400 hour(s) NN%`
    redrawn in place (carriage returns) with an ETA, then the one-line summary."""
    _last_metered(database, 400)
    argv = [sys.executable, "-m", "nuages", "billing", "meter", "--now", NOW]
    run = PtyRun(argv, _env(database, tmp_path))
    text = run.finish()
    assert run.child.returncode == 0, text
    assert "/400 hour(s)" in text and "metering [" in text, text
    assert "\r" in text
    assert "metered 400 hour(s)" in text
    assert _metered(database) == 401


def test_meter_prints_no_progress_when_not_a_terminal(database: Database, tmp_path: Path) -> None:
    """Off a terminal (cron, CI, a log): stdout holds the summary line alone and
    stderr holds no bar, no carriage return."""
    _last_metered(database, 50)
    done = subprocess.run(
        [sys.executable, "-m", "nuages", "billing", "meter", "--now", NOW],
        env=_env(database, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "metered 50 hour(s): 0 entries written; suspended 0, resumed 0, warned 0"
    ]
    assert "\r" not in done.stderr and "hour(s)" not in done.stderr, done.stderr


def test_meter_interrupted_stops_at_an_hour_and_says_what_was_done(
    database: Database, tmp_path: Path
) -> None:
    """Ctrl-C (SIGINT) half-way through 20,000 hours: exit 130, one line `interrupted:
    metering: N of 20000 hour(s) done when stopped; each hour is its own transaction…`,
    no traceback; the hours said done are the hours stored (an hour boundary), and a
    re-run catches up the rest."""
    _last_metered(database, 20000)
    argv = [sys.executable, "-m", "nuages", "billing", "meter", "--now", NOW]
    run = PtyRun(argv, _env(database, tmp_path))
    # Wait until the bar says some hours are done (not a fixed sleep: on a loaded CI
    # machine half a second may not commit one hour, and "0 < stored" must hold).
    deadline = time.monotonic() + 120
    while not re.search(rb"[1-9]\d*/20000 hour\(s\)", run.seen) and time.monotonic() < deadline:
        run.read(until=b"\0", timeout=0.3)  # reads whatever comes for 0.3 s
    run.child.send_signal(signal.SIGINT)
    text = run.finish()
    assert run.child.returncode == 130, text
    assert "Traceback" not in text, text
    said = re.search(r"interrupted: metering: (\d+) of 20000 hour\(s\) done when stopped", text)
    assert said, text
    assert "each hour is its own transaction" in text
    stored = _metered(database) - 1  # less the hour seeded
    # The hour being written when the signal came is either committed whole or not at
    # all; the count said is the hours committed before the signal.
    assert int(said.group(1)) <= stored <= int(said.group(1)) + 1, (said.group(0), stored)
    assert 0 < stored < 20000
