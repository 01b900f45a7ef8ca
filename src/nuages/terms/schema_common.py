"""Building blocks of the terms-file schema: durations, percentages, money, slugs, clock times.

Every model forbids unknown keys (a typo in a terms file must never be silently ignored)
and is frozen (an offer, once loaded, is a value). Decimals are written as quoted strings
in TOML (``price = "12.50"``) so that no amount ever passes through a binary float.

Custom validation failures are raised as ``PydanticCustomError("terms", ...)`` with an
``expected`` entry in the context; the loader turns each into one line
``FILE:LINE: KEY.PATH: what is wrong (expected …)``.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "WEEKDAYS",
    "Clause",
    "ClockTime",
    "CountryCode",
    "Duration",
    "Fraction",
    "Money",
    "Number",
    "Percent",
    "Slug",
    "StrictBool",
    "StrictInt",
    "StrictStr",
    "TermsModel",
    "TimeZoneName",
    "Unit",
    "Weekday",
    "clock_time",
    "problem",
]


def problem(what: str, expected: str, *at: str | int) -> PydanticCustomError:
    """A validation failure the loader prints as ``what (expected …)``.

    ``at`` is the key path, relative to the table being validated, of the value at
    fault (a model-level check knows which element is wrong; pydantic only knows the
    table), so the loader can point at its exact line.
    """
    return PydanticCustomError(
        "terms", "{what}", {"what": what, "expected": expected, "at": tuple(at)}
    )


class TermsModel(BaseModel):
    """Base of every table of a terms file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(StrEnum):
    """Units a contract counts in; names match ``nuages.kernel.calendar.Unit``.

    SPEC §16: *jours francs* (clear days) exclude the event day and the last day;
    *jours ouvrés* (working days) are Monday–Friday minus public holidays; *jours
    ouvrables* are Monday–Saturday minus public holidays.
    """

    minutes = "minutes"
    hours = "hours"
    calendar_days = "calendar_days"
    clear_days = "clear_days"
    working_days = "working_days"
    jours_ouvrables = "jours_ouvrables"
    months = "months"
    years = "years"


class Duration(TermsModel):
    """A period written ``{ amount = 3, unit = "months" }``, optionally citing its clause."""

    amount: Annotated[StrictInt, Field(ge=0)]
    unit: Unit
    clause: StrictStr | None = None

    def __str__(self) -> str:
        unit = self.unit.value.replace("_", " ")
        if self.amount == 1 and unit.endswith("s"):
            unit = unit[:-1]
        return f"{self.amount} {unit}"


def _decimal(value: Any) -> Decimal:
    # Floats are refused on purpose: 0.1 in TOML is a binary float, not one tenth.
    if isinstance(value, bool):
        raise problem("a boolean is not a number", 'a decimal written as a string, e.g. "12.50"')
    if isinstance(value, float):
        raise problem(
            f"{value!r} is a TOML float; decimals are written as strings",
            f'a decimal written as a string, e.g. "{value}"',
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise problem(
                f"{value!r} is not a decimal number", 'a decimal such as "12.50"'
            ) from None
    else:
        raise problem(
            f"a {type(value).__name__} is not a number",
            'a decimal written as a string, e.g. "12.50"',
        )
    if not number.is_finite():
        raise problem(f"{value!r} is not a finite number", 'a decimal such as "12.50"')
    return number


Number = Annotated[Decimal, BeforeValidator(_decimal)]
"""A decimal written as a string (``"0.30"``); floats are refused."""

Money = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)]
"""A non-negative amount in the offer's currency, net of VAT unless the offer says otherwise."""

Percent = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=100)]
"""A percentage between 0 and 100 inclusive, e.g. ``"99.85"``."""

Fraction = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=1)]
"""A share between 0 and 1 inclusive, e.g. an index weight ``"0.30"``."""

Slug = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
"""A safe identifier (lowercase letters, digits, inner dashes): ids reach URLs and libvirt XML."""

CountryCode = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code."""

Clause = StrictStr
"""A clause reference such as ``"002 §6"``."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")


def _clock_minutes(value: Any) -> int:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise problem("seconds are not used in clock times", 'a time "HH:MM"')
        return value.hour * 60 + value.minute
    if not isinstance(value, str):
        raise problem(f"a {type(value).__name__} is not a clock time", 'a time "HH:MM"')
    match = _HHMM.match(value)
    if match is None:
        raise problem(f"{value!r} is not a clock time", 'a time "HH:MM", from "00:00" to "24:00"')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise problem(f"{value!r} is not a clock time", 'a time "HH:MM", from "00:00" to "24:00"')
    return hours * 60 + minutes


ClockTime = Annotated[int, BeforeValidator(_clock_minutes)]
"""A local clock time ``"HH:MM"`` stored as minutes after midnight; ``"24:00"`` is 1440."""


def clock_time(minutes: int) -> time:
    """The ``datetime.time`` of a ClockTime; 24:00 (end of day) maps to ``time.max``."""
    if minutes >= 1440:
        return time.max
    return time(minutes // 60, minutes % 60)


def _zone_name(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"a {type(value).__name__} is not a time zone", 'an IANA zone "Europe/Paris"')
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise problem(
            f"{value!r} is not an IANA time zone", 'an IANA zone such as "Europe/Paris"'
        ) from None
    return value


TimeZoneName = Annotated[str, BeforeValidator(_zone_name)]
"""An IANA time zone name, checked against the system's tz database."""
