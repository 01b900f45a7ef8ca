"""Roles and token scopes: who may do what (SPEC §1).

A request is allowed when the user's role grants the scope *and* the token carries it.
Provider staff see every client; client users see only their own client's objects.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The kinds of user (SPEC §1; 000 §1, §4, §5; 004 §1, §6.2)."""

    PROVIDER_ADMIN = "provider_admin"
    PROVIDER_OPERATOR = "provider_operator"
    CLIENT_OWNER = "client_owner"  # the "Responsable" (000 §1)
    CLIENT_MEMBER = "client_member"  # a sub-responsable: operates the VMs given to them (000 §5)
    GUEST = "guest"  # an "Invité", read-only, invited by an owner (004 §1, §6.2)


class Scope(StrEnum):
    """What a token may be used for."""

    READ = "read"
    WRITE = "write"
    BILLING = "billing"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.PROVIDER_ADMIN, Role.PROVIDER_OPERATOR})
CLIENT_ROLES = frozenset({Role.CLIENT_OWNER, Role.CLIENT_MEMBER, Role.GUEST})

# The scopes each role can ever exercise; a token's scopes are clipped to these.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.PROVIDER_ADMIN: frozenset(Scope),
    Role.PROVIDER_OPERATOR: frozenset({Scope.READ, Scope.WRITE, Scope.BILLING}),
    Role.CLIENT_OWNER: frozenset({Scope.READ, Scope.WRITE, Scope.BILLING}),
    # A member operates VMs but never sees billing (000 §5: narrower rights).
    Role.CLIENT_MEMBER: frozenset({Scope.READ, Scope.WRITE}),
    Role.GUEST: frozenset({Scope.READ}),
}

# Which roles a client owner may hand out inside their own client.
OWNER_ASSIGNABLE = frozenset({Role.CLIENT_OWNER, Role.CLIENT_MEMBER, Role.GUEST})


def parse_scopes(text: str) -> frozenset[Scope]:
    """Parse a space- or comma-separated scope list, refusing unknown names."""
    names = [part for part in text.replace(",", " ").split() if part]
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError as exc:
        raise ValueError(
            f"unknown scope in {text!r}; expected read, write, billing, admin"
        ) from exc


def format_scopes(scopes: frozenset[Scope]) -> str:
    """Store scopes as a stable, sorted, space-separated string."""
    return " ".join(sorted(scope.value for scope in scopes))
