"""Guards applied before any handler runs: the body-size limit (413), NUL bytes, JSON
bodies with duplicate keys (422) and the admission limit (503 when saturated)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nuages.kernel.errors import PROBLEM_BASE


def _has_nul(scope: Scope) -> bool:
    """PostgreSQL text cannot hold NUL: refuse it in the path or query string."""
    query = scope.get("query_string", b"")
    path = scope.get("path", "")
    return b"%00" in query or b"\x00" in query or "\x00" in path


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with a 413 problem document.

    The declared Content-Length is checked first; a chunked body is counted as it
    streams, so a client cannot slip past the limit by omitting the header. ``larger``
    gives some paths a limit of their own (bank statements: ``max_statement_bytes``).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            await self._send_problem(
                scope,
                send,
                422,
                "validation-failed",
                "The input is not valid",
                "the URL may not contain NUL characters",
            )
            return
        limit = self.larger.get(scope.get("path", "").rstrip("/"), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(scope, send, limit)
                    return
        seen = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            # 17.9: a chunked body is counted as it streams; past the limit the 413 is
            # sent here, and the app is told the client went away, so nothing it
            # answers (a 400 "error parsing the body") reaches the client.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await self._refuse(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        await self._send_problem(
            scope,
            send,
            413,
            "body-too-large",
            "Request body too large",
            f"the body exceeds {limit} bytes",
        )

    async def _send_problem(
        self, scope: Scope, send: Send, status: int, slug: str, title: str, detail: str
    ) -> None:
        await send_problem(scope, send, status, slug, title, detail)


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> None:
    """Answer with a problem document straight from ASGI (before any router ran)."""
    body = json.dumps(
        {
            "type": PROBLEM_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            **extra,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _is_json(scope: Scope) -> bool:
    # FastAPI reads a body without a Content-Type as JSON too.
    if scope.get("method") in {"GET", "HEAD"}:
        return False
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


class DuplicateKeysMiddleware:
    """Refuse a JSON body in which an object names the same key twice (17.9): which of
    the two values counts is up to the parser, so the request is ambiguous.

    The body (already bounded by BodyLimitMiddleware, outside this one) is read, checked
    and handed on unchanged; a body that is not JSON at all is left to the route's own
    validation (422).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away (or the body was too large: answered)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            json.loads(body, object_pairs_hook=_refuse_duplicates)
        except _DuplicateKey as exc:
            await send_problem(
                scope,
                send,
                422,
                "validation-failed",
                "The input is not valid",
                f"body: the key '{exc.key}' appears twice in one object",
                errors=[
                    {
                        "loc": ["body", exc.key],
                        "msg": "the key appears twice in one object",
                        "type": "duplicate_key",
                    }
                ],
            )
            return
        except ValueError:
            pass
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class AdmissionMiddleware:
    """Let at most ``max_in_flight`` requests run at once; the others wait in line, and
    one that waited ``queue_timeout`` seconds gets 503 with ``Retry-After`` (17.1).

    Admitting no more requests than the pool has connections is what keeps a burst
    from stalling the API: each admitted request gets a connection without waiting,
    and no worker thread sits on a pool checkout while the request holding the
    connection waits for a thread. A refused request did no work at all.
    """

    def __init__(
        self, app: ASGIApp, max_in_flight: int, queue_timeout: float, retry_after: int
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_timeout = queue_timeout
        self.retry_after = retry_after
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # One semaphore per event loop (test clients may start several loops).
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.max_in_flight))
        return self._slots[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slots = self._semaphore()
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self.queue_timeout)
        except TimeoutError:
            await send_problem(
                scope,
                send,
                503,
                "unavailable",
                "Service unavailable",
                "the server is busy; retry after the delay in Retry-After",
                headers=[(b"retry-after", str(self.retry_after).encode())],
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
