"""The VM console (002 §3 "console directe"; issue 14.3): single-use, short-lived tokens
for those who may operate the VM, the WebSocket bridge, the page. One real guest (``-m
vm``) has a command typed through the WebSocket and its output read back; the same guest
gives the metrics collector real counters."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from nuages.accounts.roles import Role
from nuages.compute.console.models import ConsoleTicket
from nuages.compute.metrics import collect
from nuages.compute.metrics.models import VmMetricMinute
from nuages.compute.models import Vm
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from tests.compute.conftest import wait_for_ssh
from tests.compute.test_reconcile import running_vm
from tests.compute.test_vm_e2e import E2E, e2e  # noqa: F401
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.conftest import GUEST_ONCE
from tests.factories import World


def _setup(cw: ComputeWorld, client: TestClient) -> tuple[str, str]:
    """A running VM on a simulated host; the app uses the test's runtime (the test
    driver keeps one state per connection)."""
    vm_id, _owner, _host = running_vm(cw)
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        return vm_id, vm.client_id


def _ws_path(url: str) -> str:
    return url[url.index("/api/v1/console/ws") :]


def test_console_token_only_for_those_who_operate_the_vm(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """Owners get a token (stored hashed, expiring in 60 s); a guest is refused (403),
    another client's owner does not see the VM (404), nor does a member it was not
    given to; a stopped VM has no console (409)."""
    vm_id, client_id = _setup(cw, client)
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.post(f"/api/v1/vms/{vm_id}/console", json={"kind": "serial"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["url"].startswith("ws://") and "/api/v1/console/ws?token=nuc_" in body["url"]
    assert body["page_url"].startswith("/console#kind=serial&token=nuc_")
    with cw.database.unit() as session:
        (ticket,) = session.execute(select(ConsoleTicket)).scalars()
        assert body["token"] not in ticket.token_hash and len(ticket.token_hash) == 64
        assert ticket.expires_at - ticket.created_at == dt.timedelta(seconds=60)
    guest = world.user(Role.GUEST, client_id)
    r = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=guest.headers)
    assert r.status_code == 403
    other = world.user(Role.CLIENT_OWNER, world.client("Other"))
    r = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=other.headers)
    assert r.status_code == 404
    member = world.user(Role.CLIENT_MEMBER, client_id)
    r = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=member.headers)
    assert r.status_code == 404
    r = client.post(f"/api/v1/vms/{vm_id}/stop", headers=owner.headers)
    assert r.status_code == 202
    cw.run(r.json()["operation"]["id"])
    r = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=owner.headers)
    assert r.status_code == 409 and "running" in r.json()["detail"]


def _closed(client: TestClient, url: str) -> WebSocketDisconnect:
    with client.websocket_connect(_ws_path(url)) as ws, pytest.raises(WebSocketDisconnect) as got:
        ws.receive_bytes()
    return got.value


def test_console_token_reused_or_expired_is_refused_with_a_reason(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    """Issue 14 "Bad input": a token works once. Its first use opens a session (on the
    test driver, which has no console, it ends at once with the driver's reason) and is
    in the VM's history; the same token again, or a token past its 60 s, is refused
    with a close reason saying so."""
    vm_id, client_id = _setup(cw, client)
    owner = world.user(Role.CLIENT_OWNER, client_id)
    url = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=owner.headers).json()["url"]
    first = _closed(client, url)
    assert first.code == 1011 and "console unavailable" in first.reason
    again = _closed(client, url)
    assert (again.code, again.reason) == (
        4403,
        "this console token was already used; ask for a new console",
    )
    late = client.post(f"/api/v1/vms/{vm_id}/console", json={}, headers=owner.headers)
    set_now(utc_now() + dt.timedelta(seconds=61))
    expired = _closed(client, late.json()["url"])
    assert expired.code == 4403 and "expired" in expired.reason
    unknown = _closed(client, "/api/v1/console/ws?token=nuc_forged")
    assert unknown.code == 4403 and "unknown" in unknown.reason
    with cw.database.unit() as session:
        actions = session.execute(
            select(HistoryEntry.action, HistoryEntry.actor_id)
            .where(HistoryEntry.object_id == vm_id, HistoryEntry.action.like("vm.console%"))
            .order_by(HistoryEntry.seq)
        ).all()
    assert [a for a, _who in actions] == ["vm.console.open", "vm.console.close"]
    assert {who for _a, who in actions} == {owner.user_id}


def test_console_page_loads_no_inline_script(client: TestClient) -> None:
    """The page's scripts come from its own origin only (CSP script-src 'self'), and the
    token travels in the URL fragment, never to a server."""
    r = client.get("/console")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert '<script type="module" src="/console/static/console.js"></script>' in r.text
    assert "<script>" not in r.text
    js = client.get("/console/static/console.js")
    assert js.status_code == 200 and "location.hash" in js.text


@pytest.mark.vm
@GUEST_ONCE
def test_serial_console_runs_a_command_and_metrics_read_the_guest(e2e: E2E) -> None:  # noqa: F811
    """A real tiny guest: a command typed through the console WebSocket runs in the
    guest's shell and its output comes back; the collector's two passes over the same
    guest give a CPU % between 0 and 100 and the bytes it read from its disk."""
    accepted = e2e.create("console-1", [])
    vm_id = accepted["vm"]["id"]
    assert e2e.wait(accepted)["state"] == "succeeded"
    wait_for_ssh(e2e.vm(vm_id)["ssh_port"], timeout_s=180)  # booted: the shell is up
    h = e2e.owner.headers
    r = e2e.api.post(f"/api/v1/vms/{vm_id}/console", json={"kind": "serial"}, headers=h)
    assert r.status_code == 201, r.text
    seen = b""
    with e2e.api.websocket_connect(_ws_path(r.json()["url"])) as ws:
        ws.send_bytes(b"\r")
        ws.send_bytes(b"echo nuages-$((6 * 7))\r")
        deadline = time.monotonic() + 60
        while b"nuages-42" not in seen and time.monotonic() < deadline:
            seen += ws.receive_bytes()
    assert b"nuages-42" in seen, seen[-500:]
    # A direct-kernel guest has no graphical display: its VNC console says so.
    r = e2e.api.post(f"/api/v1/vms/{vm_id}/console", json={"kind": "vnc"}, headers=h)
    refused = _closed(e2e.api, r.json()["url"])
    assert refused.code == 4409 and "no graphical display" in refused.reason

    cw = e2e.cw
    t = dt.datetime.now(dt.UTC)
    collect.collect(cw.database, cw.runtime, now=t)
    time.sleep(2)
    report = collect.collect(cw.database, cw.runtime, now=t + dt.timedelta(minutes=1))
    assert report.written >= 1 and report.unreachable == []
    with cw.database.unit() as session:
        rows = list(
            session.execute(
                select(VmMetricMinute)
                .where(VmMetricMinute.vm_id == vm_id)
                .order_by(VmMetricMinute.at)
            ).scalars()
        )
    assert len(rows) == 2
    last = rows[-1]
    assert last.cpu_pct is not None and 0.0 <= last.cpu_pct <= 100.0
    assert last.rd_bytes is not None and last.rd_bytes > 0  # the guest read its disk
    assert last.mem_bytes is not None and last.mem_bytes >= 200 * 1024 * 1024
    print(f"\nreal guest: cpu {last.cpu_pct:.1f} %, read {last.rd_bytes} B, {uuid.UUID(vm_id)}")


@pytest.mark.vm
def test_vnc_display_through_the_driver(system_hypervisor: Any) -> None:
    """A domain with graphics (VNC on a UNIX socket, no TCP port): the driver's console
    channel hands over the display, which greets with the RFB protocol version. The
    domain needs no disk: QEMU's VNC server answers before any guest boots."""
    import threading

    from nuages.compute.hypervisor import DiskBoot, DomainSpec

    vm = uuid.uuid4()
    spec = DomainSpec(
        name=f"nuages-test-vnc-{vm.hex[:8]}", uuid=vm, vcpus=1, memory_mib=64, disk=None,
        boot=DiskBoot(), graphics=True,
    )  # fmt: skip
    system_hypervisor.create(spec)
    try:
        channel = system_hypervisor.open_console(vm, "vnc")
        got: list[bytes] = []
        ready = threading.Event()
        channel.start(lambda data: (got.append(data), ready.set()), lambda _why: ready.set())
        assert ready.wait(30)
        channel.close()
        assert got and got[0].startswith(b"RFB 003.")
    finally:
        system_hypervisor.undefine(vm)
