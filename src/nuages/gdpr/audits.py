"""Audits by the client (001 §16.8): announced at least the offer's notice ahead
(cloudbizz: 5 jours ouvrables, Monday–Saturday minus Belgian holidays, SPEC §16; the
day of the announcement never counts, SPEC §17), and the provider's work beyond the
free hours (3) billed on the next invoice at the contract's hourly rate."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.gdpr import schemas
from nuages.gdpr.common import require_staff
from nuages.gdpr.models import Audit
from nuages.history import service as history
from nuages.invoicing.lines import add_charge
from nuages.kernel.access import get_visible, visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, ValidationFailed
from nuages.kernel.money import round_cents
from nuages.managed.agreements import agreement_of
from nuages.notices.service import queue
from nuages.terms import apply

CLAUSE = "001 §16.8"


def request_audit(
    session: Session, actor: Principal, registry: OfferRegistry, data: schemas.AuditCreate
) -> Audit:
    """Record the client's audit announcement, or refuse one inside the notice period
    (422 naming ``starts_on`` and the clause; nothing written)."""
    actor.require(Scope.WRITE)
    contract = get_visible(session, actor, Contract, data.contract_id, "contract")
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        # The audit is the controller's right (GDPR Art. 28.3 (h)): an owner asks.
        raise Forbidden("only an owner (or staff, on the client's word) announces an audit")
    offer = registry.for_contract(session, contract)
    calendar = apply.calendar_for(offer)
    now = utc_now()
    protection = offer.data_protection
    notice = protection.audit_notice if protection is not None else None
    if notice is not None:
        earliest = calendar.local_date(
            calendar.add(now, notice.amount, apply.duration_unit(notice))
        )
        notice_text = str(notice)
    else:
        earliest = calendar.local_date(now)
        notice_text = "none"
    if data.starts_on < earliest:
        raise ValidationFailed(
            f"starts_on: an audit is announced at least {notice_text} ahead "
            f"({notice.clause if notice and notice.clause else CLAUSE}); "
            f"the earliest start from today is {earliest.isoformat()}"
        )
    audit = Audit(
        client_id=contract.client_id,
        contract_id=contract.id,
        auditor=data.auditor,
        scope=data.scope,
        requested_at=now,
        starts_on=data.starts_on,
        earliest_start=earliest,
        state="scheduled",
    )
    session.add(audit)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="audit",
        object_id=audit.id,
        action="gdpr.audit.request",
        params={"starts_on": data.starts_on.isoformat(), "earliest": earliest.isoformat()},
        client_id=contract.client_id,
    )
    free = protection.audit_free_hours if protection is not None else None
    queue(
        session,
        actor.actor,
        "audit_scheduled",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="audit",
        object_id=audit.id,
        key=f"audit:{audit.id}",
        context={
            "starts_on": data.starts_on.isoformat(),
            "auditor": data.auditor,
            "earliest_start": earliest.isoformat(),
            "notice": notice_text,
            "free_hours": free if free is not None else 0,
        },
    )
    return audit


def list_audits(actor: Principal) -> Select[Audit]:
    actor.require(Scope.READ)
    return visible(actor, select(Audit), Audit.client_id).order_by(Audit.starts_on.desc())


def close_audit(
    session: Session, actor: Principal, registry: OfferRegistry, audit_id: str, hours: Decimal
) -> Audit:
    """Staff record the provider's hours on a done audit; those beyond the offer's free
    hours are billed at the contract's hourly rate on the next invoice (001 §16.8)."""
    require_staff(actor, "close an audit")
    audit = get_visible(session, actor, Audit, audit_id, "audit")
    if audit.state != "scheduled":
        raise Conflict(f"the audit is already {audit.state}")
    if hours < 0:
        raise ValidationFailed("hours: never negative")
    contract = session.get(Contract, audit.contract_id)
    assert contract is not None
    offer = registry.for_contract(session, contract)
    protection = offer.data_protection
    free = Decimal(protection.audit_free_hours or 0) if protection is not None else Decimal(0)
    billed = max(Decimal(0), hours - free) if protection is not None else Decimal(0)
    audit.provider_hours, audit.billed_hours, audit.state = hours, billed, "done"
    if billed > 0:
        agreement = agreement_of(session, contract.id)
        rate = agreement.hourly_rate if agreement is not None else None
        if rate is None:
            raise Conflict(
                "hourly_rate: the contract has no hourly rate (its particular conditions, "
                f"{CLAUSE}); set it with `nuages tickets agreement` first"
            )
        charge, _ = add_charge(
            session,
            actor.actor,
            contract,
            kind="fee",
            description=f"Audit {audit.starts_on}: {billed} h beyond {free} h ({CLAUSE})",
            amount=round_cents(billed * rate),
            idempotency_key=f"audit:{audit.id}",
        )
        audit.charge_id = charge.id
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="audit",
        object_id=audit.id,
        action="gdpr.audit.close",
        params={"hours": str(hours), "billed_hours": str(billed)},
        client_id=audit.client_id,
    )
    return audit
