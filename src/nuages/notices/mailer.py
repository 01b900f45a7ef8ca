"""How notices leave: a ``Mailer`` protocol, an SMTP driver and a file-drop driver.

The settings choose the driver (``mailer_for``): an SMTP URL sends over SMTP (plain,
STARTTLS or implicit TLS, with credentials); without one each message is written as an
``.eml`` file under ``<data_dir>/outbox``. A driver reports what the server answered;
it never decides on retries (``delivery`` does).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from nuages.kernel.settings import Settings


class MailerConfigError(ValueError):
    """NUAGES_SMTP_URL does not name an SMTP server."""


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"  # the server took it (250): sent
    DEFERRED = "deferred"  # try again later: down, slow, 4xx
    REFUSED = "refused"  # 5xx or every recipient refused: failed for good


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: Outcome
    code: int | None = None
    reply: str = ""


class Mailer(Protocol):
    """Hands one message to the next hop."""

    name: str

    def already_sent(self, message_id: str) -> bool:
        """Whether this Message-ID already left through this driver (when it can tell)."""
        ...

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        before_data: Callable[[], None],
        envelope_from: str | None = None,
    ) -> Result:
        """Send; ``before_data`` runs once the envelope is accepted, just before the
        message itself is handed over (the caller records that from there on a crash
        leaves the outcome unknown). ``envelope_from`` is the SMTP ``MAIL FROM`` (the
        notice's own bounce address, VERP); the header ``From`` stays the sender."""
        ...


def _reply(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return text[:400]


@dataclasses.dataclass
class SmtpMailer:
    """SMTP over ``smtp://`` (``?starttls=1`` to upgrade) or ``smtps://`` (TLS)."""

    host: str
    port: int
    sender: str
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    name: str = "smtp"

    @classmethod
    def from_url(cls, url: str, sender: str, timeout: float) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailerConfigError(
                "NUAGES_SMTP_URL must look like smtp://host:587[?starttls=1] or smtps://host:465"
            )
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            sender=sender,
            tls=tls,
            starttls=query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def describe(self) -> str:
        mode = "TLS" if self.tls else ("STARTTLS" if self.starttls else "plain")
        return f"SMTP {self.host}:{self.port} ({mode})"

    def already_sent(self, message_id: str) -> bool:
        return False  # an SMTP server cannot be asked; the outbox's own record decides

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        before_data: Callable[[], None],
        envelope_from: str | None = None,
    ) -> Result:
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                code, reply = smtp.mail(envelope_from or self.sender)
                if code != 250:
                    return _answer(code, reply)
                refused: list[str] = []
                last: tuple[int, bytes] = (0, b"")
                for rcpt in recipients:
                    code, reply = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        refused.append(f"{rcpt}: {code} {_reply(reply)}")
                        last = (code, reply)
                if len(refused) == len(recipients):
                    return _answer(last[0], "; ".join(refused).encode())
                before_data()
                # smtplib fixes line endings of str only: bytes go out as given, so the
                # message is rendered with CRLF (RFC 5321; a bare-LF PDF part is one
                # over-long line to the server).
                code, reply = smtp.data(
                    message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
                )
                if code != 250:
                    return _answer(code, reply)
                note = _reply(reply) + (f"; refused: {'; '.join(refused)}" if refused else "")
                return Result(Outcome.ACCEPTED, code, note[:500])
        except smtplib.SMTPResponseException as exc:
            return _answer(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:  # down, unreachable, timed out
            return Result(Outcome.DEFERRED, None, f"{type(exc).__name__}: {exc}"[:500])


def _answer(code: int, reply: bytes | str) -> Result:
    outcome = Outcome.REFUSED if 500 <= code < 600 else Outcome.DEFERRED
    return Result(outcome, code, _reply(reply))


@dataclasses.dataclass
class FileDropMailer:
    """Each message written to ``<folder>/<Message-ID>.eml`` (atomically: a crash
    leaves no half file, and a file present means sent)."""

    folder: Path
    name: str = "file"

    def describe(self) -> str:
        return f"file drop {self.folder} (set NUAGES_SMTP_URL to send e-mail)"

    def _path(self, message_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-._@" else "_" for c in message_id.strip("<>"))
        return self.folder / f"{safe}.eml"

    def already_sent(self, message_id: str) -> bool:
        return self._path(message_id).exists()

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        before_data: Callable[[], None],
        envelope_from: str | None = None,
    ) -> Result:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(str(message["Message-ID"]))
            before_data()
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(message.as_bytes())
            os.replace(tmp, path)
        except OSError as exc:
            return Result(Outcome.DEFERRED, None, f"{type(exc).__name__}: {exc}"[:500])
        return Result(Outcome.ACCEPTED, None, str(path))


def mailer_for(settings: Settings) -> SmtpMailer | FileDropMailer:
    """The driver the settings name: SMTP when ``NUAGES_SMTP_URL`` is set, else the file drop."""
    if settings.smtp_url:
        return SmtpMailer.from_url(settings.smtp_url, settings.mail_from, settings.smtp_timeout)
    return FileDropMailer(settings.data_dir / "outbox")
