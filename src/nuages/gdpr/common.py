"""Helpers the GDPR use cases share: staff checks and "the clients we process for"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts.models import Contract
from nuages.contracts.states import ContractState
from nuages.kernel.errors import Forbidden


def require_staff(actor: Principal, what: str) -> None:
    """Write scope and provider staff, else 403 naming what was refused."""
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden(f"only provider staff {what}")


def processed_clients(session: Session) -> list[str]:
    """Every client the provider processes data for: a contract not closed (a contract
    in reversibility still holds the client's data, 001 §7, §16.2)."""
    rows = session.execute(
        select(Contract.client_id)
        .where(Contract.state != ContractState.CLOSED.value)
        .distinct()
        .order_by(Contract.client_id)
    ).scalars()
    return list(rows)


def iso(moment: dt.datetime | None) -> str:
    """A moment as the notices print it (UTC, minutes)."""
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
