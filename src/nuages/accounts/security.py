"""Passwords (argon2id) and API tokens (random, prefixed, stored as digests)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "nua_"  # noqa: S105 - a public marker, not a secret
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the stored argon2 hash."""
    if not stored:
        # Spend the same time as a real check, so timing does not reveal unknown users.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password(length: int = 24) -> str:
    """A random password for a first admin."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_token() -> tuple[str, str, str]:
    """Return (full token shown once, lookup part, digest to store).

    Format ``nua_<lookup 12>_<secret 43>``: the prefix makes leaked tokens recognisable
    to secret scanners; the lookup part finds the row.
    """
    lookup = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    token = f"{TOKEN_PREFIX}{lookup}_{secret}"
    return token, lookup, token_digest(token)


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a whole token."""
    return hashlib.sha256(token.encode()).hexdigest()


def split_token(token: str) -> str | None:
    """Return the lookup part of a well-formed token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    rest = token[len(TOKEN_PREFIX) :]
    lookup, sep, secret = rest.partition("_")
    if not sep or len(lookup) != 12 or not secret:
        return None
    return lookup


def digests_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two digests."""
    return hmac.compare_digest(a, b)
