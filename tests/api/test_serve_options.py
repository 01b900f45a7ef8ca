"""9.11: ``nuages serve`` and ``nuages up`` take --host and --port (they only read
NUAGES_API_HOST/NUAGES_API_PORT); the options win over the variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .live import free_port


@pytest.mark.parametrize("command", ["serve", "up"])
def test_regression_serve_and_up_take_host_and_port(tmp_path: Path, command: str) -> None:
    port, other = free_port(), free_port()
    env = os.environ | {
        "NUAGES_DATA_DIR": str(tmp_path),
        "NUAGES_API_PORT": str(other),
        "NUAGES_API_HOST": "127.0.0.2",
        "NUAGES_LIBVIRT_URI": "test:///default",
    }
    env.pop("NUAGES_DATABASE_URL", None)
    env.pop("NUAGES_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuages", command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts slowly
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "no answer within 120 s"
                time.sleep(0.3)
        assert r.status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{other}/healthz", timeout=1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/api/v1" in out, out


def test_serve_help_lists_host_and_port() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nuages", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"COLUMNS": "120"},
    ).stdout
    assert "--host" in out and "--port" in out
