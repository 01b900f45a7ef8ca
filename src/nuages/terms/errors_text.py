"""Turning pydantic errors into "what is wrong" and "what was expected", for people.

The loader prints ``FILE:LINE: KEY.PATH: <what is wrong> (expected <what>)``; this module
writes both halves, looking up the schema to say what a key would accept (the allowed
keys of a table, the members of a choice, the shape of a duration).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from enum import Enum
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from nuages.terms.schema_common import Duration

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string in quotes",
    "list_type": "a list [ … ]",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "decimal_type": 'a decimal written as a string, e.g. "12.50"',
    "decimal_parsing": 'a decimal written as a string, e.g. "12.50"',
}

_PATTERNS = {
    "^[A-Z]{2}$": 'a two-letter country code such as "FR"',
}


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated/list wrappers."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    if origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for inner in _unwrap(annotation):
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return None


def _field(root: type[BaseModel], path: tuple[str | int, ...]) -> tuple[type[BaseModel], Any]:
    """The model holding the last key of ``path`` and that key's FieldInfo (or None)."""
    model = root
    keys = [p for p in path if isinstance(p, str)]
    for key in keys[:-1]:
        info = model.model_fields.get(key)
        inner = _model_of(info.annotation) if info is not None else None
        if inner is None:
            return model, None
        model = inner
    return model, (model.model_fields.get(keys[-1]) if keys else None)


def describe_field(info: FieldInfo | None) -> str:
    """What a field accepts, from its annotation and its constraints."""
    if info is None:
        return "a value"
    return describe_type(info.annotation, info.metadata)


def _from_metadata(metadata: Sequence[Any]) -> str | None:
    # A Field(...) inside Annotated keeps its constraints in its own metadata.
    metadata = [
        inner for m in metadata for inner in (m.metadata if isinstance(m, FieldInfo) else [m])
    ]
    validators = {getattr(getattr(m, "func", None), "__name__", "") for m in metadata}
    upper = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if "_decimal" in validators:
        if upper == 100:
            return 'a percentage written as a string, e.g. "99.85"'
        if upper == 1:
            return 'a share between 0 and 1 written as a string, e.g. "0.30"'
        return 'a decimal written as a string, e.g. "12.50"'
    if "_clock_minutes" in validators:
        return 'a time "HH:MM"'
    if "_zone_name" in validators:
        return 'an IANA time zone such as "Europe/Paris"'
    patterns = {str(getattr(m, "pattern", "")) for m in metadata}
    for pattern in patterns:
        if pattern in _PATTERNS:
            return _PATTERNS[pattern]
        if pattern.startswith("^[a-z0-9]"):
            return 'a lowercase slug such as "vm-small"'
    return None


def describe_type(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """A short human description of what a key accepts."""
    known = _from_metadata(metadata)
    if known is not None:
        return known
    if annotation is None:
        return "a value"
    origin = typing.get_origin(annotation)
    if origin is list:
        return "a list of " + describe_type(typing.get_args(annotation)[0])
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return describe_type(base, meta)
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, Duration):
            return '{ amount = N, unit = "hours|calendar_days|clear_days|working_days|…" }'
        if issubclass(annotation, BaseModel):
            return "a table with keys " + ", ".join(annotation.model_fields)
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(repr(m.value) for m in annotation)
        if annotation is bool:
            return "true or false"
        if annotation is int:
            return "a whole number"
        if annotation is str:
            return "a string in quotes"
    return str(annotation)


def describe_error(
    error: ErrorDetails, root: type[BaseModel], path: tuple[str | int, ...]
) -> tuple[str, str]:
    """``(what is wrong, what was expected)`` for one pydantic error at ``path``."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == "terms":
        return str(ctx["what"]), str(ctx["expected"])
    if kind == "missing":
        _, info = _field(root, path)
        return "required key is missing", describe_field(info)
    if kind == "extra_forbidden":
        model, _ = _field(root, path)
        return "unknown key", "one of the keys " + ", ".join(model.model_fields)
    if kind in ("literal_error", "enum"):
        return f"{_shown(value)} is not allowed", f"one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than"):
        sign = "≥" if kind == "greater_than_equal" else ">"
        bound = ctx.get("ge", ctx.get("gt"))
        return f"{_shown(value)} is too small", f"a value {sign} {bound}"
    if kind in ("less_than_equal", "less_than"):
        sign = "≤" if kind == "less_than_equal" else "<"
        bound = ctx.get("le", ctx.get("lt"))
        return f"{_shown(value)} is too large", f"a value {sign} {bound}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        expected = _PATTERNS.get(pattern, "a lowercase slug: a-z, 0-9 and inner '-'")
        return f"{_shown(value)} is not allowed here", expected
    if kind == "too_short":
        return "the list is too short", f"at least {ctx.get('min_length')} item(s)"
    if kind in _TYPE_WORDS:
        _, info = _field(root, path)
        wanted = describe_field(info) if info is not None else _TYPE_WORDS[kind]
        if isinstance(path[-1] if path else None, int):
            wanted = _TYPE_WORDS[kind]
        return f"wrong type: {_shown(value)}", wanted
    message = error["msg"].removeprefix("Value error, ")
    return message, "see docs/terms.md"
