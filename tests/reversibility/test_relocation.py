"""001 §5: a move of the data outside the EU (issue #21 item 2). 001 §5.3: only after a
written notice at least 3 months ahead (i) and letting the client terminate early and
without indemnity within 30 days of the notification (ii); 001 §5.4: to a country
without an adequate level of protection only with the client's prior written consent
and safeguards; 001 §5.2: within the EU no notice is due. cloudbizz, Europe/Brussels:
formed 10 March 2026, its first term ends 1 January 2028 00:00 (001 §3.1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from nuages.reversibility.models import ContractRelocation
from tests.compute.world import ComputeWorld, make_runtime
from tests.contracts.life_world import BRUSSELS, Life, local
from tests.factories import Actor, World

FORMED = local(BRUSSELS, 2026, 3, 10, 11, 0)
NOTIFIED = local(BRUSSELS, 2026, 6, 1, 10, 0)


@pytest.fixture
def life(database: Database, world: World, offers: OfferRegistry, client: TestClient) -> Life:
    return Life(database, world, offers, client)


@pytest.fixture
def cw(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database
) -> Iterator[ComputeWorld]:
    runtime = make_runtime(tmp_path / "data", database)
    try:
        yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()


@pytest.fixture
def admin(world: World) -> Actor:
    with frozen_at(local(BRUSSELS, 2026, 3, 1, 9, 0)):  # a token valid for the whole life
        return world.user(Role.PROVIDER_ADMIN, None, days=3650)


def _move(
    life: Life, who: Actor, contract_id: str, at: dt.datetime, **body: object
) -> tuple[int, dict[str, object]]:
    payload = {"subject": "vms", "site": "montreal-1", "reason": "consolidation", **body}
    with frozen_at(at):
        r = life.http.post(f"/api/v1/contracts/{contract_id}/relocations", json=payload,
                           headers=who.headers)  # fmt: skip
    return r.status_code, r.json()


def _rows(life: Life, contract_id: str) -> tuple[int, int]:
    with life.database.unit() as session:
        moves = session.scalar(
            select(func.count())
            .select_from(ContractRelocation)
            .where(ContractRelocation.contract_id == contract_id)
        )
        notices = session.scalar(
            select(func.count())
            .select_from(Notice)
            .where(Notice.contract_id == contract_id, Notice.kind == "relocation_announced")
        )
    return int(moves or 0), int(notices or 0)


def test_001_s5_3_move_outside_the_eu_opens_a_30_day_exit_without_notice_period(
    life: Life, cw: ComputeWorld, admin: Actor
) -> None:
    """A host serves site montreal-1 in CA (adequacy decision, GDPR Art. 45). Announced on
    1 June 2026 10:00 Brussels: "au moins 3 mois à l'avance", the 3 months counted from the
    next day (2 June – 1 September), the data may move from 2 September 00:00 (001 §5.3
    (i)); the client may terminate without indemnity for 30 days from the notification
    (2 June – 1 July): until 2 July 00:00 (ii). The client is notified at once; the exit
    is listed among the deadlines; a notice to quit on 20 June ends the contract at once
    (no notice period, not at the 1 January 2028 term)."""
    cw.host(site="montreal-1", country="CA", name="mtl-a")
    contract_id, owner, _member = life.form("cloudbizz", FORMED)
    status, body = _move(life, admin, contract_id, NOTIFIED)
    assert status == 201, body
    assert body["country"] == "CA" and "Art. 45" in str(body["transfer_basis"])
    assert dt.datetime.fromisoformat(str(body["exit_until"])) == local(BRUSSELS, 2026, 7, 2, 0, 0)
    assert dt.datetime.fromisoformat(str(body["moves_at"])) == local(BRUSSELS, 2026, 9, 2, 0, 0)
    assert _rows(life, contract_id) == (1, 1)  # recorded and notified
    with frozen_at(NOTIFIED):
        listed = life.http.get(f"/api/v1/contracts/{contract_id}/deadlines",
                               headers=owner.headers).json()  # fmt: skip
    exits = [d for d in listed if d["kind"] == "penalty-free-exit"]
    assert [dt.datetime.fromisoformat(d["at"]) for d in exits] == [local(BRUSSELS, 2026, 7, 2)]
    assert exits[0]["clause"] == "001 §5.3"
    at = local(BRUSSELS, 2026, 6, 20, 9, 0)
    status, plan = life.notice(contract_id, owner, at, confirm=False)
    assert status == 200, plan
    assert plan["penalty_free"] == "after-relocation-outside-eu"
    assert dt.datetime.fromisoformat(str(plan["effective_at"])) == at
    assert "001 §5.3" in str(plan["message"])
    status, given = life.notice(contract_id, owner, at, confirm=True, reason="data leaves the EU")
    assert status == 200, given
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.ended_at == at
    assert ended.state_reason == "client_notice"


def test_001_s5_3_exit_window_closes_after_30_days(life: Life, admin: Actor) -> None:
    """The window's last day is 1 July: a notice on 2 July 09:00 is an ordinary notice
    to quit, effective at the term (1 January 2028, 001 §3.2)."""
    contract_id, owner, _ = life.form("cloudbizz", FORMED)
    status, body = _move(life, admin, contract_id, NOTIFIED, country="CA")
    assert status == 201, body
    status, plan = life.notice(contract_id, owner, local(BRUSSELS, 2026, 7, 2, 9, 0),
                               confirm=False)  # fmt: skip
    assert status == 200 and plan["penalty_free"] == "", plan
    assert dt.datetime.fromisoformat(str(plan["effective_at"])) == local(BRUSSELS, 2028, 1, 1)


def test_001_s5_bad_moves_are_refused_and_write_nothing(
    life: Life, cw: ComputeWorld, admin: Actor
) -> None:
    """Within the EU (a BE site): 422 naming 001 §5.2; a move sooner than 3 months after
    the notice: 422 naming 001 §5.3; to a country without an adequacy decision (IN)
    without the client's consent: 422 naming 001 §5.4; the client's own owner: 403; an
    offer stating no move (isstar-cloud): 409. Nothing recorded, nobody notified."""
    cw.host(site="interxion-zav-1", country="BE", name="zav-a")
    contract_id, owner, _ = life.form("cloudbizz", FORMED)
    status, body = _move(life, admin, contract_id, NOTIFIED, site="interxion-zav-1")
    assert status == 422 and "001 §5.2" in str(body["detail"]), body
    status, body = _move(life, admin, contract_id, NOTIFIED, country="CA",
                         moves_at=local(BRUSSELS, 2026, 8, 1).isoformat())  # fmt: skip
    assert status == 422 and "001 §5.3" in str(body["detail"]), body
    status, body = _move(life, admin, contract_id, NOTIFIED, country="IN")
    assert status == 422 and "001 §5.4" in str(body["detail"]), body
    status, body = _move(life, owner, contract_id, NOTIFIED, country="CA")
    assert status == 403, body
    assert _rows(life, contract_id) == (0, 0)
    other, _, _ = life.form("isstar-cloud", FORMED)
    status, body = _move(life, admin, other, NOTIFIED, country="CA")
    assert status == 409, body
    # With the client's written consent and a safeguard, a move to IN is recorded.
    status, body = _move(life, admin, contract_id, NOTIFIED, country="IN",
                         consented_on="2026-05-20", safeguard="SCC 2021/914 module 2")  # fmt: skip
    assert status == 201, body
    assert "Art. 46" in str(body["transfer_basis"])
