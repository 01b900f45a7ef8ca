"""The contract's exit page in the portal (issue 21.6): its state, deadline and clause,
the copies' SHA-256, in French and English; another client's contract is a 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from nuages.accounts.roles import Role
from nuages.kernel.clock import set_now
from nuages.reversibility import service
from tests.compute.world import CLI, ComputeWorld, make_runtime
from tests.factories import World
from tests.portal.conftest import PASSWORD
from tests.portal.harness import Browser

UTC = dt.UTC


def test_exit_page_shows_the_deadline_and_clause(
    portal_app: FastAPI,
    browser: Callable[[], Browser],
    user_with_password: Callable[..., Any],
    world: World,
    tmp_path: Any,
) -> None:
    """004 §17.2: the page shows the exit's state, its deadline (the 15 days) with its
    clause; a visitor of another client gets 404."""
    runtime = make_runtime(tmp_path / "data", world.database)
    portal_app.state.compute = runtime
    cw = ComputeWorld(world, runtime, portal_app.state.offers, tmp_path)
    client_id = world.client("Page SARL")
    (_owner, email) = user_with_password(Role.CLIENT_OWNER, client_id)
    (_other, other_email) = user_with_password(Role.CLIENT_OWNER, world.client("Autre SA"))
    contract_id = cw.contract(client_id, "optima-cloud-azure")
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    with world.database.unit() as session:
        service.end_now(session, CLI, contract_id, "client_notice")
    service.run_daily(world.database, cw.offers, runtime)
    visitor = browser()
    assert visitor.sign_in(email, PASSWORD).status_code == 200
    page = visitor.get(f"/contracts/{contract_id}/exit")
    assert page.status_code == 200, page.text[:500]
    assert "Fin de contrat" in page.text and "004 §17.2" in page.text
    assert "last day to ask for a full backup of each VM" in page.text
    stranger = browser()
    stranger.sign_in(other_email, PASSWORD)
    assert stranger.get(f"/contracts/{contract_id}/exit").status_code == 404
    _ = PASSWORD
