"""Sign-in, sign-out, password reset by e-mail, language choice (SPEC §1: the "code
d'accès" to the administration interface, 000 §13.2, 002 §2).

Sign-in is the accounts slice's ``login`` (argon2id, the same as
``POST /api/v1/auth/token``); the token it issues is the session, kept in an HttpOnly
cookie. The lockout is ``accounts.lockout``, the same rule as the API's sign-in: an
address is locked for 15 minutes after 5 failures (right password or not), and failed
attempts from one client address are rate-limited.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import SecretStr, ValidationError

from nuages.accounts import lockout, passwords
from nuages.accounts import service as accounts
from nuages.accounts.schemas import Login
from nuages.history.service import Actor
from nuages.notices import service as notices
from nuages.portal import i18n
from nuages.portal import service as portal
from nuages.portal.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    SESSION_DAYS,
    AnyVisit,
    PostedAnonymous,
    PostedForm,
    safe_back,
    set_cookie,
)

log = logging.getLogger("nuages.portal")
router = APIRouter()
MIN_PASSWORD = 12


def _limiter(request: Request, purpose: str = "sign_in_limiter") -> lockout.AddressLimiter:
    # The sign-in limiter is the API's too (accounts.lockout): one budget per address.
    return lockout.limiter_of(request.app.state, purpose)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/signin")
def signin_page(visit: AnyVisit, next: str = "/") -> Response:
    """The sign-in form."""
    if visit.principal is not None:
        return visit.redirect(safe_back(next))
    return visit.render("signin.html", next=safe_back(next), email="", errors={})


@router.post("/signin")
def signin(posted: PostedAnonymous) -> Response:
    """Check the password (argon2id), open a session, go back where the visitor was."""
    visit, request = posted.visit, posted.visit.request
    _ = visit._
    email = posted.get("email").strip()
    back = safe_back(posted.get("next"), "/")
    try:
        body = Login(email=email, password=SecretStr(posted.get("password")), days=SESSION_DAYS)
    except ValidationError:
        return visit.render(
            "signin.html",
            status=422,
            next=back,
            email=email,
            errors={"email": _("Saisissez une adresse e-mail valide.")},
        )
    try:
        with visit.write() as session:
            outcome = lockout.attempt(session, body, _address(request), _limiter(request))
    except lockout.SignInLocked as locked:
        if locked.until is not None:
            return _locked(visit, back, email, locked.until)
        return visit.render(
            "signin.html",
            status=429,
            next=back,
            email=email,
            errors={
                "_": _(
                    "Trop de tentatives depuis votre adresse : réessayez dans {n} secondes.",
                    n=locked.retry_after,
                )
            },
        )
    if outcome.locked_until is not None:
        return _locked(visit, back, email, outcome.locked_until)
    if outcome.failed is not None:
        return visit.render(
            "signin.html",
            status=401,
            next=back,
            email=email,
            errors={"_": _("E-mail ou mot de passe incorrect.")},
        )
    clear = outcome.clear
    # Came back from an expired session: say the form must be sent again.
    msg = "resubmit" if posted.get("reason") == "expired" else ""
    response = visit.redirect(back, msg)
    set_cookie(request, response, SESSION_COOKIE, clear, max_age=SESSION_DAYS * 86400)
    return response


def _locked(visit: AnyVisit, back: str, email: str, until: object) -> Response:
    _ = visit._
    return visit.render(
        "signin.html",
        status=429,
        next=back,
        email=email,
        errors={
            "_": _(
                "Trop d'échecs pour cette adresse : elle est bloquée jusqu'à {when}. "
                "Vous pouvez aussi réinitialiser votre mot de passe.",
                when=visit.when(until),
            )
        },
    )


@router.post("/signout")
def signout(posted: PostedForm) -> Response:
    """Revoke the session's token and forget the cookie."""
    visit = posted.visit
    with visit.write() as session:
        if visit.me.token_id is not None:
            accounts.revoke_token(session, visit.me, visit.me.token_id)
    response = visit.redirect("/signin", "signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")
def choose_language(posted: PostedAnonymous) -> Response:
    """Switch between French and English (a cookie, for a year)."""
    visit = posted.visit
    lang = i18n.pick(posted.get("lang"))
    response = visit.redirect(safe_back(posted.get("next"), "/"))
    set_cookie(visit.request, response, LANG_COOKIE, lang, max_age=365 * 86400)
    return response


# ---------------------------------------------------------------- password reset


@router.get("/reset")
def reset_page(visit: AnyVisit) -> Response:
    """Ask for a reset link by e-mail."""
    return visit.render("reset.html", email="", errors={})


@router.post("/reset")
def reset_ask(posted: PostedAnonymous) -> Response:
    """Send a reset link to the user's address through the notices outbox (a client's
    user or provider staff: kind ``password_reset`` goes to the user alone, with no
    client for staff). The answer is the same whether the address is known or not (no
    account discovery)."""
    visit, request = posted.visit, posted.visit.request
    email = posted.get("email").strip()[:254]
    if _limiter(request, "reset_limiter").allow(_address(request)):
        return visit.render(
            "reset.html",
            status=429,
            email=email,
            errors={"_": visit._("Trop de demandes depuis votre adresse : patientez.")},
        )
    with visit.write() as session:
        user = passwords.find_active(session, email) if "@" in email else None
        if user is not None:
            token = portal.issue_reset(session, user)
            link = str(request.base_url).rstrip("/") + f"/reset/new?token={token}"
            notices.queue(
                session,
                Actor(user.id, user.email),
                "password_reset",
                client_id=user.client_id,
                object_type="user",
                object_id=user.id,
                context={"email": user.email, "link": link},
                key=f"password_reset:{portal.digest_of(token)}",
            )
    return visit.redirect("/signin", "reset_sent")


@router.get("/reset/new")
def reset_form(visit: AnyVisit, token: str = "") -> Response:
    """The new-password form of a valid reset link."""
    with visit.read() as session:
        valid = bool(token) and len(token) < 100 and portal.reset_valid(session, token)
    if not valid:
        return visit.redirect("/reset", "reset_invalid")
    return visit.render("reset_new.html", token=token, errors={})


@router.post("/reset/new")
def reset_done(posted: PostedAnonymous) -> Response:
    """Set the new password (once per link); the address's lockout is lifted."""
    visit = posted.visit
    _ = visit._
    token, password = posted.get("token"), posted.get("password")
    errors: dict[str, str] = {}
    if len(password) < MIN_PASSWORD:
        errors["password"] = _("Au moins {n} caractères.", n=MIN_PASSWORD)
    elif len(password) > 256:
        errors["password"] = _("Au plus 256 caractères.")
    elif password != posted.get("confirm"):
        errors["confirm"] = _("Les deux mots de passe diffèrent.")
    if errors:
        return visit.render("reset_new.html", status=422, token=token, errors=errors)
    with visit.write() as session:
        user_id = portal.take_reset(session, token) if token else None
        user = passwords.reset_password(session, user_id, password) if user_id else None
        if user is not None:
            lockout.clear_failures(session, user.email)
    if user is None:
        return visit.redirect("/reset", "reset_invalid")
    return visit.redirect("/signin", "reset_done")
