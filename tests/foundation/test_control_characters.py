"""17.2 (edge part): every text field of every request body refuses control characters
(and whatever else XML 1.0 forbids) with a 422 naming the field; tabs and line breaks
pass only in fields marked ``Multiline`` (free-text explanations: a dispute's reason
and its resolution), every other text is one line.

The fields come from the app's own OpenAPI document, so a new route or field is
covered without being listed here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nuages.app import create_app
from nuages.kernel.settings import Settings
from nuages.kernel.validation import MULTILINE
from tests.factories import World

from .routes import PARAM, api_routes

APP = create_app(Settings(database_url="sqlite://"))
OPENAPI = APP.openapi()
COMPONENTS = OPENAPI["components"]["schemas"]


@dataclass(frozen=True)
class TextField:
    """One text field of one route's body: where it is and how to fill it."""

    method: str
    path: str
    where: tuple[str, ...]
    is_list: bool
    multiline: bool
    example: dict[str, Any]

    def body(self, text: str) -> dict[str, Any]:
        body = copy.deepcopy(self.example)
        node = body
        for name in self.where[:-1]:
            node = node.setdefault(name, {})
        node[self.where[-1]] = [text] if self.is_list else text
        return body

    def __str__(self) -> str:
        return f"{self.method} {self.path} {'.'.join(self.where)}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return dict(COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]])
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            option = _resolve(option)
            if option.get("type") != "null":
                return option | {k: v for k, v in schema.items() if k not in {key}}
    return schema


def _text_fields(
    component: dict[str, Any], where: tuple[str, ...], depth: int = 0
) -> Iterator[tuple[tuple[str, ...], bool, bool]]:
    for name, raw in component.get("properties", {}).items():
        schema = _resolve(raw)
        multiline = bool(raw.get(MULTILINE) or schema.get(MULTILINE))
        kind = schema.get("type")
        if kind == "string" and schema.get("format") not in {"date", "date-time", "password"}:
            yield (*where, name), False, multiline
        elif kind == "string" and schema.get("format") == "password":
            yield (*where, name), False, False
        elif kind == "array" and _resolve(schema.get("items", {})).get("type") == "string":
            yield (*where, name), True, multiline
        elif kind == "object" and "properties" in schema and depth < 2:
            yield from _text_fields(schema, (*where, name), depth + 1)


def _all_text_fields() -> list[TextField]:
    fields = []
    for route in api_routes(APP):
        operation = OPENAPI["paths"][route.path][route.method.lower()]
        body = operation.get("requestBody")
        if not body or route.body_example is None:
            continue
        component = _resolve(body["content"]["application/json"]["schema"])
        for where, is_list, multiline in _text_fields(component, ()):
            fields.append(
                TextField(route.method, route.path, where, is_list, multiline, route.body_example)
            )
    return fields


FIELDS = _all_text_fields()


def test_text_fields_found() -> None:
    """The walk finds the fields the issue names, and the multi-line ones."""
    names = {str(f) for f in FIELDS}
    assert "PATCH /api/v1/clients/{client_id} legal_name" in names
    assert len(FIELDS) > 40, len(FIELDS)
    assert {str(f) for f in FIELDS if f.multiline} >= {
        "POST /api/v1/invoices/{invoice_id}/disputes reason"
    }


def _send(http: TestClient, field: TextField, text: str, headers: dict[str, str]) -> Any:
    url = PARAM.sub("00000000-0000-4000-8000-000000000000", field.path)
    return http.request(field.method, url, json=field.body(text), headers=headers)


def _names_field(response: Any, field: TextField) -> bool:
    if response.status_code != 422:
        return False
    errors = response.json().get("errors", [])
    return any(
        tuple(e["loc"][1 : 1 + len(field.where)]) == field.where and "control character" in e["msg"]
        for e in errors
    )


@pytest.mark.parametrize("text", ["Tenant A\u0007SA", "esc\x1b[31m", "bad\ufffeend", "del\x7f"])
def test_regression_control_characters_refused_in_every_text_field(
    client: TestClient, world: World, text: str
) -> None:
    """e.g. an owner setting legal_name to "Tenant A\\u0007SA" by PATCH /clients/{id}:
    422, and the problem names the field, on every text field of every body."""
    admin = world.admin()
    failures = []
    for field in FIELDS:
        response = _send(client, field, text, admin.headers)
        if not _names_field(response, field):
            failures.append(f"{field}: {response.status_code} {response.text[:160]}")
    assert not failures, "\n".join(failures)


def test_regression_owner_cannot_set_a_bell_in_legal_name(client: TestClient, world: World) -> None:
    """The issue's example, end to end: 422 naming legal_name, the name unchanged."""
    from nuages.accounts.roles import Role

    client_id = world.client("Tenant A SA")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.patch(
        f"/api/v1/clients/{client_id}",
        json={"legal_name": "Tenant A\u0007SA"},
        headers=owner.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("body.legal_name:")
    assert (
        client.get(f"/api/v1/clients/{client_id}", headers=owner.headers).json()["legal_name"]
        == "Tenant A SA"
    )


@pytest.mark.parametrize("text", ["line 1\nline 2", "a\tb", "a\r\nb"])
def test_tabs_and_line_breaks_only_in_multiline_fields(
    client: TestClient, world: World, text: str
) -> None:
    """One-line fields refuse tab, LF and CR inside the text; multi-line fields (a
    dispute's reason, its resolution) take them."""
    admin = world.admin()
    failures = []
    for field in FIELDS:
        response = _send(client, field, text, admin.headers)
        if field.multiline == _names_field(response, field):
            failures.append(f"{field} (multiline={field.multiline}): {response.status_code}")
    assert not failures, "\n".join(failures)


def test_surrounding_newline_is_stripped_not_refused(client: TestClient, world: World) -> None:
    """A pasted value's final newline (``cat key.pub``) is whitespace around a one-line
    text: stripped as before, not refused."""
    admin = world.admin()
    r = client.post(
        "/api/v1/clients",
        json={**_example("POST", "/api/v1/clients"), "legal_name": "X SA\n"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["legal_name"] == "X SA"


def _example(method: str, path: str) -> dict[str, Any]:
    for route in api_routes(APP):
        if route.method == method and route.path == path and route.body_example:
            return copy.deepcopy(route.body_example)
    raise AssertionError(f"no example for {method} {path}")


def _time_fields() -> list[TextField]:
    fields = []
    for route in api_routes(APP):
        operation = OPENAPI["paths"][route.path][route.method.lower()]
        body = operation.get("requestBody")
        if not body or route.body_example is None:
            continue
        component = _resolve(body["content"]["application/json"]["schema"])
        for name, raw in component.get("properties", {}).items():
            if _resolve(raw).get("format") == "date-time":
                fields.append(
                    TextField(route.method, route.path, (name,), False, False, route.body_example)
                )
    return fields


TIME_FIELDS = _time_fields()


@pytest.mark.parametrize("value", [0.5, 1700000000, "0.5", "2026-11-01T08:00:00"])
def test_regression_body_times_are_iso_8601_with_a_zone(
    client: TestClient, world: World, value: object
) -> None:
    """17.9 for bodies too: a time field of any body refuses a number of seconds and a
    time without zone, naming the field (pydantic read 0.5 as 1970-01-01T00:00:00.5Z)."""
    assert TIME_FIELDS, "no body has a time field: the walk found nothing"
    admin = world.admin()
    failures = []
    for field in TIME_FIELDS:
        url = PARAM.sub("00000000-0000-4000-8000-000000000000", field.path)
        body = field.body("") | {field.where[0]: value}
        response = client.request(field.method, url, json=body, headers=admin.headers)
        errors = response.json().get("errors", []) if response.status_code == 422 else []
        if not any(e["loc"][1:2] == list(field.where) and "ISO 8601" in e["msg"] for e in errors):
            failures.append(f"{field}: {response.status_code} {response.text[:160]}")
    assert not failures, "\n".join(failures)
