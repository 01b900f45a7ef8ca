"""schemathesis over the OpenAPI schema, against the app: no 5xx, responses match.

(schemathesis' pytest plugin does not run under pytest 9 yet, so each operation's
hypothesis strategy is driven directly; the checks are schemathesis' own.)
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import World

from .routes import api_routes

_APP = create_app(Settings(database_url="sqlite://"))
OPERATIONS = [(r.method, r.path) for r in api_routes(_APP)]
# The OpenAPI document, built once: FastAPI builds it again for each new app, 0.8 s of
# each of the 428 cases below (674 s in all before, 240 s since); it does not depend on
# the settings or database (test_the_document_is_the_same_for_every_app).
DOCUMENT: dict[str, Any] = json.loads(json.dumps(_APP.openapi()))  # as served


def test_the_document_is_the_same_for_every_app(
    settings: Settings, database: Database, offers: OfferRegistry
) -> None:
    """The document each case below reads is the one an app built as the cases build
    theirs (the test's settings, database and offers) serves at /openapi.json."""
    with TestClient(create_app(settings, database, offers)) as client:
        assert client.get("/openapi.json").json() == DOCUMENT


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms(
    method: str, path: str, settings: Settings, database: Database, offers: OfferRegistry
) -> None:
    """No 5xx and every response matches the documented schema, for generated inputs."""
    world = World(database)
    admin = world.admin()
    world.user(Role.CLIENT_OWNER, world.client())
    app = create_app(settings, database, offers)
    with TestClient(app):
        schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
        schema.app = app  # each case is sent to this app, on this test's database
        schema.location = "/openapi.json"
        operation = schema[path][method.lower()]

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case) -> None:
            # Business checks that JSON Schema cannot express (a VAT checksum, an ISO
            # country) refuse some schema-valid inputs with a 422 problem: that is
            # correct, so the positive-data check is off; every other check runs.
            # A generous read timeout: on a loaded shared machine one request in a few
            # thousand waited past schemathesis's default 10 s (a stall of the machine,
            # not of the route: the same input answered at once when replayed).
            case.call_and_validate(
                headers=admin.headers, excluded_checks=[positive_data_acceptance], timeout=60
            )

        run()
