"""The FastAPI application, assembled from each slice's router."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nuages import __version__
from nuages.accounts.api import router as accounts_router
from nuages.api import problems
from nuages.api.limits import BodyLimitMiddleware
from nuages.api.refusals import RefusalLimiter, record_refusal
from nuages.billing.api import router as billing_router
from nuages.compute.api import router as compute_router
from nuages.contracts.api import router as contracts_router
from nuages.contracts.offers import OfferRegistry
from nuages.history.api import router as history_router
from nuages.invoicing.api import router as invoicing_router
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings, get_settings
from nuages.notices.api import router as notices_router

log = logging.getLogger("nuages.api")

ROUTERS = [
    accounts_router,
    contracts_router,
    history_router,
    compute_router,
    billing_router,
    invoicing_router,
    notices_router,
]

DESCRIPTION = """
nuages sells, runs and bills virtual machines under declarative contract terms.

Authenticate with `Authorization: Bearer nua_…` (create one with `nuages admin create`, or
`POST /api/v1/auth/token`). Errors are `application/problem+json` (RFC 9457) with a
stable `type`. Lists are paginated with `page` and `per_page`.
"""


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    offers: OfferRegistry | None = None,
) -> FastAPI:
    """Build the application around a database (created from settings when not given)."""
    settings = settings or get_settings()
    database = database or Database(settings.effective_database_url)
    app = FastAPI(
        title="nuages",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.database = database
    app.state.settings = settings
    app.state.offers = offers or OfferRegistry.from_directory(settings.offers_dir)
    app.state.refusal_limiter = RefusalLimiter.from_settings(settings)
    problems.install(app)

    @app.exception_handler(NuagesError)
    async def _nuages_error(request: Request, exc: NuagesError) -> JSONResponse:
        # A refused write is recorded, unless the caller is over its refusal budget.
        limited = await run_in_threadpool(record_refusal, request, exc)
        if limited is not None:
            return limited
        return problems.problem(
            exc.status, exc.slug, exc.title, exc.detail, request.url.path, **exc.extra
        )

    for router in ROUTERS:
        app.include_router(router, responses=problems.PROBLEM_RESPONSES)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document describe error bodies as problem documents (the
    default 422 schema is FastAPI's, which nuages never sends)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["ProblemOut"] = (
            problems.ProblemOut.model_json_schema()
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code in {"422"}:
                        response.clear()
                        response.update(problems.PROBLEM_RESPONSES[422])
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
