"""Request and response bodies of the accounts API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from nuages.accounts.roles import Role, Scope
from nuages.accounts.validators import check_country, normalise_vat
from nuages.kernel.validation import Email, Out, Strict, Text200


class ClientCreate(Strict):
    """A new client (SPEC §1): a business with a checked VAT number, or a consumer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "business",
                    "legal_name": "Exemple SAS",
                    "country": "FR",
                    "vat_number": "FR40303265045",
                    "billing_email": "compta@exemple.fr",
                }
            ]
        }
    )

    kind: Literal["business", "consumer"]
    legal_name: Text200
    country: str = Field(min_length=2, max_length=2, examples=["FR"])
    vat_number: str | None = Field(default=None, max_length=32)
    billing_email: Email

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return check_country(value)

    @model_validator(mode="after")
    def _vat(self) -> ClientCreate:
        if self.vat_number is not None:
            self.vat_number = normalise_vat(self.vat_number, self.country)
        return self


class ClientUpdate(Strict):
    """Changes to a client; omitted fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"billing_email": "factures@exemple.fr"}]}
    )

    legal_name: Text200 | None = None
    vat_number: str | None = Field(default=None, max_length=32)
    billing_email: Email | None = None


class ClientOut(Out):
    id: str
    kind: str
    legal_name: str
    country: str
    vat_number: str | None
    billing_email: str
    created_at: dt.datetime


class UserCreate(Strict):
    """A new user of a client (by its owner or staff) or a staff member (admins only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "marie@exemple.fr", "name": "Marie", "role": "client_member"}]
        }
    )

    email: Email
    name: str = Field(default="", max_length=200)
    role: Role
    password: SecretStr | None = Field(default=None, min_length=12, max_length=256)
    is_terms_decider: bool = False


class UserUpdate(Strict):
    """Changes to a user."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Marie Durand"}]})

    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: bool | None = None
    is_terms_decider: bool | None = None
    password: SecretStr | None = Field(default=None, min_length=12, max_length=256)


class UserOut(Out):
    id: str
    email: str
    name: str
    role: str
    client_id: str | None
    is_terms_decider: bool
    active: bool
    created_at: dt.datetime


# Sign-in only looks an address up, so it accepts every address a user can hold,
# including those the platform creates itself (the first admin is ``admin@localhost``,
# whose domain has no dot and so fails ``Email``). Shape rules belong to where an
# address is *given* (creation, change), not to where it is *checked*.
SignInEmail = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^@\s]{1,64}@[^@\s]{1,253}$",
        max_length=254,
        strip_whitespace=True,
        to_lower=True,
    ),
]


class EmailChange(Strict):
    """A user's new e-mail address (provider admins; recorded in the history)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ops@exemple.fr"}]})

    email: Email


class Login(Strict):
    """E-mail and password, exchanged for an API token."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "admin@exemple.fr",
                    "password": "correct horse battery",
                    "scopes": ["read"],
                }
            ]
        }
    )

    email: SignInEmail
    password: SecretStr = Field(max_length=256)
    # Omitted: every scope the user's role allows (an owner's sign-in token reads its
    # invoices and account without asking for "billing").
    scopes: list[Scope] | None = Field(default=None, max_length=4)
    days: int = Field(default=1, ge=1, le=365)


class TokenCreate(Strict):
    """A new token minted by the calling token: its scopes are a subset of the caller's
    and it expires no later than the caller's token (the expiry is clipped to it)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "ci", "scopes": ["read"], "days": 30}]}
    )

    name: str = Field(default="", max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    days: int = Field(default=90, ge=1, le=365)


class TokenOut(Out):
    id: str
    name: str
    scopes: str
    parent_id: str | None = Field(
        default=None, description="the token that minted this one (none for a sign-in)"
    )
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class TokenCreated(TokenOut):
    """The token itself appears here once and never again."""

    token: str
