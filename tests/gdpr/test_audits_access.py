"""001 §16.8: an audit is announced at least 5 jours ouvrables ahead in the contract's
calendar (Monday–Saturday minus Belgian holidays for cloudbizz, SPEC §16), and the
provider's work beyond 3 hours is billed; 001 §15.3: staff access to a client's personal
data needs a reason, expires, is revocable, and each step is in the client's history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.contracts.offers import OfferRegistry
from nuages.gdpr import access, audits
from nuages.gdpr.models import Audit
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import frozen_at, set_now
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict, Forbidden
from nuages.managed import agreements
from tests.compute.world import CLI
from tests.factories import Actor, World

BRUSSELS = ZoneInfo("Europe/Brussels")
# Thursday 5 November 2026, 10:00 in Brussels.
ANNOUNCED = dt.datetime(2026, 11, 5, 10, tzinfo=BRUSSELS)


def _cloudbizz(client: TestClient, world: World) -> tuple[str, Actor, str]:
    client_id = world.client("Audited SRL")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    r = client.post(
        "/api/v1/contracts", json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return client_id, owner, r.json()["id"]


def _audit(client: TestClient, owner: Actor, contract_id: str, day: str) -> object:
    return client.post(
        "/api/v1/gdpr/audits",
        json={"contract_id": contract_id, "starts_on": day, "auditor": "Cabinet X",
              "scope": "annex 1 measures"},
        headers=owner.headers,
    )  # fmt: skip


def test_001_s16_8_audit_five_jours_ouvrables_notice_in_belgian_calendar(
    client: TestClient, world: World, database: Database
) -> None:
    """Announced Thu 5 Nov 2026: the jours ouvrables after it are Fri 6, Sat 7 (a
    Saturday counts), Mon 9, Tue 10 — Wed 11 is Armistice, a Belgian holiday — and
    Thu 12: five, so the audit may start Fri 13 Nov at the earliest. Thu 12 is refused
    (422 naming starts_on, the clause and the earliest date; nothing written)."""
    _, owner, contract_id = _cloudbizz(client, world)
    with frozen_at(ANNOUNCED):
        early = _audit(client, owner, contract_id, "2026-11-12")
        with database.unit() as session:
            assert session.execute(select(func.count()).select_from(Audit)).scalar_one() == 0
        ok = _audit(client, owner, contract_id, "2026-11-13")
    assert early.status_code == 422  # type: ignore[attr-defined]
    detail = early.json()["detail"]  # type: ignore[attr-defined]
    assert "starts_on" in detail and "001 §16.8" in detail and "2026-11-13" in detail
    assert ok.status_code == 201, ok.text  # type: ignore[attr-defined]
    assert ok.json()["earliest_start"] == "2026-11-13"  # type: ignore[attr-defined]
    member = world.user(Role.CLIENT_MEMBER, owner.client_id)
    with frozen_at(ANNOUNCED):
        by_member = _audit(client, member, contract_id, "2026-11-20")
    assert by_member.status_code == 403  # type: ignore[attr-defined]


def test_001_s16_8_provider_work_beyond_three_hours_billed(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """5.5 hours of provider work on the audit, 3 free: 2.5 h × EUR 90 (the contract's
    hourly rate) = EUR 225.00 on the next invoice. Without a rate the closing is refused
    and nothing changes; 3 hours or less bill nothing."""
    _, owner, contract_id = _cloudbizz(client, world)
    with frozen_at(ANNOUNCED):
        audit_id = _audit(client, owner, contract_id, "2026-11-20").json()["id"]  # type: ignore[attr-defined]
        second = _audit(client, owner, contract_id, "2026-11-27").json()["id"]  # type: ignore[attr-defined]
    with database.unit() as session:
        try:
            audits.close_audit(session, CLI, offers, audit_id, Decimal("5.5"))
            raise AssertionError("closing without an hourly rate must be refused")
        except Conflict as exc:
            assert "hourly_rate" in exc.detail
        session.rollback()
    with database.unit() as session:
        assert session.get(Audit, audit_id).state == "scheduled"  # type: ignore[union-attr]
        agreements.set_agreement(session, CLI, contract_id, {"hourly_rate": Decimal("90.00")})
    with database.unit() as session:
        done = audits.close_audit(session, CLI, offers, audit_id, Decimal("5.5"))
        assert done.billed_hours == Decimal("2.5")
        charge = session.get(PendingCharge, done.charge_id)
        assert charge is not None and charge.amount == Decimal("225.00")
        assert charge.invoice_id is None  # billed by the next invoicing run
        free = audits.close_audit(session, CLI, offers, second, Decimal("3"))
        assert free.billed_hours == Decimal("0") and free.charge_id is None


def test_001_s15_3_staff_access_reason_expiry_revocation_in_client_history(
    client: TestClient, world: World, database: Database
) -> None:
    """Staff open a 2-hour access to the client's users with its reason (the DPO is told
    by a notice); a use inside it is recorded in the client's history, which the owner
    reads; after the owner revokes it, or once it has expired, a use is refused (403)."""
    admin = world.admin()
    client_id = world.client("Watched")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    start = dt.datetime(2026, 11, 9, 10, tzinfo=dt.UTC)
    set_now(start)
    r = client.post(
        f"/api/v1/clients/{client_id}/gdpr/accesses",
        json={"what": "users", "reason": "ticket 42: reset the owner's sign-in", "hours": 2},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    grant = r.json()
    assert dt.datetime.fromisoformat(grant["expires_at"]) == start + dt.timedelta(hours=2)
    refused = client.post(
        f"/api/v1/clients/{client_id}/gdpr/accesses",
        json={"what": "users", "reason": "too short"},
        headers=admin.headers,
    )
    assert refused.status_code == 422 and "reason" in refused.json()["detail"]
    from nuages.accounts.service import authenticate

    with database.unit() as session:
        staff = authenticate(session, admin.token)
        access.use(session, staff, client_id, "users", "listed the users")
    history = client.get("/api/v1/history", headers=owner.headers).json()
    actions = [e["action"] for e in history["items"]]
    assert "gdpr.staff_access.grant" in actions and "gdpr.staff_access.use" in actions
    listed = client.get(f"/api/v1/clients/{client_id}/gdpr/accesses", headers=owner.headers).json()
    assert [a["reason"] for a in listed] == ["ticket 42: reset the owner's sign-in"]
    set_now(start + dt.timedelta(hours=2))
    with database.unit() as session:
        staff = authenticate(session, admin.token)
        try:
            access.use(session, staff, client_id, "users", "too late")
            raise AssertionError("an expired access must be refused")
        except Forbidden as exc:
            assert "001 §15.3" in exc.detail
    set_now(start + dt.timedelta(hours=3))
    r = client.post(
        f"/api/v1/clients/{client_id}/gdpr/accesses",
        json={"what": "users", "reason": "ticket 43: check a member's role"},
        headers=admin.headers,
    )
    second = r.json()["id"]
    r = client.delete(f"/api/v1/clients/{client_id}/gdpr/accesses/{second}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    with database.unit() as session:
        staff = authenticate(session, admin.token)
        try:
            access.use(session, staff, client_id, "users", "after revocation")
            raise AssertionError("a revoked access must be refused")
        except Forbidden:
            pass
