"""Input types shared by every slice's schemas.

Names that later reach libvirt XML, file paths or shell-free commands are limited to a
safe alphabet, checked once here.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
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


MULTILINE = "x-multiline"
"""JSON-schema mark of a free-text field where tabs and line breaks make sense."""

Multiline = Field(json_schema_extra={MULTILINE: True})
"""Use as ``Annotated[str, Multiline, ...]`` on a free-text field (a letter-like
explanation); every other text field of a request body is one line."""

# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF),
# plus DEL and the C1 controls: no business text needs them, and they break XML
# invoices, PDFs, terminals and logs downstream. NUL is among them (PostgreSQL text
# cannot hold it).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r]")


def _holds_model(annotation: Any) -> bool:
    """The field's type is (or contains) a model, which checks its own fields."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


def _holds_datetime(annotation: Any) -> bool:
    """The field's type is (or contains) a date and time."""
    if annotation is dt.datetime or annotation is AwareDatetime:
        return True
    return any(_holds_datetime(arg) for arg in get_args(annotation))


def _check_text(value: Any, multiline: bool, models: bool = False) -> None:
    if isinstance(value, str):
        found = _FORBIDDEN.search(value)
        if found is None and not multiline:
            # Surrounding whitespace is stripped anyway (a pasted key's final newline).
            found = _LINE_BREAKS.search(value.strip())
        if found is not None:
            what = "text" if multiline else "one-line text (no tab or line break)"
            raise ValueError(
                f"{what} may not contain the control character U+{ord(found.group()):04X}"
            )
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item, multiline, models)
    elif isinstance(value, dict) and not models:
        # (an object for a nested model is checked by that model, naming its fields)
        for key, item in value.items():
            _check_text(key, False)
            _check_text(item, multiline)


class Strict(BaseModel):
    """Base of every request body: unknown fields are refused, and so are control
    characters in every text of every field (17.2): nothing XML 1.0 forbids, and no
    tab or line break except in fields marked ``Multiline``. The error names the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        extra = field.json_schema_extra if field is not None else None
        multiline = isinstance(extra, dict) and extra.get(MULTILINE) is True
        _check_text(value, multiline, field is not None and _holds_model(field.annotation))
        if value is not None and field is not None and _holds_datetime(field.annotation):
            # 17.9: a time is ISO 8601 with a time zone, never a number of seconds.
            return _iso_instant(value)
        return value


_ISO_INSTANT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
)


def _iso_instant(value: Any) -> Any:
    # pydantic also reads numbers ("0.5") as Unix times: 17.9 wants ISO 8601 only.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_INSTANT.match(value.strip()):
        raise ValueError(
            "expected an ISO 8601 date and time with a timezone, e.g. 2026-11-01T00:00:00Z"
        )
    return value.strip()


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_instant)]
"""An aware time given as ISO 8601 with a time zone (``Z`` or ``±hh:mm``), nothing else."""


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
