"""A delivery worker killed (SIGKILL) in the middle of a pass (issue #11): what the
server accepted is never resent; what it never got is sent by the next pass; one caught
while the message itself was being handed over fails visibly, never resent by guess."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from tests.factories import World

from .smtp import SmtpServer
from .test_delivery import attempts, notice_row, payment_notice

SRC = Path(__file__).resolve().parents[2] / "src"


def _worker(database: Database, smtp: SmtpServer, data_dir: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "NUAGES_DATABASE_URL": database.url,
        "NUAGES_SMTP_URL": smtp.url,
        "NUAGES_DATA_DIR": str(data_dir),
        "NUAGES_SMTP_TIMEOUT": "60",
        "PYTHONPATH": str(SRC),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "nuages", "notices", "deliver"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill_when_hung(process: subprocess.Popen[bytes], smtp: SmtpServer) -> None:
    assert smtp.handler.hung.wait(60), process.stderr.read() if process.stderr else ""
    time.sleep(0.3)  # the phase write before DATA has committed
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    smtp.handler.gate.set()


def test_issue_11_worker_killed_before_data_resends_nothing_accepted(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings, tmp_path: Path
) -> None:
    """Three notices; the server accepts the first, then hangs at RCPT on the second;
    the worker is killed. The next pass (after the claim's lease) requeues the second
    (nothing was handed over), sends it and the third: three messages, one each."""
    client_id = world.client()
    ids = [payment_notice(database, client_id, n) for n in range(3)]
    smtp.handler.hang_after = 1
    _kill_when_hung(_worker(database, smtp, tmp_path / "w"), smtp)
    states = [notice_row(database, i).state for i in ids]
    assert states.count("sent") == 1 and states.count("sending") == 1
    smtp.handler.hang_after = None
    set_now(utc_now() + dt.timedelta(minutes=10))
    report = deliver_pass(database, smtp_settings)
    assert len(report.recovered) == 1 and len(report.sent) == 2
    received = smtp.message_ids()
    assert sorted(received) == sorted(notice_row(database, i).message_id for i in ids)
    outcomes = {(a.outcome, a.reply) for a in attempts(database, report.recovered[0])}
    assert ("interrupted", "worker stopped before the message was handed over: nothing sent") in (
        outcomes
    )


def test_issue_11_worker_killed_during_data_fails_visibly_not_resent(
    database: Database, world: World, smtp: SmtpServer, smtp_settings: Settings, tmp_path: Path
) -> None:
    """The worker dies while the message body is with the server (after the phase
    "data" is written): the outcome is unknown, so the notice fails naming its
    Message-ID for staff to check; the next passes never send it again."""
    client_id = world.client()
    notice_id = payment_notice(database, client_id)
    smtp.handler.hang_after, smtp.handler.hang_in = 0, "data"
    _kill_when_hung(_worker(database, smtp, tmp_path / "w"), smtp)
    assert (notice_row(database, notice_id).state, notice_row(database, notice_id).phase) == (
        "sending",
        "data",
    )
    smtp.handler.hang_after = None
    set_now(utc_now() + dt.timedelta(minutes=10))
    report = deliver_pass(database, smtp_settings)
    assert report.recovered == [notice_id] and report.sent == []
    row = notice_row(database, notice_id)
    assert row.state == "failed" and row.message_id in row.last_error
    assert deliver_pass(database, smtp_settings).sent == []
