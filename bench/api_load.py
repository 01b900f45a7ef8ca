"""Benchmark (17.1): the API under 10, 50 and 200 concurrent clients, next to a bare
FastAPI endpoint measured in the same run.

For each database (a SQLite file; PostgreSQL when ``NUAGES_TEST_POSTGRES_URL`` is set,
in a database of its own dropped at the end) the script migrates it, creates a client
with an owner and a read-only guest (tokens issued through the accounts service), then
starts ``nuages serve --host 127.0.0.1 --port P`` in its own process (the real CLI, the
real uvicorn, default pool and timeouts). The baseline is a bare FastAPI app served by
uvicorn in another process with the same log settings, whose sync endpoints answer the
same paths with a constant JSON object: it measures what uvicorn, FastAPI and the
thread pool cost without nuages.

Each client is one keep-alive HTTP/1.1 connection sending requests back to back for
``--seconds``: 8 in 10 are reads with the guest's token (``GET /api/v1/me`` and
``GET /api/v1/clients/{id}``), 2 in 10 writes with the owner's
(``PATCH /api/v1/clients/{id}``, a change recorded in the history). The load generator
is a minimal asyncio HTTP client in this process, so that its own cost stays small
next to the servers'. An error is any answer other than 200, a closed connection or no
answer within 60 s.

Prints, per database and number of clients: requests, requests per second, p50 and
p99 latency and errors for nuages and for the bare endpoint, and the p99 ratio; then
the goals of 17.1 (no error at 200 clients; p99 at 50 clients under 10x the bare
endpoint's).

    .venv/bin/python bench/api_load.py [--clients 10,50,200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import postgres_database_on  # noqa: E402

TIMEOUT = 60.0


# ---------------------------------------------------------------- the bare baseline


def bare_app() -> FastAPI:
    """The baseline: FastAPI with sync endpoints (run in the thread pool like nuages')
    on the same paths, answering a constant JSON object."""
    app = FastAPI()

    @app.get("/api/v1/me")
    def me() -> dict[str, str]:
        return {"id": "bare", "email": "bare@example.com", "role": "guest"}

    @app.get("/api/v1/clients/{client_id}")
    def get_client(client_id: str) -> dict[str, str]:
        return {"id": client_id, "legal_name": "bare"}

    @app.patch("/api/v1/clients/{client_id}")
    def patch_client(client_id: str, body: dict[str, str]) -> dict[str, str]:
        return {"id": client_id, "legal_name": body.get("legal_name", "")}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ---------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit("server did not start within 60 s")


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        _wait(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- load


@dataclass
class Target:
    """Where to send the load and with which credentials."""

    port: int
    client_id: str
    guest: str
    owner: str


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


def _request(target: Target, rng: random.Random, n: int) -> bytes:
    roll = rng.random()
    if roll < 0.2:
        body = json.dumps({"legal_name": f"Bench client {n}"}).encode()
        head = (
            f"PATCH /api/v1/clients/{target.client_id} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {target.owner}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body
    path = "/api/v1/me" if roll < 0.7 else f"/api/v1/clients/{target.client_id}"
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {target.guest}\r\n\r\n"
    ).encode()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _client(target: Target, seed: int, until: float, figures: Figures) -> None:
    rng = random.Random(seed)
    n = 0
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
            assert reader is not None
            started = time.monotonic()
            status = await asyncio.wait_for(
                _exchange(reader, writer, _request(target, rng, seed * 1_000_000 + n)), TIMEOUT
            )
            figures.latencies.append(time.monotonic() - started)
            if status != 200:
                figures.errors += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            figures.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
        n += 1
    if writer is not None:
        writer.close()


async def _load(target: Target, clients: int, seconds: float) -> Figures:
    figures = Figures()
    # A short warm-up at this level, not counted.
    await asyncio.gather(
        *(_client(target, -i - 1, time.monotonic() + 0.5, Figures()) for i in range(clients))
    )
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(_client(target, i, until, figures) for i in range(clients)))
    figures.seconds = time.monotonic() - started
    return figures


# ---------------------------------------------------------------- databases


def _people(url: str) -> tuple[str, str, str]:
    """A client with an owner and a guest; their tokens (issued by the service)."""
    from nuages.accounts import service
    from nuages.accounts.models import Client, User
    from nuages.accounts.roles import ROLE_SCOPES, Role
    from nuages.kernel import migrate
    from nuages.kernel.db import Database

    migrate.upgrade(url)
    database = Database(url)
    tokens = []
    with database.unit() as session:
        client = Client(
            kind="business",
            legal_name="Bench client",
            country="FR",
            vat_number=None,
            billing_email="bench@example.com",
        )
        session.add(client)
        session.flush()
        for role in (Role.GUEST, Role.CLIENT_OWNER):
            user = User(
                email=f"{role.value}@bench.example.com",
                name=role.value,
                role=role.value,
                client_id=client.id,
            )
            session.add(user)
            session.flush()
            _token, clear = service.issue_token(session, user, ROLE_SCOPES[role], 1, "bench")
            tokens.append(clear)
        client_id = client.id
    database.dispose()
    return client_id, tokens[0], tokens[1]


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    base = os.environ.get("NUAGES_TEST_POSTGRES_URL")
    if not base:
        yield None
        return
    with postgres_database_on(base, "nuages_bench") as url:
        yield url


def _row(label: str, clients: int, ours: Figures, bare: Figures) -> str:
    ratio = ours.quantile(99) / bare.quantile(99)
    rate = len(ours.latencies) / ours.seconds
    return (
        f"{label:<11}{clients:>5} | {len(ours.latencies):>7} {rate:>7.0f}"
        f" {ours.quantile(50) * 1000:>8.1f} {ours.quantile(99) * 1000:>8.1f} {ours.errors:>6} |"
        f" {len(bare.latencies) / bare.seconds:>7.0f} {bare.quantile(50) * 1000:>8.1f}"
        f" {bare.quantile(99) * 1000:>8.1f} {bare.errors:>6} | {ratio:>6.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,50,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        import uvicorn

        uvicorn.run(bare_app(), host="127.0.0.1", port=args.serve_bare, log_level="info")
        return
    levels = [int(n) for n in args.clients.split(",")]
    python = sys.executable
    print(
        f"{'database':<11}{'conc':>5} | {'nuages':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'errors':>6} | {'bare/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} | p99 x"
    )
    goals: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nuages-bench-api-") as tmp, _postgres() as pg:
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'nuages.db'}"}
        if pg:
            urls["postgresql"] = pg
        for label, url in urls.items():
            client_id, guest, owner = _people(url)
            ours_port, bare_port = _free_port(), _free_port()
            env = os.environ | {"NUAGES_DATABASE_URL": url, "NUAGES_DATA_DIR": tmp}
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p
            )
            ours_cmd = [python, "-m", "nuages", "serve", "--host", "127.0.0.1"]
            bare_cmd = [python, str(HERE), "--serve-bare", str(bare_port)]
            with (
                _server([*ours_cmd, "--port", str(ours_port)], env, ours_port),
                _server(bare_cmd, env, bare_port),
            ):
                for clients in levels:
                    ours = asyncio.run(
                        _load(Target(ours_port, client_id, guest, owner), clients, args.seconds)
                    )
                    bare = asyncio.run(
                        _load(Target(bare_port, client_id, guest, owner), clients, args.seconds)
                    )
                    print(_row(label, clients, ours, bare), flush=True)
                    if clients == 200:
                        goals.append(f"{label}: errors at 200 clients = {ours.errors} (goal 0)")
                    if clients == 50:
                        ratio = ours.quantile(99) / bare.quantile(99)
                        goals.append(f"{label}: p99 at 50 clients = {ratio:.1f}x bare (goal < 10)")
    print("\n".join(goals))


if __name__ == "__main__":
    main()
