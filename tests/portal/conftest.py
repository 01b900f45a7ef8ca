"""Fixtures of the page tests: the real app over the test database (both backends), and
browsers (cookie jars) that sign in with real passwords."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import Actor, World
from tests.portal.harness import Browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def portal_app(settings: Settings, database: Database, offers: OfferRegistry) -> Iterator[FastAPI]:
    app = create_app(settings, database, offers)
    yield app
    compute = getattr(app.state, "compute", None)
    if compute is not None:
        compute.close()


@pytest.fixture
def browser(portal_app: FastAPI) -> Callable[[], Browser]:
    """A new visitor each call (its own cookies)."""
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(portal_app))
        return made[-1]

    return make


@pytest.fixture
def user_with_password(world: World) -> Callable[..., tuple[Actor, str]]:
    """A user of a role with a known password: (actor, e-mail)."""

    def make(role: Role, client_id: str | None) -> tuple[Actor, str]:
        actor = world.user(role, client_id, password=PASSWORD)
        with world.database.unit() as session:
            from nuages.accounts.models import User

            user = session.get(User, actor.user_id)
            assert user is not None
            email = user.email
        return actor, email

    return make


def signed_in(browser: Callable[[], Browser], email: str, **_: Any) -> Browser:
    visitor = browser()
    answer = visitor.sign_in(email, PASSWORD)
    assert answer.status_code == 200, answer.text[:500]
    return visitor
