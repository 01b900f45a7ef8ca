"""RFC 9457 problem documents for every error the API returns.

Each error has a stable ``type`` URI; bodies never echo secrets (validation errors drop
the offending input values).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from nuages.kernel.db import is_saturation
from nuages.kernel.errors import PROBLEM_BASE, NuagesError

log = logging.getLogger("nuages.api")
PROBLEM_JSON = "application/problem+json"

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _body_fields(request: Request) -> list[str]:
    """The required fields of the route's request body model ([] when unknown)."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, dict):
        return []
    return [name for name, info in fields.items() if info.is_required()]


def _validation_errors(exc: RequestValidationError, request: Request) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc == ("body",) and error.get("type") == "missing":
            # No body at all: name each required field ("reason: Field required"), not
            # the body itself, so the client learns what to send.
            required = _body_fields(request)
            errors.extend(
                {"loc": ["body", name], "msg": "Field required", "type": "missing"}
                for name in required
            )
            if required:
                continue
        errors.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return errors


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(NuagesError)
    async def _nuages(request: Request, exc: NuagesError) -> JSONResponse:
        return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc, request)
        first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
        where = ".".join(first["loc"])
        return problem(
            422,
            "validation-failed",
            "The input is not valid",
            f"{where}: {first['msg']}" if where else str(first["msg"]),
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # 17.9 (RFC 9110 §15.5.6): say which methods the path does take; routes of
            # one path are separate, so ask each of them rather than the first one.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(
            exc.status_code, slug, title, str(exc.detail), request.url.path, headers=headers
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # 17.1: a saturated database (no pooled connection in time, a lock wait timed
        # out) is a 503 to retry, never a 500; the unit of work rolled back, so
        # nothing the client is told failed was committed.
        if is_saturation(exc):
            log.warning("database saturated on %s %s: %s", request.method, request.url.path, exc)
            return unavailable(request)
        return await _unexpected(request, exc)

    app.add_exception_handler(PoolTimeout, _database)
    app.add_exception_handler(DBAPIError, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal-error",
            "Internal error",
            "an unexpected error occurred; it has been logged",
            request.url.path,
        )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    allowed = []
    for method in _METHODS:
        scope = dict(request.scope, method=method)
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def unavailable(request: Request) -> JSONResponse:
    """503 with ``Retry-After``: the server is busy, the request did nothing."""
    retry_after = getattr(request.app.state.settings, "api_retry_after", 2)
    return problem(
        503,
        "unavailable",
        "Service unavailable",
        "the server is busy; retry after the delay in Retry-After",
        request.url.path,
        headers={"Retry-After": str(retry_after)},
    )


class ProblemOut(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


def _doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
    }


# Documented on every API route: the errors any of them can answer.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Bad request"),
    401: _doc("Missing, unknown, expired or revoked token"),
    402: _doc("The account must be funded first"),
    403: _doc("The caller may not do this"),
    404: _doc("No such object, or not the caller's"),
    409: _doc("Conflicts with the object's current state"),
    413: _doc("Body too large"),
    422: _doc("The input is not valid"),
    429: _doc("Too many refused requests: wait for Retry-After seconds"),
    503: _doc("The server is busy: retry after the delay in the Retry-After header"),
}
