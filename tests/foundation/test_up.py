"""``nuages up`` on a fresh data directory: migrates, prints the first admin once, serves
the API and runs the worker in the same process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

NUAGES = [sys.executable, "-m", "nuages"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_up(data_dir: Path, port: int) -> tuple[str, str, str]:
    """Start `nuages up`, wait for the API, sign in if a password was printed, stop."""
    env = os.environ | {"NUAGES_DATA_DIR": str(data_dir), "NUAGES_API_PORT": str(port)}
    env.pop("NUAGES_DATABASE_URL", None)
    env.pop("NUAGES_REDIS_URL", None)
    proc = subprocess.Popen(
        [*NUAGES, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    signed_in = ""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("nuages up did not answer within 60 s")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    password = re.search(r"password:\s+(\S+)", out)
    if password:
        signed_in = password.group(1)
    return out, signed_in, str(proc.returncode)


def test_up_first_start_then_second(tmp_path: Path) -> None:
    port = _free_port()
    first, password, _ = _run_up(tmp_path, port)
    assert f"http://127.0.0.1:{port}/api/v1" in first
    assert "admin@localhost" in first and password, first
    assert "Huey consumer started" in first, "the worker did not start in-process"
    assert "Exception in thread" not in first, first
    assert (tmp_path / "nuages.db").exists()
    # The password is stored hashed only.
    assert password.encode() not in (tmp_path / "nuages.db").read_bytes()
    second, again, _ = _run_up(tmp_path, port)
    assert again == "" and "shown once" not in second
