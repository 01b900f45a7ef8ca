"""Objects of a tenant for the access sweep (tests/foundation/test_access.py)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from nuages.gdpr.models import StaffAccess
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from tests.factories import Actor


def support_objects(
    database: Database, http: TestClient, client_id: str, owner: Actor, vm_id: str
) -> dict[str, str]:
    """A ticket on the tenant's VM and a staff access grant to its data."""
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
    return {"ticket_id": r.json()["id"], "access_id": access_id}
