"""What never reaches the append-only history in clear: secrets by key, and secrets by
shape inside free text (IBANs, card numbers, API tokens, passwords).

A refused request stores its error detail; a caller who typed a full IBAN or a card
number into the wrong field must not find it, forever, in a history other users read.
Redaction happens before hashing, so the chain covers what is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SECRET_KEYS = ("password", "token", "secret", "private_key", "iban_secret", "authorization")
REDACTED = "[redacted]"

# An IBAN: country, check digits, 11 to 30 letters or digits, compact or in groups of
# four (as printed on a RIB). Anything of that shape goes, checksum or not: a mistyped
# IBAN is still someone's bank account.
_IBAN = re.compile(
    r"\b[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)\b"
)
# A payment card number: 13 to 19 digits, optionally grouped by spaces or hyphens,
# redacted when the Luhn checksum holds (long references rarely pass it by chance).
# Never inside a longer word such as a UUID ("84a84556-9729-4468-…" holds 13 digits
# that pass Luhn): no letter, digit or hyphen just before, no letter or digit (or a
# hyphen and one) just after.
_CARD = re.compile(r"(?<![0-9A-Za-z-])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])(?!-[0-9A-Za-z])")
# API tokens of this platform and bearer credentials of any kind.
_TOKEN = re.compile(r"\bnua_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# "password=…", "secret: …", "token …" in messages.
_KEYED = re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)(\s*[=:]\s*)(\S+)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban(match: re.Match[str]) -> str:
    text = match.group(0)
    compact = text.replace(" ", "")
    # Words and hex digests are not IBANs: an IBAN's body is mostly digits (GB, NL and
    # the like carry a four-letter bank code; the rest is digits).
    body = compact[4:]
    if sum(c.isdigit() for c in body) * 2 < len(body):
        return text
    return "[redacted IBAN]"


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    return "[redacted card number]" if _luhn_ok(digits) else text


def _keyed(match: re.Match[str]) -> str:
    if match.group(3).startswith("[redacted"):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def redact_text(text: str) -> str:
    """The text with anything shaped like a secret replaced by a marker."""
    text = _TOKEN.sub("[redacted token]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEYED.sub(_keyed, text)
    text = _IBAN.sub(_iban, text)
    return _CARD.sub(_card, text)


def redact(value: Any) -> Any:
    """Replace the value of every key that names a secret, at any depth, and secrets by
    shape inside every string."""
    if isinstance(value, Mapping):
        return {
            str(key): (
                REDACTED if any(s in str(key).lower() for s in SECRET_KEYS) else redact(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
