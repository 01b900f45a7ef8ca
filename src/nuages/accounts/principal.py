"""The authenticated caller of a request, and the checks every service applies."""

from __future__ import annotations

from dataclasses import dataclass

from nuages.accounts.roles import CLIENT_ROLES, ROLE_SCOPES, STAFF_ROLES, Role, Scope
from nuages.history.service import Actor
from nuages.kernel.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Principal:
    """A user acting through a token (or the CLI, as staff)."""

    user_id: str
    email: str
    role: Role
    client_id: str | None
    scopes: frozenset[Scope]
    token_id: str | None = None

    @classmethod
    def staff(cls, name: str, email: str | None = None) -> Principal:
        """The provider acting by itself (a job, a slice's automation, the command line)
        with every staff permission; the history names it ``name``."""
        return cls(
            user_id=name[:36],
            email=email or name,
            role=Role.PROVIDER_ADMIN,
            client_id=None,
            scopes=frozenset(Scope),
        )

    @classmethod
    def operator(cls) -> Principal:
        """The operator at the console: staff, named by the login (``cli:<user>``) so the
        history says who ran the command."""
        import getpass

        user = getpass.getuser()
        return cls.staff(f"cli:{user}")

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_client_user(self) -> bool:
        return self.role in CLIENT_ROLES

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.email)

    def has(self, scope: Scope) -> bool:
        """The role allows the scope and the token carries it."""
        return scope in self.scopes and scope in ROLE_SCOPES[self.role]

    def require(self, scope: Scope) -> None:
        """Refuse with 403 unless the caller may use ``scope``."""
        if not self.has(scope):
            # Scope(…): slices below accounts (history) name a scope by its value.
            raise Forbidden(f"this action needs the '{Scope(scope).value}' permission")

    def can_see_client(self, client_id: str | None) -> bool:
        """Staff see every client; client users only their own."""
        return self.is_staff or (client_id is not None and client_id == self.client_id)

    def check_client(self, client_id: str | None, what: str = "object") -> None:
        """Answer 404 (never 403) for another client's object: its existence is not ours
        to reveal."""
        if not self.can_see_client(client_id):
            raise NotFound(f"no such {what}")
