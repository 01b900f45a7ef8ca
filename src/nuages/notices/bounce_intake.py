"""Where bounces come in (docs/notices.md "Bounces"): an SMTP listener the provider's MX
forwards the bounce domain to, and a Maildir the provider's MTA delivers into, read by
the worker each minute. Both hand each message to ``bounces.intake``.

The listener (aiosmtpd) accepts mail only for ``bounces@`` / ``bounces+…@`` the bounce
domain (anything else: 550, it relays nothing), binds only a loopback or private
address (it is no public MX), answers 250 once the message is recorded and 451 when the
database failed (the MX keeps it and retries). The Maildir reader removes a message
only after it is recorded; a crash in between reads it again, recorded once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import mailbox
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.bounces import intake
from nuages.notices.dsn import is_bounce_address

log = logging.getLogger("nuages.notices.bounces")
DATA_LIMIT = 10 * 1024 * 1024
# Where the listener may bind: loopback and the LAN ranges (RFC 1918, RFC 4193 unique
# local, link-local). Not ``is_private``: it also counts documentation ranges.
LAN = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10")
)


class ListenError(ValueError):
    """The listen address is not ``host:port`` on a loopback or private address."""


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:2525`` / ``[::1]:2525`` / ``10.0.0.5:25``: refused when public."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError as exc:
        raise ListenError(
            f"bounce listen address {text!r}: expected host:port with an IP address"
        ) from exc
    if not sep or not 0 < number < 65536:
        raise ListenError(f"bounce listen address {text!r}: port 1-65535")
    if not (address.is_loopback or any(address in net for net in LAN)):
        raise ListenError(
            f"bounce listen address {text!r} is public: bind loopback or a private (LAN) "
            "address and let the provider's MX forward the bounce domain to it"
        )
    return host, number


class BounceHandler:
    """aiosmtpd handler: bounce addresses only; each message recorded before the 250."""

    def __init__(self, database: Database, domain: str) -> None:
        self.database = database
        self.domain = domain

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not is_bounce_address(address, self.domain):
            return f"550 5.1.1 <{address}>: this server takes bounces for {self.domain} only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: intake(
                    self.database,
                    raw,
                    domain=self.domain,
                    source="smtp",
                    envelope_rcpts=tuple(envelope.rcpt_tos),
                ),
            )
        except Exception:  # the database: the MX keeps the message and retries
            log.exception("bounce not recorded; answering 451")
            return "451 4.3.0 not recorded now, try again later"
        log.info("bounce %s: notice %s %s", result.outcome, result.notice_id, result.detail)
        return f"250 2.0.0 recorded ({result.outcome})"


def listener(database: Database, settings: Settings, listen: str | None = None) -> Controller:
    """The bounce listener, not started (``.start()`` / ``.stop()``)."""
    host, port = parse_listen(listen or settings.bounce_listen)
    handler = BounceHandler(database, settings.effective_bounce_domain)
    return Controller(handler, hostname=host, port=port, data_size_limit=DATA_LIMIT)


@dataclasses.dataclass
class MaildirReport:
    read: int = 0
    matched: int = 0
    unknown: int = 0
    duplicate: int = 0
    errors: int = 0


def read_maildir(database: Database, settings: Settings, path: Path | None = None) -> MaildirReport:
    """Record every message of the Maildir (``new/`` and ``cur/``), removing each once
    recorded. A missing folder is an error the caller reports."""
    folder = path or settings.bounce_maildir
    if folder is None:
        raise FileNotFoundError("no Maildir: set NUAGES_BOUNCE_MAILDIR or pass --path")
    if not (Path(folder) / "new").is_dir() or not (Path(folder) / "cur").is_dir():
        raise FileNotFoundError(f"{folder} is not a Maildir (no new/ and cur/)")
    box = mailbox.Maildir(str(folder), factory=None, create=False)
    report = MaildirReport()
    for key in sorted(box.keys()):
        try:
            raw = box.get_bytes(key)
        except (KeyError, OSError):  # removed meanwhile by another reader
            continue
        report.read += 1
        try:
            result = intake(
                database, raw, domain=settings.effective_bounce_domain, source="maildir"
            )
        except Exception:
            log.exception("bounce %s not recorded; kept for the next run", key)
            report.errors += 1
            continue
        if result.outcome == "matched":
            report.matched += 1
        elif result.outcome == "duplicate":
            report.duplicate += 1
        else:
            report.unknown += 1
        try:
            box.remove(key)
        except (KeyError, OSError):
            pass
    return report
