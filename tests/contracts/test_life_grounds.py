"""Termination by the provider on a ground (issue #21 item 3): a formal notice opens the
right after the offer's delay (000 §16 15 clear days, 001 §3.3 30 days, 003 §13.1.2 8
days), force majeure suspends and runs its course (003 §9), a negative balance left
uncovered (000 §11.2) and a hold over 15 days (004 §17.1) end the contract too. Each
ends in ``reversibility`` with its cause; too early is a 409 naming the clause."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from nuages.accounts.roles import Role
from nuages.contracts import holds
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.contracts.life_world import BRUSSELS, PARIS, Life, local
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


@pytest.mark.parametrize(
    ("offer_id", "zone", "terminable"),
    [
        # 000 §16: 15 clear days after 1 April: 2–16 April, the last day not counted
        # either, so from 18 April 00:00 Brussels.
        ("isstar-cloud", BRUSSELS, (2026, 4, 18)),
        # 001 §3.3: 30 days after 1 April (2 April – 1 May): from 2 May.
        ("cloudbizz", BRUSSELS, (2026, 5, 2)),
        # 003 §13.1.2: 8 days after 1 April (2–9 April): from 10 April.
        ("virtualsr-svp", PARIS, (2026, 4, 10)),
    ],
    ids=["000_s16", "001_s3_3", "003_s13_1_2"],
)
def test_breach_terminable_after_the_offers_delay(
    life: Life, admin: Actor, offer_id: str, zone: ZoneInfo, terminable: tuple[int, int, int]
) -> None:
    """A formal notice on 1 April 10:00; terminating one minute before the delay is over
    is refused (409, the clause and the date), and allowed at its end."""
    contract_id, _owner, _ = life.form(offer_id, local(zone, 2026, 3, 10, 11, 0))
    given = _post(
        life,
        local(zone, 2026, 4, 1, 10, 0),
        f"/contracts/{contract_id}/formal-notices",
        admin,
        {"ground": "client_breach", "reason": "spam relay", "suspend": True},
    )
    assert given.status_code == 201, given.json()  # type: ignore[attr-defined]
    opens = local(zone, *terminable, 0, 0)
    assert dt.datetime.fromisoformat(given.json()["terminable_from"]) == opens  # type: ignore[attr-defined]
    assert life.contract(contract_id).state == "suspended"  # suspended meanwhile (000 §16)
    early = _post(
        life,
        opens - dt.timedelta(minutes=1),
        f"/contracts/{contract_id}/termination",
        admin,
        {"cause": "client_breach", "confirm": True},
    )
    assert early.status_code == 409  # type: ignore[attr-defined]
    clause = given.json()["clause"]  # type: ignore[attr-defined]
    assert clause in early.json()["detail"]  # type: ignore[attr-defined]
    assert life.counts(contract_id)[0] == 0
    done = _post(
        life,
        opens,
        f"/contracts/{contract_id}/termination",
        admin,
        {"cause": "client_breach", "confirm": True},
    )
    assert done.status_code == 200, done.json()  # type: ignore[attr-defined]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "client_breach"
    assert ended.ended_at == opens


def test_003_s9_force_majeure_suspends_then_ends_automatically(life: Life, admin: Actor) -> None:
    """003 §9: force majeure from 1 April 10:00 Paris suspends the contract; either party
    may terminate after 30 days (from 2 May); still running after 2 months (from 2 June)
    the contract is terminated with 15 days' notice: it ends on 18 June 00:00 Paris."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    given = _post(
        life,
        local(PARIS, 2026, 4, 1, 10, 0),
        f"/contracts/{contract_id}/formal-notices",
        admin,
        {"ground": "force_majeure", "reason": "data centre flooded"},
    )
    assert given.status_code == 201  # type: ignore[attr-defined]
    body = given.json()  # type: ignore[attr-defined]
    assert dt.datetime.fromisoformat(body["terminable_from"]) == local(PARIS, 2026, 5, 2, 0, 0)
    assert dt.datetime.fromisoformat(body["automatic_at"]) == local(PARIS, 2026, 6, 2, 0, 0)
    assert life.contract(contract_id).state == "suspended"
    early = life.notice(
        contract_id, owner, local(PARIS, 2026, 5, 1, 23, 0), confirm=True, cause="force_majeure"
    )
    assert early[0] == 409 and "003 §9" in early[1]["detail"]
    # From 2 May the client is told either party may terminate (once).
    assert life.daily(local(PARIS, 2026, 5, 2, 1, 0))["other"] == [contract_id]
    assert life.daily(local(PARIS, 2026, 6, 1, 23, 0))["acts"] == 0
    life.daily(local(PARIS, 2026, 6, 2, 1, 0))
    assert life.contract(contract_id).state == "suspended"  # the 15 days' notice runs
    assert life.daily(local(PARIS, 2026, 6, 2, 2, 0))["acts"] == 0
    assert life.daily(local(PARIS, 2026, 6, 18, 1, 0))["ended"] == [contract_id]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "force_majeure"
    assert ended.ended_at == local(PARIS, 2026, 6, 18, 0, 0)


def test_004_s17_1_hold_over_15_days_lets_the_provider_terminate(life: Life, admin: Actor) -> None:
    """004 §17.1: a hold placed on 1 April 10:00 Paris running longer than 15 days (2–16
    April) lets the provider terminate from 17 April 00:00 Paris."""
    contract_id, _, _ = life.form("optima-cloud-azure", local(PARIS, 2026, 3, 10, 11, 0))
    placed = _post(
        life,
        local(PARIS, 2026, 4, 1, 10, 0),
        f"/contracts/{contract_id}/holds",
        admin,
        {"ground": "late-payment", "reason": "invoice unpaid"},
    )
    assert placed.status_code == 201  # type: ignore[attr-defined]
    body = {"cause": "hold_over_15_days", "confirm": True}
    opens = local(PARIS, 2026, 4, 17, 0, 0)
    early = _post(
        life, opens - dt.timedelta(minutes=1), f"/contracts/{contract_id}/termination", admin, body
    )
    assert early.status_code == 409 and "004 §17.1" in early.json()["detail"]  # type: ignore[attr-defined]
    done = _post(life, opens, f"/contracts/{contract_id}/termination", admin, body)
    assert done.status_code == 200  # type: ignore[attr-defined]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "hold_over_15_days"


def test_000_s11_2_negative_balance_left_uncovered(life: Life, admin: Actor) -> None:
    """000 §11.2: the provider may terminate while the account stays negative (its hold
    open); without it, the ground is refused."""
    contract_id, _, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    body = {"cause": "negative_balance", "confirm": True}
    at = local(BRUSSELS, 2026, 4, 1, 10, 0)
    refused = _post(life, at, f"/contracts/{contract_id}/termination", admin, body)
    assert refused.status_code == 409 and "000 §11.2" in refused.json()["detail"]  # type: ignore[attr-defined]
    with frozen_at(at), life.database.unit() as session:
        offer = life.offers.current("isstar-cloud")
        holds.place(
            session, HistoryActor.system("billing"), offer, contract_id,
            holds.NEGATIVE_BALANCE, "balance below zero",
        )  # fmt: skip
    done = _post(life, at, f"/contracts/{contract_id}/termination", admin, body)
    assert done.status_code == 200  # type: ignore[attr-defined]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "negative_balance"


def test_members_and_clients_cannot_record_formal_notices(life: Life) -> None:
    """Only provider staff record a formal notice; the owner is refused (403)."""
    contract_id, owner, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    done = _post(
        life,
        local(BRUSSELS, 2026, 4, 1, 10, 0),
        f"/contracts/{contract_id}/formal-notices",
        owner,
        {"ground": "client_breach", "reason": "x"},
    )
    assert done.status_code == 403  # type: ignore[attr-defined]


def test_003_s13_1_5_letter_dated_by_first_presentation(life: Life, admin: Actor) -> None:
    """003 §13.1.5: staff record the client's registered letter by the postmark of its
    first presentation (10 December 2027, the last day in time for 10 March 2028, §13.1.4)
    even when they enter it later (15 December); a client cannot date its own notice."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    life.daily(local(PARIS, 2027, 3, 10, 12, 0))
    presented = local(PARIS, 2027, 12, 10, 9, 0)
    own = life.notice(contract_id, owner, local(PARIS, 2027, 12, 15, 9, 0), confirm=False,
                      first_presented_at=presented.isoformat())  # fmt: skip
    assert own[0] == 422
    done = _post(life, local(PARIS, 2027, 12, 15, 9, 0), f"/contracts/{contract_id}/termination",
                 admin, {"cause": "client_notice", "confirm": True,
                         "first_presented_at": presented.isoformat()})  # fmt: skip
    assert done.status_code == 200, done.json()  # type: ignore[attr-defined]
    body = done.json()  # type: ignore[attr-defined]
    assert body["in_time"] is True
    assert dt.datetime.fromisoformat(body["effective_at"]) == local(PARIS, 2028, 3, 10, 11, 0)


def test_001_s3_2_provider_non_renewal_notice(life: Life, admin: Actor) -> None:
    """001 §3.2 binds both parties: the provider's non-renewal notice on 15 September
    2027 ends the contract at the first term, 1 January 2028 00:00 Brussels."""
    contract_id, _, _ = life.form("cloudbizz", local(BRUSSELS, 2026, 3, 10, 11, 0))
    done = _post(life, local(BRUSSELS, 2027, 9, 15, 9, 0), f"/contracts/{contract_id}/termination",
                 admin, {"cause": "provider_notice", "confirm": True})  # fmt: skip
    assert done.status_code == 200  # type: ignore[attr-defined]
    life.daily(local(BRUSSELS, 2028, 1, 1, 1, 0))
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "provider_notice"
    assert ended.ended_at == local(BRUSSELS, 2028, 1, 1, 0, 0)


def test_notice_on_a_suspended_contract_resumes_to_ending(life: Life, admin: Actor) -> None:
    """A notice given while the contract is suspended: once the hold is lifted the
    contract is ``ending``, not ``active``; it still ends at its term (004 §5)."""
    contract_id, owner, _ = life.form("optima-cloud-azure", local(PARIS, 2026, 3, 10, 11, 0))
    placed = _post(life, local(PARIS, 2026, 4, 1, 10, 0), f"/contracts/{contract_id}/holds",
                   admin, {"ground": "breach", "reason": "conduct"})  # fmt: skip
    hold_id = placed.json()["id"]  # type: ignore[attr-defined]
    status, _ = life.notice(contract_id, owner, local(PARIS, 2026, 4, 2, 10, 0), confirm=True)
    assert status == 200 and life.contract(contract_id).state == "suspended"
    lift = f"/contracts/{contract_id}/holds/{hold_id}/lift"
    lifted = _post(life, local(PARIS, 2026, 4, 3, 10, 0), lift, admin, {"reason": "ok"})
    assert lifted.status_code == 200  # type: ignore[attr-defined]
    assert life.contract(contract_id).state == "ending"


def test_003_s13_1_5_formal_notice_letter_dated_by_its_first_presentation(
    life: Life, admin: Actor
) -> None:
    """003 §13.1.5: the registered letter naming the breach is dated by the postmark of
    its first presentation, Mon 2 November 2026 10:00, though recorded on the 6th: the
    8-day cure (003 §13.1.2, 3–10 November) opens termination from 11 November 00:00
    Paris. A presentation in the future is a 422 naming first_presented_at and the
    clause; an offer dating notices by receipt (isstar-cloud) refuses the field."""
    contract_id, _owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 10, 1, 11, 0))
    path = f"/contracts/{contract_id}/formal-notices"
    body = {"ground": "client_breach", "reason": "spam relay"}
    future = _post(
        life,
        local(PARIS, 2026, 11, 6, 9, 0),
        path,
        admin,
        body | {"first_presented_at": "2026-11-07T10:00:00+01:00"},
    )
    assert future.status_code == 422  # type: ignore[attr-defined]
    detail = future.json()["detail"]  # type: ignore[attr-defined]
    assert "first_presented_at" in detail and "003 §13.1.5" in detail
    given = _post(
        life,
        local(PARIS, 2026, 11, 6, 9, 0),
        path,
        admin,
        body | {"first_presented_at": "2026-11-02T10:00:00+01:00"},
    )
    assert given.status_code == 201, given.json()  # type: ignore[attr-defined]
    got = given.json()  # type: ignore[attr-defined]
    assert dt.datetime.fromisoformat(got["given_at"]) == local(PARIS, 2026, 11, 2, 10, 0)
    assert dt.datetime.fromisoformat(got["terminable_from"]) == local(PARIS, 2026, 11, 11, 0, 0)
    iss, _o, _x = life.form("isstar-cloud", local(BRUSSELS, 2026, 10, 1, 11, 0))
    refused = _post(
        life,
        local(BRUSSELS, 2026, 11, 6, 9, 0),
        f"/contracts/{iss}/formal-notices",
        admin,
        body | {"first_presented_at": "2026-11-02T10:00:00+01:00"},
    )
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "first_presented_at" in refused.json()["detail"]  # type: ignore[attr-defined]


def test_003_s8_suspension_never_turns_into_a_termination(life: Life, admin: Actor) -> None:
    """003 §8 "La suspension ne peut en aucun cas servir de prétexte à une résiliation":
    an SVP contract suspended on 1 April (breach) is still suspended after 60 days of
    daily passes, and terminating it on the hold is a 409; the terms file cannot give a
    hold-based termination right to an offer saying so."""
    from pathlib import Path

    from nuages.terms.loader import check_bytes

    contract_id, _, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    placed = _post(
        life,
        local(PARIS, 2026, 4, 1, 10, 0),
        f"/contracts/{contract_id}/holds",
        admin,
        {"ground": "breach", "reason": "abusive relay"},
    )
    assert placed.status_code == 201, placed.json()  # type: ignore[attr-defined]
    for day in (17, 30):
        life.daily(local(PARIS, 2026, 4, day, 1, 0))
    life.daily(local(PARIS, 2026, 5, 31, 1, 0))
    assert life.contract(contract_id).state == "suspended"
    refused = _post(
        life,
        local(PARIS, 2026, 5, 31, 10, 0),
        f"/contracts/{contract_id}/termination",
        admin,
        {"cause": "hold_over_15_days", "confirm": True},
    )
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert life.contract(contract_id).state == "suspended"
    text = Path(life.offers.current("virtualsr-svp").source_path).read_text("utf-8")
    bad = text.replace(
        "never_becomes_termination = true",
        "never_becomes_termination = true\n"
        'provider_may_terminate_after = { amount = 15, unit = "calendar_days" }',
    )
    found = check_bytes(bad.encode(), "svp.toml")
    assert isinstance(found, list) and any("never_becomes_termination" in str(p) for p in found)
