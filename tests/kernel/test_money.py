"""Amounts on input: one rule (``kernel.money.parse_amount``), used by every money field
of every request body through ``kernel.validation.Money`` (issue 17.7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, get_args

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from nuages.app import create_app
from nuages.kernel.money import parse_amount
from nuages.kernel.settings import Settings
from nuages.kernel.validation import Strict, _amount_in

BAD = ["1e9", 1e9, "1E9", "1_000", "１２", "٣", "+5", "5.", ".5", "0x10", "NaN", "-Infinity",
       "1 000", 0.1, True, None, "", "12,50"]  # fmt: skip


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_parse_amount_refuses_anything_but_plain_decimals(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("150.00", "150.00"), ("-3", "-3"), (" 7.5 ", "7.5"), (12, "12"), (Decimal("0.1"), "0.1")],
)
def test_parse_amount_reads_plain_decimals(value: Any, expected: str) -> None:
    assert parse_amount(value) == Decimal(expected)


def _strict_models() -> set[type[BaseModel]]:
    create_app(Settings(database_url="sqlite://"))  # imports every slice's schemas
    found: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Strict]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _decimal_fields() -> list[tuple[str, Any]]:
    fields = []
    for model in sorted(_strict_models(), key=lambda m: m.__qualname__):
        for name, info in model.model_fields.items():
            if "Decimal" in repr(info.annotation) or info.annotation is Decimal:
                fields.append((f"{model.__module__}.{model.__qualname__}.{name}", info))
    return fields


FIELDS = _decimal_fields()


def test_every_request_body_has_money_fields_to_check() -> None:
    """The sweep below sees the money fields of billing and invoicing bodies."""
    names = {name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1] for name, _ in FIELDS}
    assert {"DirectDebitCreate.amount", "TransferCreate.amount", "AdjustmentCreate.amount",
            "PolicyPut.monthly_budget", "PaymentCreate.amount"} <= names  # fmt: skip


@pytest.mark.parametrize(("name", "info"), FIELDS, ids=[n for n, _ in FIELDS])
def test_regression_every_money_field_refuses_exponents_floats_separators_other_digits(
    name: str, info: Any
) -> None:
    """17.7: "1e9", the JSON number 1e9 (a float), "1_000" and "１２" are refused by every
    Decimal field of every request body: each goes through ``validation.Money``."""
    uses_money = any(getattr(m, "func", None) is _amount_in for m in info.metadata) or any(
        getattr(m, "func", None) is _amount_in
        for arg in get_args(info.annotation)
        for m in getattr(arg, "__metadata__", ())
    )
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])
    for value in ("1e9", 1e9, "1_000", "１２"):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    assert uses_money or "Money" in repr(info.annotation), name
