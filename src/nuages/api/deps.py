"""Request dependencies: the unit of work, the caller, pagination."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nuages.accounts import service as accounts
from nuages.accounts import token_use
from nuages.accounts.principal import Principal
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import Unauthenticated

log = logging.getLogger("nuages.api")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="an API token: `Bearer nua_…`")


def get_database(request: Request) -> Database:
    """The application's database."""
    database: Database = request.app.state.database
    return database


def _session(request: Request) -> Iterator[Session]:
    # scope="function" below: the commit happens before the response is sent, so a
    # failed commit becomes an error response instead of a lie.
    # Reads get a unit that takes no write lock (17.1): a storm of GETs never queues
    # behind, or in front of, the writers.
    database = get_database(request)
    with database.unit(readonly=request.method in READ_METHODS) as session:
        yield session
    _note_token_use(request, database)


def _note_token_use(request: Request, database: Database) -> None:
    """Write the caller's token ``last_used_at`` in its own short transaction, after
    the request's own one, at most once a minute per token; never fail the request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    uses: token_use.TokenUses | None = getattr(request.app.state, "token_uses", None)
    if principal is None or principal.token_id is None or uses is None:
        return
    now = utc_now()
    if not uses.due(principal.token_id, now):
        return
    try:
        with database.unit() as session:
            token_use.record_use(session, principal.token_id, now)
    except Exception:  # a usage hint is not worth failing an answered request
        log.warning("could not record the use of token %s", principal.token_id, exc_info=True)


SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send an API token as 'Authorization: Bearer …'")
    principal = accounts.authenticate(session, credentials.credentials)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]


class PageParams:
    """``?page=&per_page=`` on every list endpoint."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> None:
        self.page = page
        self.per_page = per_page


PageDep = Annotated[PageParams, Depends()]
