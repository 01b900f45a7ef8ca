"""``nuages up`` for a visitor (issue #12, item 1): the portal URL and the first admin
printed, the local libvirt registered as a host with the tiny image, ``--demo`` logins
that open the portal; a missing or hanging libvirt is said, and the start goes on."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

NUAGES = [sys.executable, "-m", "nuages"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_up(data_dir: Path, *args: str, **env: str) -> Iterator[tuple[int, list[str]]]:
    """`nuages up` on a fresh data directory; yields (port, output lines so far)."""
    port = _free_port()
    full = os.environ | {"NUAGES_DATA_DIR": str(data_dir), "NUAGES_API_PORT": str(port)} | env
    full.pop("NUAGES_DATABASE_URL", None)
    full.pop("NUAGES_REDIS_URL", None)
    proc = subprocess.Popen(
        [*NUAGES, "up", *args], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("nuages up did not answer:\n" + "".join(lines))
        yield port, lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(timeout=10)


def _wait_for(lines: list[str], pattern: str, seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(pattern, "".join(lines))
        if found:
            return found.group(0)
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} never printed:\n" + "".join(lines))


def _portal_sign_in(port: int, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as http:
        page = http.get("/signin")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        assert csrf is not None, page.text
        answer = http.post(
            "/signin", data={"_csrf": csrf.group(1), "email": email, "password": password}
        )
        return answer


def test_up_demo_registers_libvirt_and_prints_logins_that_open_the_portal(
    tmp_path: Path,
) -> None:
    with running_up(tmp_path, "--demo", NUAGES_LIBVIRT_URI="test:///default") as (port, lines):
        printed = "".join(lines)
        assert f"portal:       http://127.0.0.1:{port}/" in printed
        assert "admin@localhost" in printed
        admin_password = re.search(r"password:\s+(\S+)", printed)
        assert admin_password is not None
        demo = re.search(r"isstar-cloud\s+(owner@\S+)\s+(\S+)", printed)
        assert demo is not None, printed
        assert len(re.findall(r"owner@\S+\.demo\.nuages\.example", printed)) == 8
        _wait_for(lines, r"host:\s+test-default registered")
        _wait_for(lines, r"image:\s+nuages-tiny built and registered", 240)
        dashboard = _portal_sign_in(port, demo.group(1), demo.group(2))
        assert dashboard.url.path == "/" and "state-active" in dashboard.text
        staff = _portal_sign_in(port, "admin@localhost", admin_password.group(1))
        assert staff.url.path == "/admin"


def test_up_without_libvirt_starts_and_says_what_it_could_not_do(tmp_path: Path) -> None:
    missing = f"qemu+unix:///system?socket={tmp_path}/no-such-socket"
    with running_up(tmp_path / "data", NUAGES_LIBVIRT_URI=missing) as (port, lines):
        said = _wait_for(lines, r"WARNING:\s+could not register [^\n]*")
        assert "nuages host add" in said
        assert httpx.get(f"http://127.0.0.1:{port}/signin").status_code == 200


def test_up_with_a_hanging_libvirt_starts_and_says_so(tmp_path: Path) -> None:
    """A libvirt socket that accepts and never answers (as a stuck /dev/kvm leaves
    libvirtd): the portal answers at once, and `up` says the host was not registered."""
    path = tmp_path / "hang.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # kept open, never answered
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        with running_up(
            tmp_path / "data",
            NUAGES_LIBVIRT_URI=f"qemu+unix:///system?socket={path}",
            NUAGES_UP_LIBVIRT_TIMEOUT="3",
        ) as (port, lines):
            assert httpx.get(f"http://127.0.0.1:{port}/signin").status_code == 200
            said = _wait_for(lines, r"WARNING:\s+could not register [^\n]*", 60)
            assert "no answer within 3 s" in said, said
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
