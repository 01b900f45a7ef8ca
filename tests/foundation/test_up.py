"""``nuages up`` on a fresh data directory: migrates, prints the first admin once, serves
the API and runs the worker in the same process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

NUAGES = [sys.executable, "-m", "nuages"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_up(data_dir: Path, port: int) -> tuple[str, str, str]:
    """Start `nuages up`, wait for the API; when it printed credentials, sign in with
    exactly what it printed while it runs (the answer's status is returned); stop."""
    env = os.environ | {"NUAGES_DATA_DIR": str(data_dir), "NUAGES_API_PORT": str(port)}
    env.pop("NUAGES_DATABASE_URL", None)
    env.pop("NUAGES_REDIS_URL", None)
    proc = subprocess.Popen(
        [*NUAGES, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
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
        printed = "".join(lines)
        email = re.search(r"e-mail:\s+(\S+)", printed)
        password = re.search(r"password:\s+(\S+)", printed)
        if email and password:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/token",
                json={"email": email.group(1), "password": password.group(1)},
                timeout=10,
            )
            signed_in = f"{answer.status_code} {answer.text}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    return "".join(lines), signed_in, str(proc.returncode)


def test_up_first_start_then_second(tmp_path: Path) -> None:
    port = _free_port()
    first, signed_in, _ = _run_up(tmp_path, port)
    assert f"http://127.0.0.1:{port}/api/v1" in first
    assert "admin@localhost" in first and signed_in, first
    password = re.search(r"password:\s+(\S+)", first).group(1)  # type: ignore[union-attr]
    assert "Huey consumer started" in first, "the worker did not start in-process"
    assert "Exception in thread" not in first, first
    assert (tmp_path / "nuages.db").exists()
    # The password is stored hashed only.
    assert password.encode() not in (tmp_path / "nuages.db").read_bytes()
    second, again, _ = _run_up(tmp_path, port)
    assert again == "" and "shown once" not in second


def test_regression_first_admin_can_sign_in_with_what_up_prints(tmp_path: Path) -> None:
    """#9.1: the e-mail and password `nuages up` prints on first start are accepted by
    POST /api/v1/auth/token at once (they answered 422: admin@localhost has no dot),
    and the token they give is an admin's."""
    port = _free_port()
    out, signed_in, _ = _run_up(tmp_path, port)
    assert signed_in.startswith("201 "), (signed_in, out)
    body = json.loads(signed_in.split(" ", 1)[1])
    assert body["scopes"] == "admin billing read write"
    assert body["token"].startswith("nua_")
