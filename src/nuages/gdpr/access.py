"""Staff access to a client's personal data (001 §15.3): only with a recorded reason,
for a limited time, revocable at once; granting, each use and revoking are in the
client's history (visible to its users), and the client's DPO is told of each grant.
Also the client's DPO contact (Art. 30.2), which GDPR notices go to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.gdpr import schemas
from nuages.gdpr.common import iso, require_staff
from nuages.gdpr.models import StaffAccess
from nuages.history import service as history
from nuages.kernel import personal_data
from nuages.kernel.clock import utc_now
from nuages.kernel.db import side_unit
from nuages.kernel.errors import Conflict, Forbidden, NotFound
from nuages.notices.service import queue

CLAUSE = "001 §15.3"


def _client(session: Session, actor: Principal, client_id: str) -> Client:
    actor.check_client(client_id, "client")
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound("no such client")
    return client


def set_dpo(session: Session, actor: Principal, client_id: str, data: schemas.DpoSet) -> Client:
    """Name the client's DPO or GDPR contact (an owner or staff)."""
    client = _client(session, actor, client_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only an owner names the client's data protection contact")
    client.dpo_name, client.dpo_email, client.dpo_phone = data.name, data.email, data.phone
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="client",
        object_id=client.id,
        action="gdpr.dpo.set",
        params={"email": data.email},
        client_id=client.id,
    )
    return client


def grant(
    session: Session, actor: Principal, client_id: str, data: schemas.AccessCreate
) -> StaffAccess:
    """A staff member opens an access to the client's personal data for ``hours``."""
    _client(session, actor, client_id)
    require_staff(actor, "open an access to a client's personal data")
    now = utc_now()
    row = StaffAccess(
        client_id=client_id,
        staff_user_id=actor.user_id,
        staff_email=actor.email,
        what=data.what,
        reason=data.reason,
        granted_at=now,
        expires_at=now + dt.timedelta(hours=data.hours),
    )
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="staff_access",
        object_id=row.id,
        action="gdpr.staff_access.grant",
        params={"what": data.what, "reason": data.reason, "expires_at": row.expires_at.isoformat()},
        client_id=client_id,
    )
    queue(
        session,
        actor.actor,
        "staff_access_granted",
        client_id=client_id,
        object_type="staff_access",
        object_id=row.id,
        key=f"staff_access:{row.id}",
        context={
            "staff_email": actor.email,
            "what": data.what,
            "reason": data.reason,
            "expires_at": iso(row.expires_at),
        },
    )
    return row


def _visible(actor: Principal) -> Select[StaffAccess]:
    actor.require(Scope.READ)
    stmt = select(StaffAccess)
    if not actor.is_staff:
        stmt = stmt.where(StaffAccess.client_id == actor.client_id)
    return stmt


def list_accesses(session: Session, actor: Principal, client_id: str) -> list[StaffAccess]:
    """The client's access grants, newest first (its users see them all, 001 §15.3)."""
    _client(session, actor, client_id)
    stmt = _visible(actor).where(StaffAccess.client_id == client_id)
    return list(session.execute(stmt.order_by(StaffAccess.granted_at.desc())).scalars())


def _get(session: Session, actor: Principal, client_id: str, access_id: str) -> StaffAccess:
    _client(session, actor, client_id)
    row = session.get(StaffAccess, access_id)
    if row is None or row.client_id != client_id:
        raise NotFound("no such access")
    return row


def revoke(session: Session, actor: Principal, client_id: str, access_id: str) -> StaffAccess:
    """End an access now: staff when no longer needed, or the client's owner (who
    controls these accesses, 001 §16.1)."""
    row = _get(session, actor, client_id, access_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only an owner or staff revokes an access")
    if row.revoked_at is not None:
        raise Conflict("the access is already revoked")
    row.revoked_at, row.revoked_by = utc_now(), actor.user_id
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="staff_access",
        object_id=row.id,
        action="gdpr.staff_access.revoke",
        params={"what": row.what},
        client_id=client_id,
    )
    return row


def _live(
    client_id: str | None, staff_user_id: str, what: str, now: dt.datetime
) -> Select[StaffAccess]:
    stmt = select(StaffAccess).where(
        StaffAccess.staff_user_id == staff_user_id,
        StaffAccess.what == what,
        StaffAccess.revoked_at.is_(None),
        StaffAccess.expires_at > now,
    )
    return stmt if client_id is None else stmt.where(StaffAccess.client_id == client_id)


def use(session: Session, actor: Principal, client_id: str, what: str, detail: str) -> StaffAccess:
    """Record one use of personal data by staff, refused (403) without an access that
    is granted to this staff member, covers ``what``, has not expired nor been revoked.
    The entry is in the client's history; from a read route it is written in a short
    unit of its own (``side_unit``), so the read stays read-only."""
    require_staff(actor, "use a client's personal data")
    now = utc_now()
    row = session.execute(
        _live(client_id, actor.user_id, what, now).order_by(StaffAccess.expires_at.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise Forbidden(
            f"no open access to this client's {what} ({CLAUSE}): open one with a reason "
            f"first (POST /api/v1/clients/{client_id}/gdpr/accesses "
            f'{{"what": "{what}", "reason": "…", "hours": 4}})'
        )
    with side_unit(session) as writer:
        history.record(
            writer,
            actor.actor,
            object_type="staff_access",
            object_id=row.id,
            action="gdpr.staff_access.use",
            params={"what": what, "detail": detail[:300]},
            client_id=client_id,
        )
    return row


def granted_clients(session: Session, actor: Principal, what: str) -> set[str]:
    """The clients this staff member may read ``what`` of now."""
    rows = session.execute(
        _live(None, actor.user_id, what, utc_now()).with_only_columns(StaffAccess.client_id)
    ).scalars()
    return set(rows)


# Every staff read of personal data in other slices goes through this (kernel hook).
personal_data.install(use, granted_clients)
