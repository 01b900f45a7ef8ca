"""Operations through the real job queue: the API enqueues after the commit, a
``nuages worker`` process consumes; at its start-up the worker recovers what a dead
worker left running.

The host is simulated by libvirt's test driver inside the worker process (its state
lives there), so the test reads outcomes from the database and the API only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from nuages.accounts.roles import Role
from nuages.compute import schemas
from nuages.compute.models import Operation
from nuages.compute.services import vms
from nuages.jobs import tasks
from tests.compute.world import ComputeWorld, cw_fixture, make_runtime  # noqa: F401


@pytest.fixture
def start_worker(cw: ComputeWorld) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts ``nuages worker`` on this test's database and the test process's queue."""
    tasks.huey.flush()
    env = os.environ | {
        "NUAGES_DATABASE_URL": cw.database.url,
        "NUAGES_COMPUTE_EXECUTOR": "queue",
        # Operations another machine started are taken over at once (default: 1 h).
        "NUAGES_COMPUTE_OPERATION_STALE_S": "0",
    }
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nuages", "worker", "--workers", "1", "--no-periodic"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_op(api: TestClient, headers: dict[str, str], op_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        op: dict[str, Any] = api.get(f"/api/v1/operations/{op_id}", headers=headers).json()
        if op["state"] in ("succeeded", "failed"):
            return op
        time.sleep(0.2)
    raise TimeoutError(f"operation {op_id} not done by the worker")


def test_worker_runs_queued_operations_and_recovers_at_start(
    client: TestClient, cw: ComputeWorld, start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    client.app.state.compute = make_runtime(  # type: ignore[attr-defined]
        cw.runtime.settings.data_dir, cw.database, executor="queue"
    )
    client_id = cw.world.client()
    contract = cw.contract(client_id)
    cw.host()
    cw.image()
    owner_actor = cw.world.user(Role.CLIENT_OWNER, client_id)
    owner = cw.principal(owner_actor)

    # An operation a dead worker left running (its VM asked for, nothing on the host).
    with cw.database.unit() as session:
        _vm, orphan = vms.create_vm(
            session,
            owner,
            cw.runtime,
            cw.offers,
            schemas.VmCreate(contract_id=contract, flavour="vm-s", image="base", name="orphan"),
        )
        orphan_id = orphan.id
    with cw.database.unit() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == orphan_id)
            .values(state="running", runner="gone-machine:1", started_at=orphan.created_at)
        )

    headers = owner_actor.headers
    r = client.post(
        "/api/v1/vms",
        json={"contract_id": contract, "flavour": "vm-s", "image": "base", "name": "queued"},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    op_id, vm_id = r.json()["operation"]["id"], r.json()["vm"]["id"]
    assert tasks.huey.pending_count() == 1  # enqueued after the commit

    proc = start_worker()
    orphan_now = wait_op(client, headers, orphan_id)
    assert orphan_now["state"] == "failed" and "interrupted" in orphan_now["error"]
    assert wait_op(client, headers, op_id)["state"] == "succeeded"
    assert client.get(f"/api/v1/vms/{vm_id}", headers=headers).json()["vm_state"] == "running"
    r = client.delete(f"/api/v1/vms/{vm_id}", headers=headers)
    assert wait_op(client, headers, r.json()["operation"]["id"])["state"] == "succeeded"
    assert client.get(f"/api/v1/vms/{vm_id}", headers=headers).json()["vm_state"] == "deleted"
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
