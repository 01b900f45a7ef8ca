"""Business errors: exception classes that carry their HTTP status and read as sentences.

The API turns them into RFC 9457 problem documents whose ``type`` is stable:
``https://nuages.dev/problems/<slug>``.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://nuages.dev/problems/"


class NuagesError(Exception):
    """Base of every error a caller can act on."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class ValidationFailed(NuagesError):
    """The input does not meet the rules."""

    status = 422
    slug = "validation-failed"
    title = "The input is not valid"


class NotFound(NuagesError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Unauthenticated(NuagesError):
    """No valid credentials were presented."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(NuagesError):
    """The caller is known but may not do this."""

    status = 403
    slug = "forbidden"
    title = "Not allowed"


class Conflict(NuagesError):
    """The request clashes with the current state of the object."""

    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class InvalidTransition(Conflict):
    """The object's state does not allow this action now."""

    slug = "invalid-transition"
    title = "Not allowed in the current state"


class AlreadyExists(Conflict):
    """An object with the same identity already exists."""

    slug = "already-exists"
    title = "Already exists"


class CapacityExhausted(NuagesError):
    """No host, address or slot is left for the request."""

    status = 409
    slug = "capacity-exhausted"
    title = "No capacity left"


class PaymentRequired(NuagesError):
    """The account must be funded before this can happen."""

    status = 402
    slug = "payment-required"
    title = "Payment required"
