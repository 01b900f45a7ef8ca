"""Support tickets in business hours: 001 §10.2 (Mon–Fri 09:00–18:00, not on the law's
holidays), 003 §5.1.3 (intervention within 4 hours with the maintenance offer), 002 §3.8.3
(updates within 72 working hours on average, reported per month), 001 §10.3 (out-of-hours
interventions billed EUR 95 + the hourly rate + 50 %, not when the provider is at fault),
001 §10.1 (an incident report is a failure notice for the SLA). Both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import frozen_at, set_now
from nuages.kernel.db import Database
from nuages.managed import agreements
from nuages.sla.models import FailureNotice
from nuages.support.models import Ticket, TicketMessage
from tests.compute.world import CLI, tenant_objects
from tests.factories import Actor, World

PARIS = ZoneInfo("Europe/Paris")
BRUSSELS = ZoneInfo("Europe/Brussels")


def _contract(client: TestClient, world: World, offer: str) -> tuple[str, Actor, str]:
    client_id = world.client(f"Client {offer}")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.post(
        "/api/v1/contracts", json={"offer_id": offer, "accept_terms": True}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return client_id, owner, r.json()["id"]


def _agreement(database: Database, contract_id: str, **values: object) -> None:
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, values)


def _ticket(client: TestClient, owner: Actor, contract_id: str, category: str) -> dict:  # type: ignore[type-arg]
    r = client.post(
        "/api/v1/tickets",
        json={"category": category, "contract_id": contract_id, "subject": "s", "body": "b"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    data: dict = r.json()  # type: ignore[type-arg]
    return data


def test_003_s5_1_3_intervention_within_4_business_hours_over_a_holiday(
    client: TestClient, world: World, database: Database
) -> None:
    """virtualsr-pcv, maintenance offer subscribed; an incident opened Tue 10 Nov 2026 at
    16:30 Paris: 1 h 30 that day (to 18:00), Wed 11 Nov is Armistice (French holiday),
    then 2 h 30 from Thu 12 Nov 09:00: due Thu 12 Nov 11:30 Paris. Without the
    maintenance offer no intervention deadline is promised."""
    _, owner, contract_id = _contract(client, world, "virtualsr-pcv")
    _, other_owner, plain = _contract(client, world, "virtualsr-pcv")
    _agreement(database, contract_id, maintenance_offer=True)
    with frozen_at(dt.datetime(2026, 11, 10, 16, 30, tzinfo=PARIS)):
        ticket = _ticket(client, owner, contract_id, "incident")
        without = _ticket(client, other_owner, plain, "incident")
    due = dt.datetime.fromisoformat(ticket["intervention_due_at"])
    assert due == dt.datetime(2026, 11, 12, 11, 30, tzinfo=PARIS)
    assert ticket["in_hours"] is True
    assert ticket["business_hours"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00",
        "holidays_excluded": True, "holidays_of": "FR", "timezone": "Europe/Paris",
    }  # fmt: skip
    assert without["intervention_due_at"] is None
    with frozen_at(dt.datetime(2026, 11, 12, 11, 31, tzinfo=PARIS)):
        shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=owner.headers).json()
    assert shown["intervention_overdue"] is True
    assert Decimal(shown["business_minutes_open"]) == Decimal(90 + 151)


def test_002_s3_8_3_updates_72_working_hours_average_per_month(
    client: TestClient, world: World, database: Database
) -> None:
    """Cloud VM Avancé: an update requested Mon 2 Nov 2026 09:00 Paris is due after 72
    support hours, 9 a day: Nov 2, 3, 4, 5, 6, 9, 10, (11 is a holiday), 12 → Thu 12 Nov
    18:00. Closed Wed 4 Nov 12:00 (9 + 9 + 3 = 21 h) and a second opened Thu 5 Nov 09:00
    closed Mon 9 Nov 18:00 (9 + 9 + 9 = 27 h): November's average is 24.00 h ≤ 72."""
    _, owner, contract_id = _contract(client, world, "axantis-cloud-vm-avance")
    admin = world.admin()
    with frozen_at(dt.datetime(2026, 11, 2, 9, tzinfo=PARIS)):
        first = _ticket(client, owner, contract_id, "update")
    assert dt.datetime.fromisoformat(first["update_due_at"]) == dt.datetime(
        2026, 11, 12, 18, tzinfo=PARIS
    )
    with frozen_at(dt.datetime(2026, 11, 4, 12, tzinfo=PARIS)):
        r = client.post(
            f"/api/v1/tickets/{first['id']}/messages",
            json={"body": "installed", "close": True},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
    with frozen_at(dt.datetime(2026, 11, 5, 9, tzinfo=PARIS)):
        second = _ticket(client, owner, contract_id, "update")
    with frozen_at(dt.datetime(2026, 11, 9, 18, tzinfo=PARIS)):
        client.post(
            f"/api/v1/tickets/{second['id']}/messages",
            json={"body": "installed", "close": True},
            headers=admin.headers,
        )
    with frozen_at(dt.datetime(2026, 12, 1, 9, tzinfo=PARIS)):
        report = client.get(
            f"/api/v1/contracts/{contract_id}/update-report?month=2026-11", headers=owner.headers
        ).json()
    assert report == {
        "contract_id": contract_id, "month": "2026-11", "target_hours": "72",
        "updates": 2, "average_hours": "24.00", "met": True,
    }  # fmt: skip


def test_001_s10_3_out_of_hours_intervention_billed_on_next_invoice(
    client: TestClient, world: World, database: Database
) -> None:
    """cloudbizz, hourly rate EUR 80. A 90-minute intervention on Saturday 7 Nov 2026 at
    10:00 Brussels is out of hours: 95 + 1.5 h × 80 × 1.5 = 95 + 180 = EUR 275.00 on the
    next invoice. The same on Monday 9 Nov at 10:00 (in hours) bills nothing, nor one the
    provider caused. Without an hourly rate the answer is refused, nothing written."""
    _, owner, contract_id = _contract(client, world, "cloudbizz")
    admin = world.admin()
    with frozen_at(dt.datetime(2026, 11, 6, 17, tzinfo=BRUSSELS)):
        ticket = _ticket(client, owner, contract_id, "question")
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    work = {"body": "fixed", "intervention": {"minutes": 90}}
    set_now(dt.datetime(2026, 11, 7, 10, tzinfo=BRUSSELS))
    no_rate = client.post(url, json=work, headers=admin.headers)
    assert no_rate.status_code == 409 and "hourly_rate" in no_rate.json()["detail"]
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(TicketMessage)).scalar_one() == 1
    _agreement(database, contract_id, hourly_rate=Decimal("80.00"))
    billed = client.post(url, json=work, headers=admin.headers)
    assert billed.status_code == 201, billed.text
    assert billed.json()["out_of_hours"] is True
    at_fault = client.post(
        url, json={"body": "our fault", "intervention": {"minutes": 60, "provider_at_fault": True}},
        headers=admin.headers,
    )  # fmt: skip
    assert at_fault.json()["charge_id"] is None
    set_now(dt.datetime(2026, 11, 9, 10, tzinfo=BRUSSELS))
    in_hours = client.post(url, json=work, headers=admin.headers).json()
    assert in_hours["out_of_hours"] is False and in_hours["charge_id"] is None
    with database.unit() as session:
        [charge] = session.execute(select(PendingCharge)).scalars().all()
        assert charge.id == billed.json()["charge_id"]
        assert charge.amount == Decimal("275.00") and charge.invoice_id is None
        assert charge.contract_id == contract_id
    shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=owner.headers).json()
    assert shown["state"] == "answered" and shown["first_response_at"] is not None
    owner_try = client.post(url, json=work, headers=owner.headers)
    assert owner_try.status_code == 422 and "intervention" in owner_try.json()["detail"]


def test_001_s10_1_incident_on_a_vm_files_the_sla_failure_notice(
    client: TestClient, world: World, database: Database
) -> None:
    """An incident ticket on the client's VM is its failure notice (001 §10.1, 002 §6):
    one ``failure_notices`` row, dated when the ticket was opened, linked to the ticket.
    A ticket on another client's VM is a 404 naming vm_id, nothing written."""
    client_id = world.client("Incident")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    vm_id = tenant_objects(world, client_id, owner)["vm_id"]
    opened = dt.datetime(2026, 11, 3, 9, tzinfo=PARIS)
    with frozen_at(opened):
        r = client.post(
            "/api/v1/tickets",
            json={"category": "incident", "vm_id": vm_id, "severity": "critical",
                  "subject": "down", "body": "no answer on 443"},
            headers=owner.headers,
        )  # fmt: skip
    assert r.status_code == 201, r.text
    with database.unit() as session:
        notice = session.get(FailureNotice, r.json()["failure_notice_id"])
        assert notice is not None and notice.vm_id == vm_id and notice.noticed_at == opened
    intruder = world.user(Role.CLIENT_OWNER, world.client("Intruder"))
    other = client.post(
        "/api/v1/tickets",
        json={"category": "incident", "vm_id": vm_id, "subject": "x", "body": "y"},
        headers=intruder.headers,
    )
    assert other.status_code == 404 and "vm_id" in other.json()["detail"]
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(FailureNotice)).scalar_one() == 1
    listed = client.get("/api/v1/tickets", headers=intruder.headers).json()
    assert listed == []


def test_001_s15_3_staff_reading_a_ticket_is_in_the_clients_history(
    client: TestClient, world: World, database: Database
) -> None:
    """A ticket is the client's request to support (001 §16.1): staff read it without
    a separate grant, but each read is written to the client's history, which the
    owner reads; the owner's own reads are not entries."""
    _, owner, contract_id = _contract(client, world, "cloudbizz")
    ticket = _ticket(client, owner, contract_id, "question")
    admin = world.admin()
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=owner.headers).status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=admin.headers).status_code == 200
    history = client.get("/api/v1/history", headers=owner.headers).json()["items"]
    reads = [e for e in history if e["action"] == "support.ticket.read"]
    assert len(reads) == 1 and reads[0]["object_id"] == ticket["id"]


def test_001_s10_3_fee_is_95_on_top_of_the_time_at_rate_plus_50_pct_not_a_floor(
    offers: OfferRegistry,
) -> None:
    """001 §10.3 "facturation minimale de 95 EUR en sus du tarif horaire normal de base
    majoré de 50 %": "en sus" adds the 95 EUR to the time worked; the supplement is
    exactly 95 EUR (never more: "minimale" names no rule for more). At EUR 80/h:
    10 min → 95 + 10/60 × 80 × 1.5 = 95 + 20.00 = 115.00 (a floor reading would give
    95.00); 90 min → 95 + 180.00 = 275.00; 0 min → 95.00."""
    from nuages.support.tickets import out_of_hours_fee

    cloudbizz = offers.current("cloudbizz")
    rate = Decimal("80.00")
    assert out_of_hours_fee(cloudbizz, rate, 10) == Decimal("115.00")
    assert out_of_hours_fee(cloudbizz, rate, 90) == Decimal("275.00")
    assert out_of_hours_fee(cloudbizz, rate, 0) == Decimal("95.00")
    assert out_of_hours_fee(cloudbizz, rate, 7) == Decimal("109.00")  # 95 + 14.00, not 2 h
