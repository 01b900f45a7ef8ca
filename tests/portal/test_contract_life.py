"""The contract's deadlines and notice to quit in the portal (issue #21): the page lists
what is coming with its clause; the notice shows its effective date first (nothing
written), then is given once; another client's contract is a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.models import ContractTermination
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.db import Database
from tests.contracts.life_world import STAFF
from tests.factories import World
from tests.portal.conftest import signed_in
from tests.portal.harness import Browser, forms_of


def _contract(database: Database, offers: OfferRegistry, client_id: str) -> str:
    with database.unit() as session:
        contract = contracts.create_contract(
            session,
            STAFF,
            offers,
            contract_schemas.ContractCreate(
                offer_id="cloudbizz", client_id=client_id, accept_terms=True
            ),
        )
        contracts.transition(
            session, contract, ContractState.ACTIVE, HistoryActor.system("test"), "formed"
        )
        return contract.id


def _terminations(database: Database, contract_id: str) -> int:
    with database.unit() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ContractTermination)
                .where(ContractTermination.contract_id == contract_id)
            )
            or 0
        )


def test_001_s3_2_notice_shown_then_given_once(
    browser: Callable[[], Browser],
    user_with_password: Callable[..., Any],
    world: World,
    database: Database,
    offers: OfferRegistry,
) -> None:
    """001 §3.2: the page lists the last day for a notice with its clause; the notice
    form first shows the end date (31 December of the following year's term), then
    gives the notice once, a re-sent form doing nothing more."""
    client_id = world.client("Portal Life SA")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    contract_id = _contract(database, offers, client_id)
    visitor = signed_in(browser, email)
    assert f"/contracts/{contract_id}/life" in visitor.get("/").text  # linked from the dashboard
    page = visitor.get(f"/contracts/{contract_id}/life")
    assert page.status_code == 200 and "001 §3.2" in page.text
    preview = visitor.submit(
        f"/contracts/{contract_id}/life", f"/contracts/{contract_id}/termination"
    )
    assert preview.status_code == 200 and "in time" in preview.text
    assert _terminations(database, contract_id) == 0
    [confirm] = [f for f in forms_of(preview.text) if f.fields.get("confirm") == "yes"]
    done = visitor.post(confirm.action, confirm.fields)
    assert done.status_code == 200 and _terminations(database, contract_id) == 1
    again = visitor.post(confirm.action, confirm.fields)
    assert again.status_code == 200 and _terminations(database, contract_id) == 1


def test_another_clients_contract_page_is_404(
    browser: Callable[[], Browser],
    user_with_password: Callable[..., Any],
    world: World,
    database: Database,
    offers: OfferRegistry,
) -> None:
    mine = world.client("Mine SA")
    theirs = world.client("Theirs SA")
    _owner, email = user_with_password(Role.CLIENT_OWNER, mine)
    contract_id = _contract(database, offers, theirs)
    visitor = signed_in(browser, email)
    assert visitor.get(f"/contracts/{contract_id}/life").status_code == 404
