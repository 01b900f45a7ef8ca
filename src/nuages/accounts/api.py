"""REST endpoints of the accounts slice: clients, users, tokens, sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from nuages.accounts import lockout, schemas, service
from nuages.api import problems
from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.kernel.validation import Page, page_of

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post(
    "/auth/token", status_code=status.HTTP_201_CREATED, response_model=schemas.TokenCreated
)
def sign_in(body: schemas.Login, request: Request, session: SessionDep) -> object:
    """Exchange an e-mail and password for an API token (shown once).

    The portal's lockout rule (``accounts.lockout``): after 5 failures within 15
    minutes the e-mail address is refused until the window passes, right password or
    not, and failed attempts from one client address are rate-limited: both answer 429
    ``sign-in-locked`` with ``Retry-After`` (seconds). A wrong password is a 401 whose
    failure is counted (the unit commits it)."""
    address = request.client.host if request.client else ""
    limiter = lockout.limiter_of(request.app.state)
    try:
        outcome = lockout.attempt(session, body, address, limiter)
    except lockout.SignInLocked as exc:
        return _locked(request, exc)
    if outcome.locked_until is not None:
        return _locked(request, lockout.locked_error(outcome.locked_until))
    if outcome.failed is not None:
        failed = outcome.failed
        return problems.problem(
            failed.status, failed.slug, failed.title, failed.detail, request.url.path
        )
    assert outcome.token is not None
    return {**schemas.TokenOut.model_validate(outcome.token).model_dump(), "token": outcome.clear}


def _locked(request: Request, exc: lockout.SignInLocked) -> JSONResponse:
    return problems.problem(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        request.url.path,
        headers={"Retry-After": str(exc.retry_after)},
        retry_after=exc.retry_after,
    )


@router.get("/me", response_model=schemas.UserOut)
def me(principal: PrincipalDep, session: SessionDep) -> object:
    """The calling user."""
    return service.get_user(session, principal, principal.user_id)


@router.post("/clients", status_code=status.HTTP_201_CREATED, response_model=schemas.ClientOut)
def create_client(
    body: schemas.ClientCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Create a client (provider staff)."""
    return service.create_client(session, principal, body)


@router.get("/clients", response_model=Page[schemas.ClientOut])
def list_clients(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """Clients the caller may see."""
    items, total = service.list_clients(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/clients/{client_id}", response_model=schemas.ClientOut)
def get_client(client_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One client."""
    return service.get_client(session, principal, client_id)


@router.patch("/clients/{client_id}", response_model=schemas.ClientOut)
def update_client(
    client_id: str, body: schemas.ClientUpdate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Change a client's name, VAT number or billing e-mail."""
    return service.update_client(session, principal, client_id, body)


@router.post(
    "/clients/{client_id}/users",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.UserOut,
)
def create_client_user(
    client_id: str, body: schemas.UserCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Add an owner, member or guest to a client."""
    return service.create_user(session, principal, client_id, body)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=schemas.UserOut)
def create_staff_user(
    body: schemas.UserCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Add a provider staff member (admins)."""
    return service.create_user(session, principal, None, body)


@router.get("/users", response_model=Page[schemas.UserOut])
def list_users(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    client_id: Annotated[str | None, Query(max_length=36)] = None,
) -> object:
    """Users the caller may see."""
    items, total = service.list_users(session, principal, paging.page, paging.per_page, client_id)
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/users/{user_id}", response_model=schemas.UserOut)
def get_user(user_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One user."""
    return service.get_user(session, principal, user_id)


@router.patch("/users/{user_id}", response_model=schemas.UserOut)
def update_user(
    user_id: str, body: schemas.UserUpdate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Change a user's role, status, decider flag or password."""
    return service.update_user(session, principal, user_id, body)


@router.put("/users/{user_id}/email", response_model=schemas.UserOut)
def change_email(
    user_id: str, body: schemas.EmailChange, principal: PrincipalDep, session: SessionDep
) -> object:
    """Give a user a new e-mail address (provider admins with the admin scope)."""
    return service.change_email(session, principal, user_id, body.email)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=schemas.TokenCreated)
def create_token(body: schemas.TokenCreate, principal: PrincipalDep, session: SessionDep) -> object:
    """A new token minted by the calling one: a subset of its scopes, expiring no later
    than it (the expiry is clipped), revoked with it; it appears in this answer only."""
    token, clear = service.create_token(session, principal, body)
    return {**schemas.TokenOut.model_validate(token).model_dump(), "token": clear}


@router.get("/tokens", response_model=Page[schemas.TokenOut])
def list_tokens(principal: PrincipalDep, session: SessionDep, paging: PageDep) -> object:
    """The caller's tokens (never the secrets)."""
    items, total = service.list_tokens(session, principal, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.delete("/tokens/{token_id}", response_model=schemas.TokenOut)
def revoke_token(token_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Revoke a token at once, with every token it minted (one's own: write scope;
    another user's: provider admins with the admin scope)."""
    return service.revoke_token(session, principal, token_id)
