"""Request dependencies: the unit of work, the caller, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nuages.accounts import service as accounts
from nuages.accounts.principal import Principal
from nuages.kernel.db import Database
from nuages.kernel.errors import Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="an API token: `Bearer nua_…`")


def get_database(request: Request) -> Database:
    """The application's database."""
    database: Database = request.app.state.database
    return database


def _session(request: Request) -> Iterator[Session]:
    # scope="function" below: the commit happens before the response is sent, so a
    # failed commit becomes an error response instead of a lie.
    with get_database(request).unit() as session:
        yield session


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
