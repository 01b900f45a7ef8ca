"""A contract's support agreement: what its particular conditions or quote add to the
offer (hourly rate, maintenance offer, managed-service quota and prices, end of the
footprint audit). Set by staff; read by tickets, change requests, audits, the SLA."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.history import service as history
from nuages.kernel.access import get_visible
from nuages.kernel.errors import Forbidden
from nuages.managed.models import SupportAgreement

FIELDS = (
    "hourly_rate",
    "maintenance_offer",
    "managed",
    "standard_changes_per_month",
    "standard_change_price",
    "significant_change_price",
    "footprint_audit_end",
)


def agreement_of(session: Session, contract_id: str) -> SupportAgreement | None:
    """The contract's agreement, if staff set one."""
    return session.get(SupportAgreement, contract_id)


def get_agreement(session: Session, actor: Principal, contract_id: str) -> SupportAgreement:
    """The agreement of a contract the caller may see (an empty one when none is set)."""
    actor.require(Scope.READ)
    contract = get_visible(session, actor, Contract, contract_id, "contract")
    found = agreement_of(session, contract.id)
    return found or SupportAgreement(
        contract_id=contract.id,
        client_id=contract.client_id,
        maintenance_offer=False,
        managed=False,
        standard_changes_per_month=0,
    )


def set_agreement(
    session: Session, actor: Principal, contract_id: str, values: dict[str, object]
) -> SupportAgreement:
    """Staff write the fields given (others unchanged) and record the change."""
    contract = get_visible(session, actor, Contract, contract_id, "contract")
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff set a contract's support agreement")
    row = agreement_of(session, contract.id)
    if row is None:
        row = SupportAgreement(
            contract_id=contract.id,
            client_id=contract.client_id,
            maintenance_offer=False,
            managed=False,
            standard_changes_per_month=0,
        )
        session.add(row)
    for name, value in values.items():
        if name in FIELDS:
            setattr(row, name, value)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="support.agreement.set",
        params={
            k: (str(v) if isinstance(v, Decimal | dt.datetime) else v)
            for k, v in values.items()
            if k in FIELDS
        },
        client_id=contract.client_id,
    )
    return row
