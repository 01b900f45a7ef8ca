"""Factories: clients and users of every role, built through the real services."""

from __future__ import annotations

from dataclasses import dataclass

from nuages.accounts import service
from nuages.accounts.models import Client, User
from nuages.accounts.roles import Role, Scope
from nuages.accounts.security import hash_password
from nuages.kernel.db import Database


@dataclass
class Actor:
    """A user of the app with a ready bearer header."""

    user_id: str
    client_id: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# A postal address per country (EN 16931 BT-50..53): invoices are refused without one.
ADDRESSES = {
    "FR": ("1 rue du Test", "75001", "Paris"),
    "BE": ("Rue du Test 1", "1000", "Bruxelles"),
    "DE": ("Teststraße 1", "10115", "Berlin"),
}


def address_columns(country: str, address: tuple[str, str, str] | None = None) -> dict[str, str]:
    """The ``clients`` address columns of a test client of ``country``."""
    line1, postcode, city = address or ADDRESSES.get(country, ("1 Test Street", "1000", "Test"))
    return {"address_line1": line1, "postcode": postcode, "city": city}


class World:
    """Builds clients and users through the real services (factories, not raw rows)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._n = 0

    def _email(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}@example.com"

    def admin(self) -> Actor:
        with self.database.unit() as session:
            user, token = service.create_admin(session, self._email("admin"))
        return Actor(user.id, None, token)

    def client(self, name: str = "Client") -> str:
        with self.database.unit() as session:
            row = Client(
                kind="business",
                legal_name=name,
                country="FR",
                vat_number=None,
                billing_email=self._email("billing"),
                **address_columns("FR"),
            )
            session.add(row)
            session.flush()
            return row.id

    def user(
        self,
        role: Role,
        client_id: str | None,
        scopes: frozenset[Scope] | None = None,
        days: int = 30,
        password: str | None = None,
    ) -> Actor:
        with self.database.unit() as session:
            user = User(
                email=self._email(role.value),
                name=role.value,
                role=role.value,
                client_id=client_id,
                password_hash=hash_password(password) if password else None,
            )
            session.add(user)
            session.flush()
            from nuages.accounts.roles import ROLE_SCOPES

            _token, clear = service.issue_token(
                session, user, scopes or ROLE_SCOPES[role], days, "test"
            )
        return Actor(user.id, client_id, clear)
