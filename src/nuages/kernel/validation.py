"""Input types shared by every slice's schemas.

Names that later reach libvirt XML, file paths or shell-free commands are limited to a
safe alphabet, checked once here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from nuages.kernel.money import PLAIN_AMOUNT_PATTERN, parse_amount

SAFE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"

SafeName = Annotated[
    str,
    StringConstraints(pattern=SAFE_NAME_PATTERN, min_length=1, max_length=63),
    Field(description="lower-case letters, digits and inner hyphens, at most 63 characters"),
]
Email = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^@\s<>\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$",
        max_length=254,
        strip_whitespace=True,
        to_lower=True,
    ),
]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


def _no_nul(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL characters; refuse them at the door.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    if isinstance(value, list | tuple):
        for item in value:
            _no_nul(item)
    return value


class Strict(BaseModel):
    """Base of every request body: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class Out(BaseModel):
    """Base of every response body, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, the total count and where we are."""

    items: list[T]
    total: int
    page: int
    per_page: int


def page_of(items: list[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    """Assemble a page response."""
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def _amount_in(value: Any) -> Decimal:
    # The kernel's one rule (money.parse_amount): "1e9", 1e9, "1_000", "１２" are refused.
    return parse_amount(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_amount_in),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PLAIN_AMOUNT_PATTERN,
            "description": 'a plain decimal written as a string, e.g. "150.00"',
        }
    ),
]
"""Every money field of every request body: a plain decimal string (or an integer);
constraints (sign, digits) are added per field with ``Field``."""
