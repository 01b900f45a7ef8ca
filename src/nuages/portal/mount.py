"""Mounting the portal on the app: its pages at ``/`` and ``/admin``, its static files
under ``/static/``, its security headers and its HTML error pages. ``/api/v1``,
``/docs`` and the other machine paths keep their JSON answers."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nuages.kernel.errors import NuagesError
from nuages.portal import web
from nuages.portal.errors import of as error_text
from nuages.portal.pages import PAGES

log = logging.getLogger("nuages.portal")
HERE = Path(__file__).resolve().parent
# assets/<name>/node_modules at the repository root (scripts/install.sh runs npm ci).
ASSETS = HERE.parents[2] / "assets"
MACHINE_PREFIXES = ("/api/", "/docs", "/openapi.json", "/redoc", "/healthz", "/metrics")

# No inline script or style anywhere: htmx is configured by a <meta> tag and its
# indicator styles come from portal.css.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def is_portal(path: str) -> bool:
    """Whether a path is the portal's (HTML) rather than the API's (JSON)."""
    return not path.startswith(MACHINE_PREFIXES)


class SecurityHeaders:
    """Adds the CSP and its companions to every portal answer (pages, redirects,
    static files, error pages)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_portal(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, sending)


def _error_page(request: Request, status: int, detail: str) -> Response:
    visit = web.visitor(request)
    titles = {
        403: "Action refusée",
        404: "Page introuvable",
        409: "Conflit",
        422: "Saisie invalide",
        429: "Trop de tentatives",
    }
    return visit.render(
        "error.html",
        status=status,
        status_code=status,
        title=titles.get(status, "Erreur"),
        detail=detail,
    )


def _sign_in_redirect(request: Request, exc: web.SignInNeeded) -> Response:
    query = urllib.parse.urlencode({"next": exc.back, "msg": exc.reason})
    if request.headers.get("hx-request"):
        # htmx follows redirects inside the page; make it load the sign-in page whole.
        return Response(status_code=204, headers={"HX-Redirect": f"/signin?{query}"})
    return RedirectResponse(f"/signin?{query}", status_code=303)


def _install_errors(app: FastAPI) -> None:
    previous: dict[Any, Any] = dict(app.exception_handlers)

    async def delegate(request: Request, exc: Exception, kind: Any) -> Response:
        handler = previous.get(kind)
        if handler is None:
            raise exc
        response: Response = await handler(request, exc)
        return response

    @app.exception_handler(web.SignInNeeded)
    async def _sign_in(request: Request, exc: web.SignInNeeded) -> Response:
        return _sign_in_redirect(request, exc)

    @app.exception_handler(web.CsrfRefused)
    async def _csrf(request: Request, exc: web.CsrfRefused) -> Response:
        return _error_page(
            request,
            403,
            "Ce formulaire n'a pas été reconnu (jeton de sécurité absent ou faux) : rien "
            "n'a été enregistré. Rechargez la page et recommencez.",
        )

    @app.exception_handler(NuagesError)
    async def _nuages(request: Request, exc: NuagesError) -> Response:
        if not is_portal(request.url.path):
            return await delegate(request, exc, NuagesError)
        status = exc.status
        if status == 403 and request.method in {"GET", "HEAD"}:
            status = 404  # what the visitor may not see does not exist for them
        # Said in the visitor's language by render (portal/errors.py).
        detail = error_text(exc) if status != 404 else ""
        return _error_page(request, status, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_portal(request.url.path):
            return await delegate(request, exc, StarletteHTTPException)
        return _error_page(request, exc.status_code, "")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_portal(request.url.path):
            return await delegate(request, exc, RequestValidationError)
        return _error_page(request, 422, "")


def _install_static(app: FastAPI) -> None:
    app.mount("/static/portal", StaticFiles(directory=HERE / "static"), name="portal-static")
    # Every assets/<name>/node_modules as /static/vendor/<name>/… (the portal's htmx,
    # the console's xterm.js): pinned npm packages, no build step.
    if not ASSETS.is_dir():
        return
    for folder in sorted(ASSETS.iterdir()):
        modules = folder / "node_modules"
        if modules.is_dir():
            app.mount(
                f"/static/vendor/{folder.name}",
                StaticFiles(directory=modules),
                name=f"vendor-{folder.name}",
            )
        elif (folder / "package.json").exists():
            log.warning("%s: run scripts/install.sh (npm ci) for its packages", folder)


def mount(app: FastAPI) -> None:
    """Add the portal to the app: pages, static files, headers, HTML errors."""
    for router in PAGES:
        app.include_router(router, include_in_schema=False)
    _install_static(app)
    _install_errors(app)
    app.add_middleware(SecurityHeaders)
