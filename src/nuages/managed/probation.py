"""002 §4: after the initial footprint audit a managed service runs a probation of 3
calendar months during which it is billed but no SLA applies. The SLA slice asks
``in_probation``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import parse_version
from nuages.managed.agreements import agreement_of
from nuages.terms import apply


def probation_period(
    session: Session, contract: Contract
) -> tuple[dt.datetime, dt.datetime] | None:
    """``[start, end)`` of the contract's probation, or None when it has none: the
    offer states none, it applies to managed services and the contract has none, or
    the footprint audit has not ended (the probation has not begun: the SLA applies,
    the client-favourable reading, SPEC §17)."""
    version = session.get(OfferVersion, contract.offer_hash)
    if version is None:
        return None
    offer = parse_version(version.content_hash, version.content)
    probation = offer.sla.probation
    if probation is None:
        return None
    agreement = agreement_of(session, contract.id)
    if probation.applies_to == "managed_services" and (agreement is None or not agreement.managed):
        return None
    if probation.starts_on == "footprint_audit_end":
        start = agreement.footprint_audit_end if agreement is not None else None
    else:
        start = contract.activated_at
    if start is None:
        return None
    calendar = apply.calendar_for(offer)
    end = (
        calendar.shift_months(start, probation.period.amount)
        if probation.period.unit.value == "months"
        else calendar.add(start, probation.period.amount, apply.duration_unit(probation.period))
    )
    return start, end


def in_probation(session: Session, contract: Contract, at: dt.datetime) -> bool:
    """Whether ``at`` falls in the contract's probation (no SLA then, 002 §4)."""
    period = probation_period(session, contract)
    return period is not None and period[0] <= at < period[1]
