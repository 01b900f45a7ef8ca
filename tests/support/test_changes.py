"""002 §3.8.4: change requests — standard free within the month's quota, significant at
the catalogue price, major on quote; a priced one needs the client's acceptance (422,
nothing written, without it). 002 §4: 3 calendar months of probation after the footprint
audit, billed, no SLA (``in_probation``). Both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.models import Contract
from nuages.history.models import HistoryEntry
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict
from nuages.managed import agreements
from nuages.managed.probation import in_probation
from nuages.support import changes
from nuages.support.models import ChangeRequest
from tests.compute.world import CLI
from tests.factories import World
from tests.gdpr.test_cli import _run

from .test_tickets import _contract

PARIS = ZoneInfo("Europe/Paris")


def _count(database: Database) -> int:
    with database.unit() as session:
        return session.execute(select(func.count()).select_from(ChangeRequest)).scalar_one()


def test_002_s3_8_4_quota_per_month_and_prices(
    client: TestClient, world: World, database: Database
) -> None:
    """Quota 2 standard changes a month (the quote), EUR 60 beyond, EUR 250 a significant
    one (catalogue). In November: two standard changes are free; the third without
    accepting its price is refused (422 naming accept_price and the quota, nothing
    written), accepted it costs EUR 60; a significant one costs EUR 250; a major one waits
    for its quote (nothing billed). On 1 December the quota is whole again."""
    client_id, owner, contract_id = _contract(client, world, "axantis-cloud-vm-avance")
    url = f"/api/v1/contracts/{contract_id}/change-requests"
    no_service = client.post(
        url, json={"kind": "standard", "description": "x"}, headers=owner.headers
    )
    assert no_service.status_code == 409 and "managed service" in no_service.json()["detail"]
    with database.unit() as session:
        terms = {
            "managed": True,
            "standard_changes_per_month": 2,
            "standard_change_price": Decimal("60.00"),
            "significant_change_price": Decimal("250.00"),
        }
        agreements.set_agreement(session, CLI, contract_id, terms)
    set_now(dt.datetime(2026, 11, 30, 23, 30, tzinfo=PARIS))
    for n in range(2):
        r = client.post(
            url, json={"kind": "standard", "description": f"open port {n}"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        assert r.json()["within_quota"] is True and r.json()["price"] is None
    over = client.post(
        url, json={"kind": "standard", "description": "third"}, headers=owner.headers
    )
    assert over.status_code == 422
    assert "accept_price" in over.json()["detail"] and "002 §3.8.4" in over.json()["detail"]
    assert _count(database) == 2
    member = world.user(Role.CLIENT_MEMBER, client_id)
    by_member = client.post(
        url, json={"kind": "standard", "description": "third", "accept_price": True},
        headers=member.headers,
    )  # fmt: skip
    assert by_member.status_code == 403
    paid = client.post(
        url, json={"kind": "standard", "description": "third", "accept_price": True,
                   "accepted_amount": "60.00"},
        headers=owner.headers,
    )  # fmt: skip
    assert paid.status_code == 201 and paid.json()["price"] == "60.00", paid.text
    significant = client.post(
        url, json={"kind": "significant", "description": "new vhost"}, headers=owner.headers
    )
    assert significant.status_code == 422 and "accept_price" in significant.json()["detail"]
    significant = client.post(
        url, json={"kind": "significant", "description": "new vhost", "accept_price": True},
        headers=owner.headers,
    )  # fmt: skip
    assert significant.json()["price"] == "250.00"
    major = client.post(
        url, json={"kind": "major", "description": "migrate to PG 17"}, headers=owner.headers
    )
    assert major.json()["state"] == "awaiting_quote" and major.json()["charge_id"] is None
    listed = client.get(url, headers=owner.headers).json()
    assert (listed["month"], listed["quota"], listed["used"]) == ("2026-11", 2, 2)
    with database.unit() as session:
        amounts = sorted(c.amount for c in session.execute(select(PendingCharge)).scalars())
        assert amounts == [Decimal("60.00"), Decimal("250.00")]
        quoted = changes.quote_major(session, CLI, major.json()["id"], Decimal("2400.00"), True)
        assert quoted.state == "accepted" and quoted.charge_id is not None
    set_now(dt.datetime(2026, 12, 1, 0, 30, tzinfo=PARIS))
    december = client.post(
        url, json={"kind": "standard", "description": "december"}, headers=owner.headers
    )
    assert december.json()["within_quota"] is True and december.json()["month"] == "2026-12"


def test_002_s4_probation_three_calendar_months_after_footprint_audit(
    client: TestClient, world: World, database: Database
) -> None:
    """Footprint audit ended Sun 15 Nov 2026 10:00 Paris: the probation runs three
    calendar months, to 15 Feb 2027 10:00 Paris (exclusive); before the audit's end and
    after the probation the SLA applies; a contract without managed service has none."""
    _, _, contract_id = _contract(client, world, "axantis-cloud-vm-avance")
    _, _, plain_id = _contract(client, world, "axantis-cloud-vm-avance")
    audit_end = dt.datetime(2026, 11, 15, 10, tzinfo=PARIS)
    with database.unit() as session:
        agreements.set_agreement(
            session, CLI, contract_id, {"managed": True, "footprint_audit_end": audit_end}
        )
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        plain = session.get(Contract, plain_id)
        assert contract is not None and plain is not None
        end = dt.datetime(2027, 2, 15, 10, tzinfo=PARIS)
        assert not in_probation(session, contract, audit_end - dt.timedelta(seconds=1))
        assert in_probation(session, contract, audit_end)
        assert in_probation(session, contract, end - dt.timedelta(seconds=1))
        assert not in_probation(session, contract, end)
        assert not in_probation(session, plain, audit_end + dt.timedelta(days=1))


def test_002_s4_sla_can_ask_in_probation_without_an_import_cycle() -> None:
    """The SLA slice asks ``nuages.managed.probation.in_probation`` while ``support``
    files failure notices through ``sla``: ``managed`` must never reach ``sla``, or the
    two slices would import each other (tests/foundation/test_slices.py)."""
    from tests.foundation.test_slices import _graph, _reaches

    edges = _graph()
    assert "sla" in edges.get("support", {})
    assert "sla" not in _reaches(edges, "managed") and "support" not in _reaches(edges, "managed")


def test_002_s3_8_4_owner_accepts_a_quoted_major_change_billed_once(
    client: TestClient, world: World, database: Database
) -> None:
    """002 §3.8.4 "devis préalable": staff quote a major change at EUR 2400.00; a member
    may not accept it (403, nothing billed), another client's owner does not see it (404);
    the owner accepts it: one charge of EUR 2400.00, state accepted, history entry; a
    second acceptance is a 409 and bills nothing more. A declined quote bills nothing."""
    client_id, owner, contract_id = _contract(client, world, "axantis-cloud-vm-avance")
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, {"managed": True})
    url = f"/api/v1/contracts/{contract_id}/change-requests"
    ids = [
        client.post(
            url, json={"kind": "major", "description": f"project {n}"}, headers=owner.headers
        ).json()["id"]
        for n in range(2)
    ]
    early = client.post(f"/api/v1/changes/{ids[0]}/accept", headers=owner.headers)
    assert early.status_code == 409 and "awaiting_quote" in early.json()["detail"]
    with database.unit() as session:
        for change_id in ids:
            changes.quote_major(session, CLI, change_id, Decimal("2400.00"), False)
    member = world.user(Role.CLIENT_MEMBER, client_id)
    refused = client.post(f"/api/v1/changes/{ids[0]}/accept", headers=member.headers)
    assert refused.status_code == 403
    stranger = world.user(Role.CLIENT_OWNER, world.client("Autre SA"))
    hidden = client.post(f"/api/v1/changes/{ids[0]}/accept", headers=stranger.headers)
    assert hidden.status_code == 404
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(PendingCharge)).scalar_one() == 0
    accepted = client.post(f"/api/v1/changes/{ids[0]}/accept", headers=owner.headers)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["state"] == "accepted" and body["price"] == "2400.00" and body["charge_id"]
    again = client.post(f"/api/v1/changes/{ids[0]}/accept", headers=owner.headers)
    assert again.status_code == 409
    declined = client.post(f"/api/v1/changes/{ids[1]}/decline", headers=owner.headers)
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    assert declined.json()["charge_id"] is None
    with database.unit() as session:
        charges = list(session.execute(select(PendingCharge)).scalars())
        assert [c.amount for c in charges] == [Decimal("2400.00")]
        assert charges[0].contract_id == contract_id
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id.in_(ids))
        ).scalars()
        assert {"support.change.accept", "support.change.decline"} <= set(actions)


def test_002_s3_8_4_staff_record_a_written_acceptance_at_the_quoted_price(
    client: TestClient, world: World, database: Database
) -> None:
    """`nuages tickets change-accept`'s service: staff bill a quoted major change at its
    quoted price (EUR 900.00) once; a second time, or before the quote, is a 409."""
    _client_id, owner, contract_id = _contract(client, world, "axantis-cloud-vm-avance")
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, {"managed": True})
    made = client.post(
        f"/api/v1/contracts/{contract_id}/change-requests",
        json={"kind": "major", "description": "new cluster"}, headers=owner.headers,
    )  # fmt: skip
    change_id = made.json()["id"]
    with database.unit() as session:
        with pytest.raises(Conflict):
            changes.accept_in_writing(session, CLI, change_id)
    with database.unit() as session:
        changes.quote_major(session, CLI, change_id, Decimal("900.00"), False)
    with database.unit() as session:
        row = changes.accept_in_writing(session, CLI, change_id)
        assert row.state == "accepted" and row.charge_id is not None
    with database.unit() as session:
        with pytest.raises(Conflict):
            changes.accept_in_writing(session, CLI, change_id)
        amounts = [c.amount for c in session.execute(select(PendingCharge)).scalars()]
        assert amounts == [Decimal("900.00")]


def test_002_s3_8_4_cli_change_accept_unknown_change_is_refused(tmp_path: Path) -> None:
    """`nuages tickets change-accept` in a fresh process: an unknown change exits 1 with
    one line naming it."""
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    unknown = _run(tmp_path, "tickets", "change-accept", "nope", "--json")
    assert unknown.returncode == 1 and "no such change request" in unknown.stderr
