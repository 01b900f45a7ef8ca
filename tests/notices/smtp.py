"""A real SMTP server on loopback (aiosmtpd) that records what it accepted, and can be
told to answer 4xx/5xx, refuse a recipient, be slow, or be stopped and restarted."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse_rcpt: dict[str, str] = {}  # address -> reply, e.g. "550 no such user"
        self.data_reply: str | None = None  # e.g. "451 try later", "554 rejected"
        self.data_delay = 0.0
        # A hung server: once this many messages are in, RCPT (or DATA) waits on the gate.
        self.hang_after: int | None = None
        self.hang_in = "rcpt"
        self.gate = threading.Event()
        self.hung = threading.Event()
        self.lock = threading.Lock()

    async def _hang(self) -> None:
        if self.hang_after is not None and len(self.received) >= self.hang_after:
            self.hung.set()
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 60)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.hang_in == "rcpt":
            await self._hang()
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hang_in == "data":
            await self._hang()
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """One loopback server; ``stop()``/``start()`` keep the port and what was received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Handler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, data_size_limit=50_000_000
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def message_ids(self) -> list[str]:
        return [str(r.message["Message-ID"]) for r in self.received]
