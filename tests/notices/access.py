"""A notice of a tenant, for the access sweep (tests/foundation/test_access.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nuages.history.service import Actor
from nuages.notices import service


def notice_of(session: Session, client_id: str) -> str:
    """A notice every user of the client may read (a VM created: scope "read")."""
    notice = service.queue(
        session,
        Actor.system("test"),
        "vm_created",
        client_id=client_id,
        object_type="vm",
        object_id=f"vm-access-{client_id}",
        key=f"access:{client_id}",
        context={
            "vm_name": "web-1",
            "address": "192.0.2.10",
            "port": 2201,
            "ssh_user": "root",
            "keys": "1",
        },
    )
    return notice.id
