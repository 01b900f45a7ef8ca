"""Outages as the SLA reads them (002 §6, 001 §6, 000 §5; issue 22).

Three sources, one per VM:

- reconciliation (``compute``'s ``vm_outages``): a VM the hypervisor reports down while
  it should run, and every running VM of a host that stopped answering
  (cause ``host-unreachable``), from the last moment it was seen up to when it runs again;
- staff-declared incidents (``sla_incidents``): a VM, a host, a site or the whole platform,
  the affected VMs resolved when declared; cause one of the offer's excusable causes or
  ``not-excusable``;
- planned maintenance not announced in time (``maintenance.late_windows``).

Overlapping outages of one VM count once: the calculator merges them (interval union)
before counting (``nuages.terms.calc.sla.counted_unavailability``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import Host, HostSite, Vm, VmOutage
from nuages.compute.states import VmState
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.kernel.clock import not_in_future, utc_now
from nuages.kernel.errors import Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import MAX_PER_PAGE, paginate
from nuages.sla.models import NOT_EXCUSABLE, Incident, IncidentVm, OutageCause
from nuages.sla.schemas import IncidentCreate, IncidentPatch
from nuages.terms.calc import sla

# The guest stopped itself: the client's act (002 §6 (ii) "actes ou omissions du Client").
CLIENT_ACT_CAUSES = frozenset({"guest-shutdown", "guest-suspended"})
# VM states in which a VM should run: an incident takes these down.
SHOULD_RUN = (VmState.RUNNING.value, VmState.ERROR.value)


def _staff(actor: Principal) -> None:
    actor.require(Scope.ADMIN)
    if not actor.is_staff:
        raise Forbidden("only provider staff declare outages")


def scope_vms(session: Session, scope: str, ref: str | None, *, should_run: bool) -> list[Vm]:
    """The live VMs a scope names (``should_run``: only those that should be running).

    An unknown VM, host or site is a 404 naming ``scope_ref``."""
    stmt = select(Vm).where(Vm.vm_state != VmState.DELETED.value)
    if should_run:
        stmt = stmt.where(Vm.vm_state.in_(SHOULD_RUN))
    if scope == "platform":
        if ref:
            raise ValidationFailed("scope_ref: the platform scope takes no scope_ref")
    elif not ref:
        raise ValidationFailed(f"scope_ref: a {scope} scope names its {scope}")
    elif scope == "vm":
        vm = session.get(Vm, ref)
        if vm is None or vm.vm_state == VmState.DELETED.value:
            raise NotFound("scope_ref: no such VM")
        stmt = stmt.where(Vm.id == ref)
    elif scope == "host":
        if session.get(Host, ref) is None:
            raise NotFound("scope_ref: no such host")
        stmt = stmt.where(Vm.host_id == ref)
    elif scope == "site":
        hosts = select(HostSite.host_id).where(HostSite.site == ref)
        if session.execute(hosts.limit(1)).first() is None:
            raise NotFound("scope_ref: no host on that site")
        stmt = stmt.where(Vm.host_id.in_(hosts))
    return list(session.execute(stmt.order_by(Vm.id)).scalars())


def causes_of(session: Session, registry: OfferRegistry, contract_ids: Iterable[str]) -> set[str]:
    """Every excusable cause the contracts' offers name, and ``not-excusable``."""
    allowed = {NOT_EXCUSABLE}
    for contract_id in set(contract_ids):
        contract = session.get(Contract, contract_id)
        if contract is not None:
            allowed |= set(registry.for_contract(session, contract).sla.excusable_causes)
    return allowed


def _check_cause(cause: str, allowed: set[str]) -> None:
    if cause not in allowed:
        raise ValidationFailed(
            f"cause: {cause!r} is not an excusable cause of the affected offers; "
            f"one of {', '.join(sorted(allowed))}"
        )


def declare(
    session: Session, actor: Principal, registry: OfferRegistry, data: IncidentCreate
) -> Incident:
    """Staff declare an outage; the VMs it takes down are resolved now (issue 22)."""
    _staff(actor)
    now = utc_now()
    start = data.start.astimezone(dt.UTC)
    not_in_future("start", start)
    end = data.end.astimezone(dt.UTC) if data.end is not None else None
    if end is not None:
        if end <= start:
            raise ValidationFailed("end: an outage ends after it starts")
        not_in_future("end", end)
    vms = scope_vms(session, data.scope, data.scope_ref, should_run=data.scope != "vm")
    if not vms:
        raise ValidationFailed(f"scope_ref: no VM that should run is in this {data.scope}")
    _check_cause(data.cause, causes_of(session, registry, (vm.contract_id for vm in vms)))
    row = Incident(
        scope=data.scope,
        scope_ref=data.scope_ref,
        start=start,
        end=end,
        cause=data.cause,
        description=data.description,
        declared_by=actor.user_id,
        declared_at=now,
    )
    session.add(row)
    session.flush()
    session.add_all(
        IncidentVm(
            incident_id=row.id, vm_id=vm.id, client_id=vm.client_id, contract_id=vm.contract_id
        )
        for vm in vms
    )
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="incident",
        object_id=row.id,
        action="sla.outage.declare",
        params={
            "scope": data.scope,
            "scope_ref": data.scope_ref,
            "cause": data.cause,
            "start": start.isoformat(),
            "end": end.isoformat() if end else None,
            "vms": len(vms),
        },
    )
    return row


def _visible(actor: Principal) -> Select[Incident]:
    stmt = select(Incident)
    if not actor.is_staff:
        mine = select(IncidentVm.incident_id).where(IncidentVm.client_id == actor.client_id)
        stmt = stmt.where(Incident.id.in_(mine))
    return stmt


def get_incident(session: Session, actor: Principal, incident_id: str) -> Incident:
    """An incident the caller may see (a client: one that took one of its VMs down)."""
    actor.require(Scope.READ)
    row = session.execute(_visible(actor).where(Incident.id == incident_id)).scalar_one_or_none()
    if row is None:
        raise NotFound("no such outage")
    return row


def patch(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    incident_id: str,
    data: IncidentPatch,
) -> Incident | RecordedOutage:
    """Staff set an incident's cause or end (an end never before its start, nor ahead),
    or reclassify an outage reconciliation recorded (``reclassify``)."""
    if actor.is_staff and session.get(Incident, incident_id) is None:
        recorded = session.get(VmOutage, incident_id)
        if recorded is not None:
            return reclassify(session, actor, registry, recorded, data)
    row = get_incident(session, actor, incident_id)
    _staff(actor)
    values: dict[str, object] = {}
    if data.end is not None:
        end = data.end.astimezone(dt.UTC)
        if end <= row.start:
            raise ValidationFailed("end: an outage ends after it starts")
        not_in_future("end", end)
        values["end"] = end
    if data.cause is not None:
        contracts = session.execute(
            select(IncidentVm.contract_id).where(IncidentVm.incident_id == row.id)
        ).scalars()
        _check_cause(data.cause, causes_of(session, registry, contracts))
        values["cause"] = data.cause
    if not values:
        raise ValidationFailed("cause: give a cause or an end")
    before = {"cause": row.cause, "end": row.end.isoformat() if row.end else None}
    session.execute(
        update(Incident)
        .where(Incident.id == row.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    history.record(
        session,
        actor.actor,
        object_type="incident",
        object_id=row.id,
        action="sla.outage.update",
        params={
            "before": before,
            "cause": row.cause,
            "end": row.end.isoformat() if row.end else None,
            "reason": data.reason,
        },
    )
    return row


# Recorded causes that come from a host that stopped answering (every VM on it).
HOST_CAUSES = frozenset({"host-unreachable"})


@dataclass(frozen=True)
class RecordedOutage:
    """An outage reconciliation recorded, as staff see it (with their reclassification)."""

    id: str
    vm_id: str
    start: dt.datetime
    end: dt.datetime | None
    recorded_cause: str
    cause: str
    reason: str | None
    declared_by: str | None
    declared_at: dt.datetime

    @property
    def source(self) -> str:
        return "host" if self.recorded_cause in HOST_CAUSES else "reconciliation"


def recorded_view(row: VmOutage, override: OutageCause | None) -> RecordedOutage:
    return RecordedOutage(
        id=row.id,
        vm_id=row.vm_id,
        start=row.start,
        end=row.end,
        recorded_cause=row.cause,
        cause=override.cause if override is not None else row.cause,
        reason=override.reason if override is not None else None,
        declared_by=override.set_by if override is not None else None,
        declared_at=override.set_at if override is not None else row.detected_at,
    )


def reclassify(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    row: VmOutage,
    data: IncidentPatch,
) -> RecordedOutage:
    """Staff reclassify an outage reconciliation recorded (a VM found down, or a host
    unreachable): its cause for the SLA, one of the VM's offer's excusable causes
    (excused) or ``not-excusable`` (counted, even a stop the guest made itself), with
    the reason. Its span stays what reconciliation saw (002 §6: from detection to
    running again). Each change is in the history with the cause before and after."""
    _staff(actor)
    if data.end is not None:
        raise ValidationFailed(
            "end: a recorded outage ends when reconciliation sees the VM running again; "
            "only its cause can be reclassified"
        )
    if data.cause is None:
        raise ValidationFailed("cause: give the cause the outage is reclassified to")
    if data.reason is None:
        raise ValidationFailed("reason: say why the recorded outage is reclassified")
    _check_cause(data.cause, causes_of(session, registry, [row.contract_id]))
    override = session.get(OutageCause, row.id)
    before = override.cause if override is not None else row.cause
    now = utc_now()
    if override is None:
        override = OutageCause(
            outage_id=row.id,
            vm_id=row.vm_id,
            client_id=row.client_id,
            contract_id=row.contract_id,
            cause=data.cause,
            reason=data.reason,
            set_by=actor.user_id,
            set_at=now,
        )
        session.add(override)
    else:
        override.cause, override.reason = data.cause, data.reason
        override.set_by, override.set_at = actor.user_id, now
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=row.vm_id,
        action="sla.outage.reclassify",
        params={
            "outage_id": row.id,
            "recorded_cause": row.cause,
            "before": before,
            "cause": data.cause,
            "reason": data.reason,
        },
        client_id=row.client_id,
    )
    return recorded_view(row, override)


def list_recorded(
    session: Session, actor: Principal, page: int, per_page: int, *, unclassified: bool = False
) -> tuple[list[RecordedOutage], int]:
    """Outages reconciliation recorded that the caller may see, newest first, with
    staff's reclassification; ``unclassified``: only those awaiting it (compute's cause,
    ``crashed`` or ``host-unreachable``, counted not excusable until staff reclassify;
    the guest's own stops are the client's act and excused)."""
    actor.require(Scope.READ)
    stmt = select(VmOutage, OutageCause).outerjoin(
        OutageCause, OutageCause.outage_id == VmOutage.id
    )
    if unclassified:
        stmt = stmt.where(
            OutageCause.outage_id.is_(None), VmOutage.cause.not_in(sorted(CLIENT_ACT_CAUSES))
        )
    if not actor.is_staff:
        stmt = stmt.where(VmOutage.client_id == actor.client_id)
    page, per_page = max(page, 1), min(max(per_page, 1), MAX_PER_PAGE)
    total = session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    rows = session.execute(
        stmt.order_by(VmOutage.start.desc(), VmOutage.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [recorded_view(r, o) for r, o in rows], total


def list_incidents(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Incident], int]:
    """Declared outages the caller may see, newest first."""
    actor.require(Scope.READ)
    stmt = _visible(actor).order_by(Incident.start.desc(), Incident.id)
    return paginate(session, stmt, page, per_page)


def vms_of(session: Session, incident_id: str) -> list[str]:
    """The VMs an incident took down."""
    return list(
        session.execute(
            select(IncidentVm.vm_id)
            .where(IncidentVm.incident_id == incident_id)
            .order_by(IncidentVm.vm_id)
        ).scalars()
    )


def vm_outages(
    session: Session,
    vm_ids: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    by_contract: bool = False,
) -> dict[str, list[sla.Outage]]:
    """Each VM's outages overlapping ``[start, end)``, recorded and declared; one still
    open counts until ``end`` or now, whichever is first. ``by_contract``: ``vm_ids``
    are contract ids (every VM of those contracts; a batch of reports sends fewer ids)."""
    until = min(end, utc_now())
    out: dict[str, list[sla.Outage]] = defaultdict(list)
    if not vm_ids:
        return out
    ids = list(vm_ids)
    own_column = VmOutage.contract_id if by_contract else VmOutage.vm_id
    declared_column = IncidentVm.contract_id if by_contract else IncidentVm.vm_id
    for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
        recorded = session.execute(
            select(VmOutage.vm_id, VmOutage.start, VmOutage.end, VmOutage.cause, OutageCause.cause)
            .outerjoin(OutageCause, OutageCause.outage_id == VmOutage.id)
            .where(
                own_column.in_(chunk),
                VmOutage.start < end,
                or_(VmOutage.end.is_(None), VmOutage.end > start),
            )
        )
        for vm_id, s, e, cause, reclassified in recorded:
            stop = e if e is not None else until
            if stop > s:
                # Staff's cause replaces the recorded one (and its "the guest stopped
                # itself" reading); ``not-excusable`` then counts.
                excusable = reclassified is None and cause in CLIENT_ACT_CAUSES
                out[vm_id].append(sla.Outage(s, stop, reclassified or cause, excusable, vm_id))
        declared = session.execute(
            select(IncidentVm.vm_id, Incident.start, Incident.end, Incident.cause)
            .join(Incident, Incident.id == IncidentVm.incident_id)
            .where(
                declared_column.in_(chunk),
                Incident.start < end,
                or_(Incident.end.is_(None), Incident.end > start),
            )
        ).all()
        for vm_id, s, e, cause in declared:
            stop = e if e is not None else until
            if stop > s:
                # ``not-excusable`` matches no offer's excusable causes: it counts.
                out[vm_id].append(sla.Outage(s, stop, cause, False, vm_id))
    return out
