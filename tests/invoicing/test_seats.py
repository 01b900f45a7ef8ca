"""001 §4.1–4.3: each subscribed user is committed for at least 12 months; a seat removed
before them stays billed to their end (issue #20 item 3). cloudbizz (001) bills
desktop-std per user and month (39.00 EUR)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import lines
from nuages.invoicing.models import ContractLine, InvoiceLine
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict
from tests.factories import World

from .factories import STAFF, Billing, documents_of, run_at, utc


def _contract(database: Database, offers: OfferRegistry) -> tuple[Billing, str]:
    billing = Billing(database, offers)
    client = billing.client("Cloud Sièges", country="BE")
    return billing, billing.contract("cloudbizz", client, utc(2025, 12, 31, 23))


def _end(database: Database, offers: OfferRegistry, contract: str, line: str, day: dt.date) -> None:
    with database.unit() as session:
        lines.end_line(session, STAFF, offers, contract, line, day)


def _committed(database: Database, contract: str) -> list[tuple[D, dt.date, dt.date | None]]:
    with database.unit() as session:
        rows = session.execute(
            select(ContractLine)
            .where(ContractLine.contract_id == contract, ContractLine.commits_seats_of.is_not(None))
            .order_by(ContractLine.until)
        ).scalars()
        return [(r.quantity, r.since, r.until) for r in rows]


def test_001_s4_1_seats_ended_early_stay_billed_to_their_12_months(
    database: Database, offers: OfferRegistry
) -> None:
    """5 users added 1 January 2026, removed 1 June: billed until 1 January 2027; the
    July invoice still bills 5 users (5 × 39.00 before the tier discount)."""
    billing, contract = _contract(database, offers)
    line = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    _end(database, offers, contract, line, dt.date(2026, 6, 1))
    assert _committed(database, contract) == [(D(5), dt.date(2026, 6, 1), dt.date(2027, 1, 1))]
    run_at(database, offers, utc(2026, 7, 1, 8))
    docs = documents_of(database, contract)
    [(_invoice, rows)] = [d for d in docs if d[0].period_start == dt.date(2026, 7, 1)]
    users = [r for r in rows if r.kind == "users"]
    assert sum(r.quantity for r in users) == D(5)


def test_001_s4_2_downgrade_keeps_the_dropped_seats_billed(
    database: Database, offers: OfferRegistry
) -> None:
    """5 users since 1 January, 3 from 1 March: the 2 dropped seats stay billed from 1
    March until 1 January 2027."""
    billing, contract = _contract(database, offers)
    first = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    billing.line(contract, "desktop-std", dt.date(2026, 3, 1), quantity=D(3), replaces_id=first)
    assert _committed(database, contract) == [(D(2), dt.date(2026, 3, 1), dt.date(2027, 1, 1))]


def test_001_s4_3_seats_keep_the_day_they_were_added_through_upgrades(
    database: Database, offers: OfferRegistry
) -> None:
    """2 users from 1 January, 4 from 1 April (2 new), all removed 1 June: 2 seats billed
    until 1 January 2027 and 2 until 1 April 2027, not all 4 until April."""
    billing, contract = _contract(database, offers)
    first = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(2))
    second = billing.line(
        contract, "desktop-std", dt.date(2026, 4, 1), quantity=D(4), replaces_id=first
    )
    _end(database, offers, contract, second, dt.date(2026, 6, 1))
    assert _committed(database, contract) == [
        (D(2), dt.date(2026, 6, 1), dt.date(2027, 1, 1)),
        (D(2), dt.date(2026, 6, 1), dt.date(2027, 4, 1)),
    ]


def test_001_s4_1_seats_removed_after_12_months_stop_at_once(
    database: Database, offers: OfferRegistry
) -> None:
    billing, contract = _contract(database, offers)
    line = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    _end(database, offers, contract, line, dt.date(2027, 2, 1))
    assert _committed(database, contract) == []


def test_001_s4_1_committed_seats_cannot_be_ended_early(
    database: Database, offers: OfferRegistry
) -> None:
    """A committed seat line cannot be ended or replaced before its end: 409 citing the
    clause, nothing written."""
    billing, contract = _contract(database, offers)
    line = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    _end(database, offers, contract, line, dt.date(2026, 6, 1))
    with database.unit() as session:
        committed = session.execute(
            select(ContractLine.id).where(ContractLine.commits_seats_of == line)
        ).scalar_one()
    with pytest.raises(Conflict, match=r"001 §4\.1–4\.3"):
        _end(database, offers, contract, committed, dt.date(2026, 9, 1))
    with pytest.raises(Conflict, match="stay billed until 2027-01-01"):
        billing.line(
            contract, "desktop-std", dt.date(2026, 9, 1), quantity=D(1), replaces_id=committed
        )
    assert _committed(database, contract) == [(D(5), dt.date(2026, 6, 1), dt.date(2027, 1, 1))]


def test_seat_commitment_over_the_api(
    client: TestClient, database: Database, offers: OfferRegistry
) -> None:
    """POST …/lines/{id}/end answers the ended line; the committed seats are listed with
    ``commits_seats_of``; ending them early is a 409 problem naming the clause."""
    billing, contract = _contract(database, offers)
    line = billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    admin = World(database).admin()
    base = f"/api/v1/contracts/{contract}/invoicing/lines"
    r = client.post(f"{base}/{line}/end", json={"until": "2026-06-01"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["until"] == "2026-06-01"
    listed = client.get(base, headers=admin.headers).json()
    [committed] = [x for x in listed if x["commits_seats_of"] == line]
    assert (committed["since"], committed["until"]) == ("2026-06-01", "2027-01-01")
    r = client.post(
        f"{base}/{committed['id']}/end", json={"until": "2026-07-01"}, headers=admin.headers
    )
    assert r.status_code == 409 and "001 §4.1–4.3" in r.json()["detail"]


def test_lines_of_an_offer_without_seat_commitment_end_plainly(
    database: Database, offers: OfferRegistry
) -> None:
    """optima-cloud-azure (004) has no per-user pricing: ending a line writes nothing."""
    billing = Billing(database, offers)
    client = billing.client("Azure SARL")
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
    line = billing.line(contract, "azure-d4s", dt.date(2026, 3, 1))
    _end(database, offers, contract, line, dt.date(2026, 5, 1))
    assert _committed(database, contract) == []
    with database.unit() as session:
        assert session.execute(select(InvoiceLine.id)).first() is None
