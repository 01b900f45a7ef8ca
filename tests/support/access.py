"""Objects of a tenant for the access sweep (tests/foundation/test_access.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.contracts.models import Contract
from nuages.gdpr.models import StaffAccess
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.support.models import ChangeRequest
from tests.factories import Actor


def support_objects(
    database: Database, http: TestClient, client_id: str, owner: Actor, vm_id: str
) -> dict[str, str]:
    """A ticket on the tenant's VM, a staff access grant to its data and a quoted change."""
    r = http.post(
        "/api/v1/tickets",
        json={"category": "question", "vm_id": vm_id, "subject": "access test", "body": "hi"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    with database.unit() as session:
        grant = StaffAccess(
            client_id=client_id,
            staff_user_id="staff-test",
            staff_email="ops@provider.example",
            what="users",
            reason="access sweep fixture",
            granted_at=utc_now(),
            expires_at=utc_now() + dt.timedelta(hours=1),
        )
        session.add(grant)
        session.flush()
        access_id = grant.id
        contract_id = session.execute(
            select(Contract.id).where(Contract.client_id == client_id).limit(1)
        ).scalar_one()
        # A quoted major change (002 §3.8.4) for POST /changes/{change_id}/accept|decline.
        change = ChangeRequest(
            contract_id=contract_id, client_id=client_id, kind="major",
            description="access sweep fixture", month="2026-01", price=Decimal("100.00"),
            state="quoted", requested_by=owner.user_id,
        )  # fmt: skip
        session.add(change)
        session.flush()
        change_id = change.id
    return {"ticket_id": r.json()["id"], "access_id": access_id, "change_id": change_id}
