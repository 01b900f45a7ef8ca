"""Request and response bodies of the accounts API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nuages.accounts.models import Client
from nuages.accounts.roles import Role, Scope
from nuages.accounts.validators import check_country, check_postcode, normalise_vat
from nuages.kernel.validation import Email, Out, Strict, Text200


class PostalAddress(Strict):
    """A postal address (EN 16931 BT-50..54); the country is the client's ``country``
    (BT-55) and the postcode is checked against it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris"}]
        }
    )

    line1: Text200 = Field(description="street and number (BT-50)")
    line2: str = Field(default="", max_length=200, description="BT-51")
    postcode: str = Field(default="", max_length=16, description="BT-53")
    city: str = Field(min_length=1, max_length=100, description="BT-52")
    region: str = Field(default="", max_length=100, description="country subdivision, BT-54")

    def checked(self, country: str) -> PostalAddress:
        """The address with its postcode normalised for ``country`` (ValueError if bad)."""
        return self.model_copy(update={"postcode": check_postcode(country, self.postcode)})

    def columns(self) -> dict[str, str]:
        """The ``clients`` columns holding it."""
        return {
            "address_line1": self.line1,
            "address_line2": self.line2.strip(),
            "postcode": self.postcode,
            "city": self.city.strip(),
            "region": self.region.strip(),
        }


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
                    "address": {
                        "line1": "12 rue de la Paix",
                        "postcode": "75002",
                        "city": "Paris",
                    },
                }
            ]
        }
    )

    kind: Literal["business", "consumer"]
    legal_name: Text200
    country: str = Field(min_length=2, max_length=2, examples=["FR"])
    vat_number: str | None = Field(default=None, max_length=32)
    billing_email: Email
    address: PostalAddress

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return check_country(value)

    @field_validator("address")
    @classmethod
    def _postcode(cls, value: PostalAddress, info: ValidationInfo) -> PostalAddress:
        country = info.data.get("country")
        return value.checked(country) if country else value

    @model_validator(mode="after")
    def _vat(self) -> ClientCreate:
        if self.vat_number is not None:
            self.vat_number = normalise_vat(self.vat_number, self.country)
        return self


class ClientUpdate(Strict):
    """Changes to a client; omitted fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "billing_email": "factures@exemple.fr",
                    "address": {"line1": "3 quai Rambaud", "postcode": "69002", "city": "Lyon"},
                }
            ]
        }
    )

    legal_name: Text200 | None = None
    vat_number: str | None = Field(default=None, max_length=32)
    billing_email: Email | None = None
    address: PostalAddress | None = Field(
        default=None, description="replaces the whole address; postcode checked"
    )


class AddressOut(Out):
    line1: str
    line2: str
    postcode: str
    city: str
    region: str


class ClientOut(Out):
    id: str
    kind: str
    legal_name: str
    country: str
    vat_number: str | None
    billing_email: str
    address: AddressOut
    created_at: dt.datetime

    @model_validator(mode="before")
    @classmethod
    def _address(cls, data: Any) -> Any:
        if isinstance(data, Client):
            return {
                **{k: getattr(data, k) for k in cls.model_fields if k != "address"},
                "address": {
                    "line1": data.address_line1,
                    "line2": data.address_line2,
                    "postcode": data.postcode,
                    "city": data.city,
                    "region": data.region,
                },
            }
        return data


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
