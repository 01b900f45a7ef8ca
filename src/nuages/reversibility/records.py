"""Reading and checking a contract's signed erasure record (issue #21 item 6)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.contracts import service as contracts
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import NotFound
from nuages.kernel.settings import Settings
from nuages.reversibility import signing
from nuages.reversibility.models import ContractExit


@dataclass(frozen=True)
class ErasureRecord:
    """The erasure entry of the history, its parameters (the signed record) and the
    outcome of checking them against the provider's key now."""

    contract_id: str
    history_id: str
    history_hash: str
    at: dt.datetime
    record: dict[str, Any]
    verdict: signing.Verdict


def erasure_record(
    session: Session, actor: Principal, settings: Settings, contract_id: str
) -> ErasureRecord:
    """The signed erasure record of a contract the caller may see (404 before the
    erasure)."""
    contract = contracts.get_contract(session, actor, contract_id)
    record_id = session.scalar(
        select(ContractExit.erasure_record_id).where(ContractExit.contract_id == contract.id)
    )
    entry = (
        session.execute(
            select(HistoryEntry).where(HistoryEntry.id == record_id)
        ).scalar_one_or_none()
        if record_id
        else None
    )
    if entry is None:
        raise NotFound(f"contract {contract.id} has no erasure record: its data is not erased")
    record: dict[str, Any] = json.loads(entry.params)
    public = signing.private_key(settings).public_key()
    return ErasureRecord(
        contract.id, entry.id, entry.hash, entry.at, record, signing.verify(public, record)
    )
