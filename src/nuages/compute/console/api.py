"""The console edge (issue 14.3): ``POST /vms/{id}/console`` gives a single-use token,
the WebSocket ``/api/v1/console/ws?token=…`` bridges it to the VM's serial console or
VNC display, and ``/console`` is the page (xterm.js, noVNC) that uses both.

Close codes the browser sees (with a sentence as the reason): 4403 the token cannot be
used (unknown, already used, expired, VM no longer running), 4409 the console is not
there (VM stopped, no graphics), 1011 the hypervisor failed, 1000 the session ended.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any, Literal, cast

from fastapi import APIRouter, FastAPI, Request, WebSocket, status
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.compute.api import runtime as compute_runtime
from nuages.compute.console import service
from nuages.compute.hypervisor import ConsoleChannel
from nuages.kernel.errors import InvalidTransition, NuagesError
from nuages.kernel.validation import Strict

log = logging.getLogger("nuages.compute.console")
router = APIRouter(tags=["compute"])
WS_PATH = "/api/v1/console/ws"
STATIC = Path(__file__).resolve().parent / "static"
# The npm packages the page loads (assets/console/package.json), served under /console/vendor.
VENDOR = {
    "xterm": "@xterm/xterm",
    "addon-fit": "@xterm/addon-fit",
    "novnc": "@novnc/novnc",
}
# Scripts only from this origin (no inline script). Styles: xterm.js writes its theme
# into a <style> element it creates, hence 'unsafe-inline' for styles (never scripts).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self' {ws}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_REASON_BYTES = 120  # a WebSocket close reason holds at most 123 bytes


class ConsoleRequest(Strict):
    """Which console: ``serial`` (every VM) or ``vnc`` (VMs with a graphical display)."""

    kind: Literal["serial", "vnc"] = "serial"

    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "serial"}]})


class ConsoleTicketOut(BaseModel):
    """Where to connect, with a token usable once before ``expires_at``."""

    kind: str
    url: str
    token: str
    expires_at: Any
    page_url: str


def _ws_base(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    return "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]


@router.post(
    "/api/v1/vms/{vm_id}/console",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsoleTicketOut,
)
def open_console(
    vm_id: str, body: ConsoleRequest, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """A single-use token (valid 60 s) to open the VM's console over a WebSocket
    (002 §3 "console directe"): owners, members given the VM, and staff; not guests."""
    ttl = request.app.state.settings.console_ticket_seconds
    ticket, token = service.issue(session, principal, vm_id, body.kind, ttl)
    return ConsoleTicketOut(
        kind=ticket.kind,
        url=f"{_ws_base(request)}{WS_PATH}?token={token}",
        token=token,
        expires_at=ticket.expires_at,
        page_url=f"/console#kind={ticket.kind}&token={token}",
    )


def _reason(text: str) -> str:
    data = text.encode()[:_REASON_BYTES]
    return data.decode(errors="ignore")


@router.websocket(WS_PATH)
async def console_stream(websocket: WebSocket, token: str = "") -> None:
    """Bridge the WebSocket to the console the token opens (see the module)."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="binary" if "binary" in offered else None)
    app = websocket.app
    database = app.state.database
    try:
        done = await run_in_threadpool(_redeem, database, token)
    except NuagesError as exc:
        await websocket.close(code=4403, reason=_reason(exc.detail))
        return
    try:
        channel = await run_in_threadpool(_open, websocket, done)
    except InvalidTransition as exc:
        await _end(websocket, database, done, 4409, exc.detail, 0, 0)
        return
    except NuagesError as exc:
        await _end(websocket, database, done, 1011, f"console unavailable: {exc.detail}", 0, 0)
        return
    code, reason, sent, received = await _bridge(websocket, channel)
    await _end(websocket, database, done, code, reason, sent, received)


def _redeem(database: Any, token: str) -> service.Redeemed:
    with database.unit() as session:
        return service.redeem(session, token)


def _open(websocket: WebSocket, done: service.Redeemed) -> ConsoleChannel:
    # The same runtime (one libvirt connection per host) as the REST endpoints.
    runtime = compute_runtime(cast(Request, websocket))
    return runtime.hypervisor(done.uri).open_console(uuid.UUID(done.vm_id), done.kind)


async def _bridge(websocket: WebSocket, channel: ConsoleChannel) -> tuple[int, str, int, int]:
    """Copy both ways until either side ends; returns (close code, reason, bytes to the
    VM, bytes from it)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | str] = asyncio.Queue()
    counts = [0, 0]

    def on_data(data: bytes) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, data)

    def on_close(reason: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, reason)

    async def from_vm() -> tuple[int, str]:
        while True:
            item = await queue.get()
            if isinstance(item, str):
                return 1000, item
            counts[1] += len(item)
            await websocket.send_bytes(item)

    async def to_vm() -> tuple[int, str]:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return 1000, "the browser closed the console"
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            if data:
                counts[0] += len(data)
                await run_in_threadpool(channel.send, data)

    channel.start(on_data, on_close)
    tasks = [asyncio.create_task(from_vm()), asyncio.create_task(to_vm())]
    try:
        finished, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        first = finished.pop()
        try:
            code, reason = first.result()
        except WebSocketDisconnect:
            code, reason = 1000, "the browser closed the console"
        except NuagesError as exc:
            code, reason = 1011, exc.detail
    finally:
        channel.close()
    return code, reason, counts[0], counts[1]


async def _end(
    websocket: WebSocket,
    database: Any,
    done: service.Redeemed,
    code: int,
    reason: str,
    sent: int,
    received: int,
) -> None:
    def record() -> None:
        with database.unit() as session:
            service.close(session, done, reason, sent, received)

    try:
        await run_in_threadpool(record)
    except Exception:  # the session's end is worth a log line, not a crash
        log.exception("could not record the end of console session %s", done.ticket_id)
    if websocket.client_state == WebSocketState.CONNECTED:
        try:
            await websocket.close(code=code, reason=_reason(reason))
        except RuntimeError:
            pass  # the browser went first


@router.get("/console", include_in_schema=False)
def console_page(request: Request) -> FileResponse:
    """The console page: it reads its token from the URL fragment (never sent to a
    server, so never in a log) and opens the WebSocket with it."""
    host = request.url.netloc
    response = FileResponse(STATIC / "console.html", media_type="text/html")
    response.headers["Content-Security-Policy"] = CSP.format(ws=f"ws://{host} wss://{host}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def assets_root(settings: Any) -> Path:
    """Where ``assets/console/node_modules`` is (``NUAGES_ASSETS_DIR``, else the checkout)."""
    configured = getattr(settings, "assets_dir", None)
    if configured is not None:
        return Path(configured)
    return Path(__file__).resolve().parents[4] / "assets"


def install(app: FastAPI) -> None:
    """Serve the page's own files and its npm packages (``npm ci`` in assets/console)."""
    modules = assets_root(app.state.settings) / "console" / "node_modules"
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    for name, package in VENDOR.items():
        app.mount(
            f"/console/vendor/{name}",
            StaticFiles(directory=modules / package, check_dir=False),
            name=f"console-{name}",
        )
