"""The portal's web layer: who is visiting, templates, CSRF, one-time forms, errors.

Pages are thin: they parse the form, call one service with the visitor's ``Principal``
(the same functions and the same permission rules as the API) and render a template.
The session cookie holds a sign-in token of the accounts slice (stored hashed there,
revoked on sign-out, expiring after a day), so a page's caller is authenticated exactly
like an API caller. See docs/portal.md, "Adding a page".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from nuages.accounts import service as accounts
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.kernel.db import Database
from nuages.kernel.errors import Unauthenticated
from nuages.portal import i18n, labels, words
from nuages.portal.errors import ErrorText, say, say_all
from nuages.portal.errors import of as error_text
from nuages.portal.messages import FLASH

TEMPLATES = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "nuages_session"
PRE_COOKIE = "nuages_pre"  # an anonymous visitor's CSRF key (sign-in, reset forms)
LANG_COOKIE = "nuages_lang"
SESSION_DAYS = 1


# ---------------------------------------------------------------- templates


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment: HTML autoescaped everywhere (names are client input)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = labels.label  # states, kinds, grounds (issue 12)
    env.filters["described"] = labels.described
    return env


# ---------------------------------------------------------------- the visit


class SignInNeeded(Exception):
    """No valid session: go to the sign-in page, then back to ``back``."""

    def __init__(self, back: str, reason: str) -> None:
        super().__init__(reason)
        self.back = back
        self.reason = reason


class CsrfRefused(Exception):
    """A form came without the visitor's CSRF token (forged, or from another site)."""


def _key_digest(key: str) -> str:
    return hmac.new(key.encode(), b"nuages-portal-csrf", hashlib.sha256).hexdigest()[:40]


def safe_back(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: no scheme, no //host)."""
    if not target:
        return default
    parsed = urllib.parse.urlsplit(target)
    path = parsed.path or "/"
    if parsed.scheme or parsed.netloc or not path.startswith("/") or path.startswith("//"):
        return default
    if "\\" in path:
        return default
    return path + (f"?{parsed.query}" if parsed.query else "")


@dataclass
class Visit:
    """One request to the portal: the visitor (None when anonymous), their language,
    their CSRF token, and helpers to open units and render pages."""

    request: Request
    principal: Principal | None
    lang: str
    csrf: str
    new_pre: str | None = None  # set the anonymous CSRF cookie on the answer
    _: Callable[..., str] = field(default=i18n.translator("fr"))

    @property
    def database(self) -> Database:
        database: Database = self.request.app.state.database
        return database

    @property
    def me(self) -> Principal:
        """The signed-in principal (pages behind ``signed_in`` only)."""
        assert self.principal is not None
        return self.principal

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit (no write lock: a page view never queues behind writers)."""
        with self.database.unit(readonly=True) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit that commits at the end, or rolls back entirely on an error."""
        with self.database.unit() as session:
            yield session

    def has(self, scope: Scope) -> bool:
        return self.principal is not None and self.principal.has(scope)

    def once(self) -> str:
        """A one-time token for a form (claimed when the form's act is done)."""
        from nuages.portal.service import new_once

        return new_once()

    def money(self, amount: Any, currency: str = "EUR") -> str:
        return i18n.money(amount, currency, self.lang)

    def when(self, moment: Any) -> str:
        return i18n.when(moment, self.lang)

    def day(self, value: Any) -> str:
        return i18n.day(value, self.lang)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a template with the visit's helpers (``_``, ``money``, ``when`` …)."""
        flash_key = self.request.query_params.get("msg", "")
        flash = FLASH.get(flash_key)
        if isinstance(context.get("errors"), dict):
            context["errors"] = say_all(context["errors"], self.lang)
        if "detail" in context:
            context["detail"] = say(context["detail"], self.lang)
        labels.LANG.set(self.lang)  # the filters' language, in imported macros too
        html = (
            environment()
            .get_template(name)
            .render(
                visit=self,
                me=self.principal,
                _=self._,
                lang=self.lang,
                csrf=self.csrf,
                path=self.request.url.path,
                flash=self._(flash) if flash else "",
                Scope=Scope,
                deadline_text=functools.partial(words.deadline, self.lang),
                **context,
            )
        )
        response = HTMLResponse(html, status_code=status)
        self.finish(response)
        return response

    def redirect(self, target: str, msg: str = "") -> RedirectResponse:
        """303 See Other to a local page, with a message key shown there."""
        target = safe_back(target)
        if msg:
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"msg": msg})
        response = RedirectResponse(target, status_code=303)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        if self.new_pre:
            set_cookie(self.request, response, PRE_COOKIE, self.new_pre, max_age=None)


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    """HttpOnly, SameSite=Lax, Secure when the portal is served over TLS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _principal(request: Request) -> tuple[Principal | None, str]:
    """The signed-in principal and '' , or None and why not ('' when no cookie)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, ""
    database: Database = request.app.state.database
    try:
        with database.unit(readonly=True) as session:
            principal = accounts.authenticate(session, token)
    except Unauthenticated:
        return None, "expired"
    request.state.portal_principal = principal
    return principal, ""


def visitor(request: Request) -> Visit:
    """Anyone: the principal when signed in, else an anonymous visit."""
    lang = i18n.pick(request.cookies.get(LANG_COOKIE))
    principal, _why = _principal(request)
    token = request.cookies.get(SESSION_COOKIE)
    new_pre = None
    if principal is not None and token:
        key = token
    else:
        key = request.cookies.get(PRE_COOKIE) or ""
        if not key:
            new_pre = key = secrets.token_urlsafe(24)
    return Visit(
        request, principal, lang, _key_digest(key), new_pre=new_pre, _=i18n.translator(lang)
    )


def _back_of(request: Request) -> str:
    if request.method in {"GET", "HEAD"}:
        return safe_back(
            str(request.url.path) + ("?" + request.url.query if request.url.query else "")
        )
    # A form posted after the session ended: come back to the page that showed it.
    referer = request.headers.get("referer", "")
    parsed = urllib.parse.urlsplit(referer)
    if parsed.netloc and parsed.netloc != request.url.netloc:
        return "/"
    return safe_back(parsed.path + (f"?{parsed.query}" if parsed.query else ""), "/")


def signed_in(request: Request) -> Visit:
    """A signed-in visitor, else the sign-in page (and back here afterwards)."""
    visit = visitor(request)
    if visit.principal is None:
        reason = "expired" if request.cookies.get(SESSION_COOKIE) else "signin"
        raise SignInNeeded(_back_of(request), reason)
    return visit


def staff_only(request: Request) -> Visit:
    """Provider staff; anyone else is told the page does not exist (404)."""
    visit = signed_in(request)
    if not visit.me.is_staff:
        from nuages.kernel.errors import NotFound

        raise NotFound("no such page")
    return visit


AnyVisit = Annotated[Visit, Depends(visitor)]
SignedIn = Annotated[Visit, Depends(signed_in)]
Staff = Annotated[Visit, Depends(staff_only)]


@dataclass
class Posted:
    """A posted form whose CSRF token matched: its fields and the visit."""

    visit: Visit
    form: FormData

    def get(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value if isinstance(value, str) else default

    def getlist(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    @property
    def once(self) -> str:
        return self.get("_once")


async def _check(request: Request, visit: Visit) -> Posted:
    form = await request.form()
    sent = form.get("_csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, visit.csrf) or visit.new_pre:
        raise CsrfRefused()
    return Posted(visit, form)


async def posted(request: Request, visit: SignedIn) -> Posted:
    """A signed-in visitor's form, CSRF checked (forged: 403 page, nothing written)."""
    return await _check(request, visit)


async def posted_anonymous(request: Request, visit: AnyVisit) -> Posted:
    """A form anyone may send (sign-in, reset), CSRF checked against the visitor's key."""
    return await _check(request, visit)


async def posted_staff(request: Request, visit: Staff) -> Posted:
    """A staff form, CSRF checked."""
    return await _check(request, visit)


PostedForm = Annotated[Posted, Depends(posted)]
PostedAnonymous = Annotated[Posted, Depends(posted_anonymous)]
PostedStaff = Annotated[Posted, Depends(posted_staff)]


# ---------------------------------------------------------------- errors next to fields


def field_errors(exc: Exception, fields: tuple[str, ...] = ()) -> dict[str, str]:
    """Errors by form field: a pydantic error names its field; a service error whose
    text starts with ``field:`` is put next to that field, else under ``_`` (the form).
    Each message is an ``errors.ErrorText``: ``render`` says it in the visitor's
    language (a French page never shows a service's English sentence)."""
    errors: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            loc = [str(part) for part in error.get("loc", ())]
            name = loc[0] if loc else "_"
            beside = not fields or name in fields
            text = ErrorText(
                error["msg"],
                "validation-failed",
                str(error.get("type")),
                error.get("ctx"),
                field=name if loc else None,
                beside=beside,
            )
            errors.setdefault(name if beside else "_", text)
        return errors
    said = error_text(exc)
    head, sep, rest = str(said).partition(":")
    name = head.strip().split(".")[0]
    if sep and name in fields:
        errors[name] = ErrorText(rest.strip(), said.slug, field=name, beside=True)
    elif said.field is not None and said.field in fields:
        # ValidationFailed(..., field=...): next to its field, as a ``field:`` prefix is
        errors[said.field] = ErrorText(str(said), said.slug, field=said.field, beside=True)
    else:
        errors["_"] = said
    return errors


# ---------------------------------------------------------------- paging


@dataclass(frozen=True)
class Paging:
    """``?page=&per_page=`` of a list page; bad values fall back to the defaults."""

    page: int = 1
    per_page: int = 25
    prefix: str = ""  # a second list on the same page reads ``?<prefix>page=``

    @classmethod
    def of(cls, request: Request, per_page: int = 25, prefix: str = "") -> Paging:
        def number(name: str, default: int, top: int) -> int:
            try:
                return max(1, min(top, int(request.query_params.get(prefix + name, default))))
            except ValueError:
                return default

        return cls(number("page", 1, 1_000_000), number("per_page", per_page, 200), prefix)

    def pages(self, total: int) -> int:
        return max(1, -(-total // self.per_page))
