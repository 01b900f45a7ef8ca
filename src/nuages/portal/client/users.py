"""Users (owners — the Responsables —, members, guests; the designated Responsable who
decides on terms changes, 000 §1, §4, §5; 004 §1, §6.2) and API tokens.

A token made here is a sign-in of its own (``accounts.login``, the visitor types their
password again): a token minted from the portal session would expire and be revoked
with it (tokens never outlive the token that mints them).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import SecretStr, ValidationError

from nuages.accounts import schemas
from nuages.accounts import service as accounts
from nuages.accounts.roles import OWNER_ASSIGNABLE, ROLE_SCOPES, Role, Scope
from nuages.kernel.errors import NotFound, NuagesError, Unauthenticated
from nuages.portal import service as portal
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
USER_FIELDS = ("email", "name", "role", "password", "is_terms_decider")
TOKEN_FIELDS = ("name", "scopes", "days", "password")


def _users(visit: Visit, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = accounts.list_users(session, visit.me, paging.page, paging.per_page)
        return visit.render(
            "client/users.html",
            status=status,
            users=shown,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            filters={},
            roles=[r.value for r in Role if r in OWNER_ASSIGNABLE],
            may_manage=visit.me.role == Role.CLIENT_OWNER,
            values=values,
            errors=errors,
            once=visit.once(),
        )


@router.get("/users")
def user_list(visit: SignedIn) -> Response:
    """The client's users; an owner adds and changes them."""
    return _users(visit, {}, {}, 200)


@router.post("/users")
def user_add(posted: PostedForm) -> Response:
    """Add an owner, member or guest (owners only, the accounts slice decides)."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name) for name in USER_FIELDS}
    try:
        body = schemas.UserCreate(
            email=values["email"].strip(),
            name=values["name"],
            role=Role(values["role"]) if values["role"] in Role._value2member_map_ else "x",
            password=SecretStr(values["password"]) if values["password"] else None,
            is_terms_decider=values["is_terms_decider"] == "yes",
        )
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, "/users")
            accounts.create_user(session, visit.me, visit.me.client_id, body)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/users", "already_sent")
    except (NuagesError, ValidationError) as exc:
        status = exc.status if isinstance(exc, NuagesError) else 422
        values["password"] = ""
        return _users(visit, values, field_errors(exc, USER_FIELDS), status)
    return visit.redirect("/users", "user_added")


@router.post("/users/{user_id}")
def user_change(posted: PostedForm, user_id: str) -> Response:
    """Change a user's role, designate the Responsable, disable or enable them."""
    visit = posted.visit
    change: dict[str, Any] = {}
    if posted.get("role") in Role._value2member_map_:
        change["role"] = Role(posted.get("role"))
    if posted.get("active") in ("yes", "no"):
        change["active"] = posted.get("active") == "yes"
    if posted.get("is_terms_decider") in ("yes", "no"):
        change["is_terms_decider"] = posted.get("is_terms_decider") == "yes"
    try:
        with visit.write() as session:
            accounts.update_user(session, visit.me, user_id, schemas.UserUpdate(**change))
    except NotFound:
        raise
    except (NuagesError, ValidationError) as exc:
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _users(visit, {}, field_errors(exc), status)
    return visit.redirect("/users", "user_changed")


# ---------------------------------------------------------------- tokens


def _tokens(
    visit: Visit, errors: dict[str, str], status: int, created: str = "", values: Any = None
) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = accounts.list_tokens(session, visit.me, paging.page, paging.per_page)
        return visit.render(
            "client/tokens.html",
            status=status,
            tokens=shown,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            filters={},
            scopes=sorted(s.value for s in ROLE_SCOPES[visit.me.role]),
            created=created,
            errors=errors,
            values=values or {},
            once=visit.once(),
        )


@router.get("/tokens")
def token_list(visit: SignedIn) -> Response:
    """The visitor's tokens (never their secrets) and the form for a new one."""
    return _tokens(visit, {}, 200)


@router.post("/tokens")
def token_create(posted: PostedForm) -> Response:
    """A new API token, shown once on this page; the password proves it is the user."""
    visit = posted.visit
    days = posted.get("days") or "90"
    values: dict[str, Any] = {"days": days, "scopes": posted.getlist("scopes")}
    try:
        body = schemas.Login(
            email=visit.me.email,
            password=SecretStr(posted.get("password")),
            scopes=[Scope(s) for s in values["scopes"] if s in Scope._value2member_map_],
            days=int(days) if days.isdigit() else 0,
        )
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, "/tokens")
            _token, clear = accounts.login(session, body)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/tokens", "already_sent")
    except Unauthenticated:
        errors = {"password": visit._("Mot de passe incorrect.")}
        return _tokens(visit, errors, 401, values=values)
    except (NuagesError, ValidationError) as exc:
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _tokens(visit, field_errors(exc, TOKEN_FIELDS), status, values=values)
    return _tokens(visit, {}, 201, created=clear)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(posted: PostedForm, token_id: str) -> Response:
    """Revoke a token at once, with every token it minted."""
    visit = posted.visit
    with visit.write() as session:
        accounts.revoke_token(session, visit.me, token_id)
    if token_id == visit.me.token_id:
        return visit.redirect("/signin", "signed_out")
    return visit.redirect("/tokens", "token_revoked")
