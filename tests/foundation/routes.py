"""The app's own route table, read so that access tests cover every future route.

Every path parameter needs a factory below that creates the object for a given client;
a route with a parameter nobody knows how to fill fails the tests, so a new route cannot
slip past the isolation checks unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

PARAM = re.compile(r"{([a-z_]+)}")


@dataclass(frozen=True)
class Route:
    """One method on one path, with its body example from the OpenAPI schema."""

    method: str
    path: str
    params: tuple[str, ...]
    body_example: dict[str, Any] | None
    tags: tuple[str, ...]

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)

    @property
    def writes(self) -> bool:
        return self.method not in {"GET", "HEAD", "OPTIONS"}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _body_example(openapi: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if not body:
        return None
    schema = body["content"]["application/json"]["schema"]
    ref = schema.get("$ref")
    if ref is None:
        raise AssertionError(f"request body without a named schema: {schema}")
    component = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    examples = component.get("examples")
    if not examples:
        raise AssertionError(f"schema {ref} has no example; add one to its model_config")
    example: dict[str, Any] = examples[0]
    return example


def api_routes(app: FastAPI) -> Iterator[Route]:
    """Every API route of the app, one per method, read from its OpenAPI document.

    (FastAPI now mounts included routers lazily, so ``app.routes`` no longer lists
    them; the OpenAPI document is the public, complete route table.)
    """
    openapi = app.openapi()
    for path, operations in openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in sorted(operations.items()):
            yield Route(
                method=method.upper(),
                path=path,
                params=tuple(PARAM.findall(path)),
                body_example=_body_example(openapi, operation),
                tags=tuple(str(t) for t in operation.get("tags", ())),
            )


# Parameters naming objects every client may read (offers are on public sale).
SHARED_PARAMS = frozenset({"offer_id"})

PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/card-webhooks"),  # payments: the provider's signature is the proof
}
# Managing one's own credentials is open to every role, guests included: a guest must
# be able to revoke a token it fears has leaked.
SELF_SERVICE = {("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}")}

Factory = Callable[[Any, Any], str]
