"""The FastAPI application, assembled from each slice's router."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nuages import __version__
from nuages.accounts.api import router as accounts_router
from nuages.accounts.token_use import TokenUses
from nuages.api import docs, problems, prometheus
from nuages.api.limits import AdmissionMiddleware, BodyLimitMiddleware, DuplicateKeysMiddleware
from nuages.api.refusals import RefusalLimiter, record_refusal
from nuages.billing.api import router as billing_router
from nuages.compute.api import router as compute_router
from nuages.compute.console import api as console_api
from nuages.compute.console.api import router as console_router
from nuages.compute.metrics.api import router as metrics_router
from nuages.compute.net.api import router as network_router
from nuages.contracts.api import router as contracts_router
from nuages.contracts.offers import OfferRegistry
from nuages.gdpr.api import router as gdpr_router
from nuages.history.api import router as history_router
from nuages.invoicing.api import router as invoicing_router
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings, get_settings
from nuages.notices.api import router as notices_router
from nuages.portal import mount as portal
from nuages.reversibility.api import router as reversibility_router
from nuages.sla.api import router as sla_router
from nuages.support.api import router as support_router

log = logging.getLogger("nuages.api")
# What a multipart form adds around an uploaded file (boundaries, part headers, the
# CSRF and once fields): the body limit of a form upload is its file's plus this.
FORM_ENVELOPE = 64 * 1024

ROUTERS = [
    accounts_router,
    contracts_router,
    history_router,
    compute_router,
    billing_router,
    invoicing_router,
    notices_router,
    sla_router,
    metrics_router,  # issue 14.4
    console_router,  # issue 14.3
    network_router,
    reversibility_router,
    gdpr_router,  # issue #16
    support_router,  # issue #16
]

DESCRIPTION = """
nuages sells, runs and bills virtual machines under declarative contract terms.

Authenticate with `Authorization: Bearer nua_…` (create one with `nuages admin create`, or
`POST /api/v1/auth/token`). Errors are `application/problem+json` (RFC 9457) with a
stable `type`. Lists are paginated with `page` and `per_page`.
"""


def default_in_flight(database: Database) -> int:
    """Requests handled at once unless NUAGES_API_MAX_IN_FLIGHT says: 4 per CPU, at
    most the pool's connections. More only lengthen the tail: on 2 cores, 20 at once
    doubled the p99 latency of bench/api_load.py at 50 clients against 8, for the
    same throughput (threads holding locks wait for the interpreter)."""
    return min(database.capacity, max(4, 4 * (os.cpu_count() or 1)))


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    offers: OfferRegistry | None = None,
) -> FastAPI:
    """Build the application around a database (created from settings when not given)."""
    settings = settings or get_settings()
    database = database or Database.from_settings(settings)
    in_flight = settings.api_max_in_flight or default_in_flight(database)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each admitted request runs its sync parts in worker threads, one at a time:
        # enough threads for every admitted request means none waits for a thread
        # while holding a connection (17.1).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, min(in_flight, 1000) + 8)
        yield

    app = FastAPI(
        title="nuages",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    docs.install(app)
    app.state.database = database
    app.state.token_uses = TokenUses()
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
    console_api.install(app)  # the console page's files (issue 14.3)
    prometheus.install(app)  # GET /metrics and the latency histogram (issue 14.4)
    portal.mount(app)  # pages at / and /admin, /static/ (after the API's error handlers)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    # Outermost last: body limit, then duplicate keys, then admission, then the app.
    app.add_middleware(
        AdmissionMiddleware,
        max_in_flight=min(in_flight, 10_000),
        queue_timeout=settings.api_queue_timeout,
        retry_after=settings.api_retry_after,
    )
    app.add_middleware(DuplicateKeysMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={
            "/api/v1/bank-statements": settings.max_statement_bytes,
            # The back-office upload is a multipart form: the file plus its envelope
            # (boundaries, CSRF fields); the page itself refuses a file over the limit.
            "/admin/statements": settings.max_statement_bytes + FORM_ENVELOPE,
        },
    )
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
