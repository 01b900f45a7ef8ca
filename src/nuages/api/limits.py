"""Guards applied before any handler runs: the body-size limit (413) and NUL bytes."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nuages.kernel.errors import PROBLEM_BASE


def _has_nul(scope: Scope) -> bool:
    """PostgreSQL text cannot hold NUL: refuse it in the path or query string."""
    query = scope.get("query_string", b"")
    path = scope.get("path", "")
    return b"%00" in query or b"\x00" in query or "\x00" in path


class BodyTooLarge(Exception):
    """Raised while streaming a body past the limit."""


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with a 413 problem document.

    The declared Content-Length is checked first; a chunked body is counted as it
    streams, so a client cannot slip past the limit by omitting the header.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await self._refuse(scope, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await self._send_problem(
            scope,
            send,
            413,
            "body-too-large",
            "Request body too large",
            f"the body exceeds {self.max_bytes} bytes",
        )

    async def _send_problem(
        self, scope: Scope, send: Send, status: int, slug: str, title: str, detail: str
    ) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_BASE + slug,
                "title": title,
                "status": status,
                "detail": detail,
                "instance": scope.get("path", ""),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
