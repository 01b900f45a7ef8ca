"""Reading a bounce: a delivery status notification (RFC 3464 ``multipart/report;
report-type=delivery-status``) as Postfix, Exim or a provider's MTA writes it, with the
standard library's ``email`` only. Pure: no database, never raises on bad input.

What identifies the notice, best first:

1. the **VERP token**: every notice leaves with its own envelope sender
   ``bounces+<notice id>@<bounce domain>`` (``verp_address``), so the bounce comes back
   *to* that address: the SMTP listener sees it as the envelope recipient, a Maildir
   delivery as ``X-Original-To`` / ``Delivered-To`` / ``To``. It survives a DSN whose
   body is mangled or truncated;
2. the returned headers' ``Message-ID`` (``text/rfc822-headers`` or ``message/rfc822``
   part), the notice's Message-ID (``<notice id@mail-from domain>``);
3. the returned ``X-Nuages-Notice`` header.

Per recipient (``message/delivery-status`` blocks after the per-message one):
``Final-Recipient`` (else ``Original-Recipient``), ``Action`` (failed, delayed,
delivered, relayed, expanded), ``Status`` (5.x.x permanent, 4.x.x transient),
``Diagnostic-Code``, ``Remote-MTA``. A report without a readable delivery-status part
but with a token is scanned for an enhanced status code (``guessed``): a provider's
bounce must not be lost because a gateway re-encoded it.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import re
from collections.abc import Sequence
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser

LOCAL = "bounces"
TOKEN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
NOTICE_HEADER = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


def verp_address(notice_id: str, domain: str) -> str:
    """The envelope sender of one notice: its bounces come back to it."""
    return f"{LOCAL}+{notice_id}@{domain}"


def token_of(address: str, domain: str) -> str | None:
    """The notice id in ``bounces+<id>@<domain>`` (angle brackets and case ignored), or
    None for any other address."""
    address = address.strip().strip("<>").strip()
    local, _, host = address.rpartition("@")
    if host.lower() != domain.lower():
        return None
    base, plus, token = local.partition("+")
    token = token.lower()
    if base.lower() != LOCAL or not plus or not TOKEN.match(token):
        return None
    return token


def is_bounce_address(address: str, domain: str) -> bool:
    """An address the bounce listener accepts mail for: ``bounces@`` or a VERP one."""
    address = address.strip().strip("<>").strip()
    local, _, host = address.rpartition("@")
    return host.lower() == domain.lower() and local.lower().partition("+")[0] == LOCAL


@dataclasses.dataclass(frozen=True)
class Recipient:
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded | "" (unknown)
    status: str  # "5.1.1", "4.4.1", or "" when absent
    diagnostic: str
    remote_mta: str = ""
    guessed: bool = False  # read from free text, no delivery-status part

    @property
    def permanent(self) -> bool:
        """RFC 3464: ``failed`` is final whatever the status class (a 4.4.7 "delivery
        time expired" gave up too); without an action, a 5.x.x status is."""
        if self.action:
            return self.action == "failed"
        return self.status.startswith("5.")


@dataclasses.dataclass(frozen=True)
class Report:
    dsn_id: str  # the DSN's own Message-ID, else a hash of its bytes: the duplicate key
    tokens: tuple[str, ...]
    original_message_id: str
    notice_header: str
    reporting_mta: str
    recipients: tuple[Recipient, ...]
    problem: str = ""  # why it is not a readable DSN ("" when it is)
    subject: str = ""
    sender: str = ""


def _clean(value: object) -> str:
    return " ".join(str(value or "").split())[:1000]


def _typed(value: object) -> str:
    """``rfc822; user@example.org`` → ``user@example.org`` (``smtp; 550 …`` → ``550 …``)."""
    text = _clean(value)
    kind, sep, rest = text.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else text


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return list(payload)
    # Not parsed into blocks (a gateway changed the type or encoding): split it here.
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload or "")
    chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(chunk) for chunk in chunks if chunk.strip()]


def _returned_headers(msg: Message) -> Message | None:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return BytesHeaderParser().parsebytes(raw)
    return None


def _text(msg: Message) -> str:
    out = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                out.append(raw.decode("utf-8", "replace"))
    return "\n".join(out)


def _guess(msg: Message) -> tuple[Recipient, ...]:
    """No delivery-status part: the first enhanced status code of the text, with its
    line as the diagnostic (recipient unknown: "" means the notice's recipients)."""
    for line in _text(msg).splitlines():
        found = STATUS.search(line)
        if found and found.group(1) in "45":
            status = ".".join(found.groups())
            action = "failed" if status.startswith("5.") else "delayed"
            return (Recipient("", action, status, _clean(line)[:500], guessed=True),)
    return ()


def _tokens(msg: Message, envelope: Sequence[str], domain: str) -> tuple[str, ...]:
    seen: list[str] = []
    headers = [
        str(v) for name in ("X-Original-To", "Delivered-To", "To") for v in msg.get_all(name) or []
    ]
    for address in [*envelope, *headers]:
        for piece in address.split(","):
            token = token_of(piece, domain)
            if token and token not in seen:
                seen.append(token)
    return tuple(seen)


def parse(raw: bytes, *, envelope_rcpts: Sequence[str] = (), domain: str) -> Report:
    """Read one bounce message; a message that is no DSN gives a report with ``problem``
    set (and whatever could be read), never an exception."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # the parser is lenient; this is belt and braces
        return Report(digest, (), "", "", "", (), problem=f"not an e-mail: {exc}"[:300])
    try:
        return _parse(msg, digest, envelope_rcpts, domain)
    except Exception as exc:  # a hostile message must never stop the intake
        tokens: tuple[str, ...] = ()
        try:
            tokens = _tokens(msg, envelope_rcpts, domain)
        except Exception:  # the report says it is unreadable already
            tokens = ()
        return Report(digest, tokens, "", "", "", (), problem=f"unreadable: {exc}"[:300])


def _parse(msg: Message, digest: str, envelope: Sequence[str], domain: str) -> Report:
    own_id = _clean(msg.get("Message-ID"))
    dsn_id = f"mid:{own_id}" if own_id else digest
    tokens = _tokens(msg, envelope, domain)
    returned = _returned_headers(msg)
    original = _clean(returned.get("Message-ID")) if returned is not None else ""
    notice_header = ""
    if returned is not None and returned.get("X-Nuages-Notice"):
        found = NOTICE_HEADER.search(str(returned.get("X-Nuages-Notice")))
        notice_header = found.group(1) if found else ""
    status_part = next(
        (p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    reporting, recipients, problem = "", [], ""
    if status_part is not None:
        blocks = _blocks(status_part)
        if blocks:
            reporting = _typed(blocks[0].get("Reporting-MTA"))
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            rcpt = _typed(block.get("Final-Recipient") or block.get("Original-Recipient"))
            action = _clean(block.get("Action")).lower().split(" ")[0]
            status = _clean(block.get("Status"))
            found = STATUS.search(status)
            status = ".".join(found.groups()) if found else ""
            if not rcpt and not action and not status:
                continue
            recipients.append(
                Recipient(
                    recipient=rcpt.strip("<>").lower(),
                    action=action if action in ACTIONS else "",
                    status=status,
                    diagnostic=_typed(block.get("Diagnostic-Code"))[:500],
                    remote_mta=_typed(block.get("Remote-MTA"))[:200],
                )
            )
    if not recipients:
        problem = (
            "no per-recipient block in its delivery-status part"
            if status_part is not None
            else "not a delivery status notification (no message/delivery-status part)"
        )
        recipients = list(_guess(msg)) if (tokens or original or notice_header) else []
    return Report(
        dsn_id=dsn_id[:300],
        tokens=tokens,
        original_message_id=original[:200],
        notice_header=notice_header,
        reporting_mta=reporting[:200],
        recipients=tuple(recipients),
        problem=problem,
        subject=_clean(msg.get("Subject"))[:300],
        sender=_clean(msg.get("From"))[:300],
    )
