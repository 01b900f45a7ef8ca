"""The provider-wide list of sub-processors (001 §16.9, §5.5): adding or replacing one
informs every client the provider processes data for, through the notices outbox, in
the same transaction, and is recorded in the history."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.gdpr import schemas
from nuages.gdpr.common import iso, processed_clients, require_staff
from nuages.gdpr.countries import transfer_basis
from nuages.gdpr.models import SubProcessor
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, NotFound, ValidationFailed
from nuages.notices.service import queue

CLAUSE = "001 §16.9"


def list_subprocessors(actor: Principal, *, current_only: bool = False) -> Select[SubProcessor]:
    """Every sub-processor, the current ones first; any signed-in user reads the list
    (each client is entitled to know them, 001 §16.9)."""
    actor.require(Scope.READ)
    stmt = select(SubProcessor)
    if current_only:
        stmt = stmt.where(SubProcessor.ended_at.is_(None))
    return stmt.order_by(SubProcessor.ended_at.is_not(None), SubProcessor.name, SubProcessor.id)


def current(session: Session) -> list[SubProcessor]:
    """The sub-processors in use now."""
    return list(
        session.execute(
            select(SubProcessor)
            .where(SubProcessor.ended_at.is_(None))
            .order_by(SubProcessor.name, SubProcessor.id)
        ).scalars()
    )


def add(
    session: Session, actor: Principal, data: schemas.SubProcessorCreate
) -> tuple[SubProcessor, SubProcessor | None, int]:
    """Add a sub-processor (or replace ``replaces_id``) and notify every client.

    A country outside the EEA without an adequacy decision needs its ``safeguard``
    (GDPR Art. 46): refused otherwise, nothing written."""
    require_staff(actor, "change the sub-processors")
    basis = transfer_basis(data.country, data.safeguard)
    if basis is not None and basis.startswith("no safeguard"):
        raise ValidationFailed(
            f"safeguard: {data.country} is outside the EU without an adequacy decision; "
            "name the GDPR Art. 46 instrument (e.g. standard contractual clauses)"
        )
    now = utc_now()
    replaced: SubProcessor | None = None
    if data.replaces_id is not None:
        replaced = session.get(SubProcessor, data.replaces_id)
        if replaced is None:
            raise NotFound("replaces_id: no such sub-processor")
        if replaced.ended_at is not None:
            raise Conflict(f"replaces_id: {replaced.name} was already replaced or ended")
    row = SubProcessor(
        name=data.name,
        service=data.service,
        country=data.country,
        address=data.address,
        safeguard=data.safeguard,
        active_from=now,
    )
    session.add(row)
    session.flush()
    if replaced is not None:
        replaced.ended_at = now
        replaced.replaced_by_id = row.id
    change = "replaced" if replaced is not None else "added"
    history.record(
        session,
        actor.actor,
        object_type="sub_processor",
        object_id=row.id,
        action=f"gdpr.sub_processor.{'replace' if replaced else 'add'}",
        params={
            "name": row.name,
            "country": row.country,
            "replaces": replaced.id if replaced else None,
            "clause": CLAUSE,
        },
    )
    clients = processed_clients(session)
    for client_id in clients:
        queue(
            session,
            actor.actor,
            "subprocessor_changed",
            client_id=client_id,
            object_type="sub_processor",
            object_id=row.id,
            key=f"subprocessor:{row.id}:{client_id}",
            context={
                "change": change,
                "change_fr": "remplacé" if replaced else "ajouté",
                "name": row.name,
                "service": row.service,
                "country": row.country,
                "address": row.address,
                "replaces": f"{replaced.name} ({replaced.country})" if replaced else "",
                "effective": iso(now),
                "safeguard": basis or "",
            },
        )
    return row, replaced, len(clients)
