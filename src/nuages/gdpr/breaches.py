"""Breach notification (001 §16.7 (ii)): staff open a breach with every item the clause
lists; the affected clients are resolved from its scope; each gets an e-mail marked
"haute importance" and "suivi immédiat" (notices kind ``gdpr_breach``), written in the
breach's transaction and sent by the next delivery pass ("immédiatement"); its sending
time is the notice's ``sent_at``, kept beside the breach's ``detected_at``."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import Host, HostSite, Vm
from nuages.compute.states import VmState
from nuages.gdpr import schemas
from nuages.gdpr.common import iso, processed_clients, require_staff
from nuages.gdpr.models import Breach, BreachNotification
from nuages.history import service as history
from nuages.kernel.clock import not_in_future
from nuages.kernel.errors import Forbidden, NotFound, ValidationFailed
from nuages.notices.models import Notice
from nuages.notices.service import queue

CLAUSE = "001 §16.7"
# The items 001 §16.7 (ii) requires in the e-mail, as the template names them.
NOTICE_FIELDS = (
    "summary", "circumstances", "nature", "data_concerned", "data_volume",
    "person_categories", "persons_count", "consequences", "measures",
    "contact_name", "contact_email", "contact_phone",
)  # fmt: skip


def affected_clients(session: Session, scope: schemas.BreachScope) -> list[str]:
    """The clients a breach's scope reaches: all processed clients, the named ones
    (each must exist), or those with a live VM on a named host or a host of a named
    site."""
    if scope.all:
        return processed_clients(session)
    found: set[str] = set()
    if scope.client_ids:
        known = set(
            session.execute(select(Client.id).where(Client.id.in_(scope.client_ids))).scalars()
        )
        unknown = sorted(set(scope.client_ids) - known)
        if unknown:
            raise ValidationFailed(f"scope.client_ids: no such client {unknown[0]}")
        found |= known
    host_ids: set[str] = set()
    if scope.hosts:
        rows = session.execute(
            select(Host.id, Host.name).where(Host.name.in_(scope.hosts) | Host.id.in_(scope.hosts))
        ).all()
        names = {n for _, n in rows} | {i for i, _ in rows}
        unknown = sorted(set(scope.hosts) - names)
        if unknown:
            raise ValidationFailed(f"scope.hosts: no such host {unknown[0]}")
        host_ids |= {i for i, _ in rows}
    if scope.sites:
        host_ids |= set(
            session.execute(
                select(HostSite.host_id).where(HostSite.site.in_(scope.sites))
            ).scalars()
        )
    if host_ids:
        found |= set(
            session.execute(
                select(Vm.client_id)
                .where(Vm.host_id.in_(host_ids), Vm.vm_state != VmState.DELETED.value)
                .distinct()
            ).scalars()
        )
    return sorted(found)


def open_breach(
    session: Session, actor: Principal, data: schemas.BreachCreate
) -> tuple[Breach, list[BreachNotification]]:
    """Record the breach and queue its notice to every affected client, or refuse with
    nothing written (a field missing is refused by the schema, naming it)."""
    require_staff(actor, "notify a data breach")
    not_in_future("occurred_at", data.occurred_at)
    not_in_future("detected_at", data.detected_at)
    if data.detected_at < data.occurred_at:
        raise ValidationFailed("detected_at: a breach is detected after it occurred")
    clients = affected_clients(session, data.scope)
    if not clients:
        raise ValidationFailed("scope: it reaches no client (name clients, hosts or sites, or all)")
    breach = Breach(
        summary=data.summary,
        circumstances=data.circumstances,
        nature=data.nature,
        data_concerned=data.data_concerned,
        data_volume=data.data_volume,
        person_categories=data.person_categories,
        persons_count=data.persons_count,
        consequences=data.consequences,
        measures=data.measures,
        occurred_at=data.occurred_at.astimezone(dt.UTC),
        detected_at=data.detected_at.astimezone(dt.UTC),
        contact_name=data.contact_name,
        contact_email=data.contact_email,
        contact_phone=data.contact_phone,
        scope=json.dumps(data.scope.model_dump(), sort_keys=True),
        opened_by=actor.user_id,
    )
    session.add(breach)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="breach",
        object_id=breach.id,
        action="gdpr.breach.open",
        params={"clients": len(clients), "detected_at": breach.detected_at.isoformat()},
    )
    context = {name: getattr(breach, name) for name in NOTICE_FIELDS}
    context |= {"occurred_at": iso(breach.occurred_at), "detected_at": iso(breach.detected_at)}
    rows = []
    for client_id in clients:
        notice = queue(
            session,
            actor.actor,
            "gdpr_breach",
            client_id=client_id,
            object_type="breach",
            object_id=breach.id,
            key=f"breach:{breach.id}:{client_id}",
            context=context,
            legal_ref="GDPR Art. 33.2: the processor informs the controller without undue delay",
        )
        row = BreachNotification(breach_id=breach.id, client_id=client_id, notice_id=notice.id)
        session.add(row)
        rows.append(row)
        history.record(
            session,
            actor.actor,
            object_type="breach",
            object_id=breach.id,
            action="gdpr.breach.notify",
            params={"notice_id": notice.id, "clause": CLAUSE},
            client_id=client_id,
        )
    session.flush()
    return breach, rows


def _visible(actor: Principal) -> Select[Breach]:
    actor.require(Scope.READ)
    stmt = select(Breach)
    if not actor.is_staff:
        mine = select(BreachNotification.breach_id).where(
            BreachNotification.client_id == actor.client_id
        )
        stmt = stmt.where(Breach.id.in_(mine))
    return stmt


def list_breaches(actor: Principal) -> Select[Breach]:
    """The breaches the caller may read (a client: those it was notified of), newest first."""
    return _visible(actor).order_by(Breach.detected_at.desc(), Breach.id)


def get_breach(session: Session, actor: Principal, breach_id: str) -> Breach:
    found = session.execute(_visible(actor).where(Breach.id == breach_id)).scalar_one_or_none()
    if found is None:
        raise NotFound("no such breach")
    return found


def notified(session: Session, actor: Principal, breach: Breach) -> list[dict[str, object]]:
    """Each client's notice of the breach: its delivery state, when it was queued and
    when it was sent (a client sees only its own)."""
    stmt = (
        select(
            BreachNotification.client_id,
            Client.legal_name,
            Notice.id,
            Notice.state,
            Notice.created_at,
            Notice.sent_at,
        )
        .join(Notice, Notice.id == BreachNotification.notice_id)
        .join(Client, Client.id == BreachNotification.client_id)
        .where(BreachNotification.breach_id == breach.id)
        .order_by(Client.legal_name, BreachNotification.client_id)
    )
    if not actor.is_staff:
        stmt = stmt.where(BreachNotification.client_id == actor.client_id)
    return [
        {"client_id": c, "client": name, "notice_id": n, "state": s, "queued_at": q, "sent_at": t}
        for c, name, n, s, q, t in session.execute(stmt).all()
    ]


def affected_names(session: Session, actor: Principal, breach_ids: list[str]) -> dict[str, str]:
    """Staff lists: each breach's notified clients by legal name (comma-separated), so a
    reader sees who was hit without opening every breach (001 §16.7)."""
    actor.require(Scope.READ)
    if not actor.is_staff:
        raise Forbidden("only provider staff list every affected client")
    names: dict[str, list[str]] = {}
    if breach_ids:
        rows = session.execute(
            select(BreachNotification.breach_id, Client.legal_name)
            .join(Client, Client.id == BreachNotification.client_id)
            .where(BreachNotification.breach_id.in_(breach_ids))
            .order_by(Client.legal_name)
        ).all()
        for breach_id, name in rows:
            names.setdefault(breach_id, []).append(name)
    return {b: ", ".join(n) for b, n in names.items()}
