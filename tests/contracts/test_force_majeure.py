"""003 §9 force majeure counted over every period: "si le cas de force majeure dure plus
de trente (30) jours, consécutifs ou non, chacune des parties pourra résilier le contrat
… moyennant le respect d'un préavis de quinze (15) jours". The right opens once the
periods together pass 30 days; the client is told once; the termination takes effect
15 days after it is given. virtualsr-svp, Europe/Paris."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.contracts.life_world import PARIS, Life, local
from tests.factories import Actor, World


@pytest.fixture
def life(database: Database, world: World, offers: OfferRegistry, client: TestClient) -> Life:
    return Life(database, world, offers, client)


@pytest.fixture
def admin(world: World) -> Actor:
    with frozen_at(local(PARIS, 2026, 3, 1, 9, 0)):  # a token valid for the whole life
        return world.user(Role.PROVIDER_ADMIN, None, days=3650)


def _post(life: Life, at: dt.datetime, path: str, who: Actor, body: dict[str, object]) -> object:
    with frozen_at(at):
        return life.http.post(f"/api/v1{path}", json=body, headers=who.headers)


def _force_majeure(life: Life, admin: Actor, contract_id: str, at: dt.datetime) -> dict[str, str]:
    given = _post(life, at, f"/contracts/{contract_id}/formal-notices", admin,
                  {"ground": "force_majeure", "reason": "data centre flooded"})  # fmt: skip
    assert given.status_code == 201, given.json()  # type: ignore[attr-defined]
    body: dict[str, str] = given.json()  # type: ignore[attr-defined]
    return body


def _lift(life: Life, admin: Actor, contract_id: str, hold_id: str, at: dt.datetime) -> None:
    done = _post(life, at, f"/contracts/{contract_id}/holds/{hold_id}/lift", admin,
                 {"reason": "power restored"})  # fmt: skip
    assert done.status_code == 200, done.json()  # type: ignore[attr-defined]


def _told(life: Life, contract_id: str) -> int:
    with life.database.unit() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Notice)
                .where(Notice.contract_id == contract_id, Notice.kind == "force_majeure_terminable")
            )
            or 0
        )


def test_003_s9_consecutive_30_days_then_termination_with_15_days_notice(
    life: Life, admin: Actor
) -> None:
    """Force majeure from 1 April 10:00 Paris, running: 30 days (2 April – 1 May) give the
    right from 2 May 00:00; the client is told on the first daily pass from then, once;
    its notice on 2 May 09:00 takes effect after 15 days (3–17 May): 18 May 00:00."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    body = _force_majeure(life, admin, contract_id, local(PARIS, 2026, 4, 1, 10, 0))
    assert dt.datetime.fromisoformat(body["terminable_from"]) == local(PARIS, 2026, 5, 2, 0, 0)
    assert (
        life.daily(local(PARIS, 2026, 5, 1, 23, 0))["acts"] == 0 and _told(life, contract_id) == 0
    )
    assert life.daily(local(PARIS, 2026, 5, 2, 1, 0))["other"] == [contract_id]
    assert life.daily(local(PARIS, 2026, 5, 2, 2, 0))["acts"] == 0  # twice the same day: once
    assert _told(life, contract_id) == 1
    status, plan = life.notice(contract_id, owner, local(PARIS, 2026, 5, 2, 9, 0), confirm=True,
                               cause="force_majeure")  # fmt: skip
    assert status == 200, plan
    assert dt.datetime.fromisoformat(str(plan["effective_at"])) == local(PARIS, 2026, 5, 18, 0, 0)
    assert "003 §9" in str(plan["message"])
    assert life.contract(contract_id).state == "suspended"  # the 15 days run
    assert life.daily(local(PARIS, 2026, 5, 18, 1, 0))["ended"] == [contract_id]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "force_majeure"
    assert ended.ended_at == local(PARIS, 2026, 5, 18, 0, 0)


def test_003_s9_split_periods_add_up_to_the_30_days(life: Life, admin: Actor) -> None:
    """A first force majeure from 1 April 10:00 to 21 April 10:00 Paris (20 days), a
    second from 1 June 10:00: 10 days remain (2–11 June), so either party may terminate
    from 12 June 00:00, not 2 July as a count of the second period alone would give. A
    notice on 11 June 23:00 is refused (409, 003 §9); the daily pass of 12 June tells the
    client; a notice on 12 June 09:00 takes effect 15 days later (13–27 June): 28 June."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    first = _force_majeure(life, admin, contract_id, local(PARIS, 2026, 4, 1, 10, 0))
    _lift(life, admin, contract_id, first["hold_id"], local(PARIS, 2026, 4, 21, 10, 0))
    life.daily(local(PARIS, 2026, 4, 22, 1, 0))  # the first event is over
    assert life.contract(contract_id).state == "active"
    assert _told(life, contract_id) == 0  # 20 days: no right yet
    second = _force_majeure(life, admin, contract_id, local(PARIS, 2026, 6, 1, 10, 0))
    opens = local(PARIS, 2026, 6, 12, 0, 0)
    assert dt.datetime.fromisoformat(second["terminable_from"]) == opens
    with frozen_at(local(PARIS, 2026, 6, 1, 11, 0)):
        listed = life.http.get(f"/api/v1/contracts/{contract_id}/deadlines",
                               headers=owner.headers).json()  # fmt: skip
    terminable = [d["at"] for d in listed if d["kind"] == "force_majeure-terminable"]
    assert [dt.datetime.fromisoformat(at) for at in terminable] == [opens]
    early = life.notice(contract_id, owner, local(PARIS, 2026, 6, 11, 23, 0), confirm=True,
                        cause="force_majeure")  # fmt: skip
    assert early[0] == 409 and "003 §9" in early[1]["detail"]
    assert life.counts(contract_id)[0] == 0
    assert life.daily(local(PARIS, 2026, 6, 12, 1, 0))["other"] == [contract_id]
    assert _told(life, contract_id) == 1
    status, plan = life.notice(contract_id, owner, local(PARIS, 2026, 6, 12, 9, 0), confirm=True,
                               cause="force_majeure")  # fmt: skip
    assert status == 200, plan
    assert dt.datetime.fromisoformat(str(plan["effective_at"])) == local(PARIS, 2026, 6, 28, 0, 0)
