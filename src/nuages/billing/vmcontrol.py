"""Pausing and resuming a contract's VMs for billing, through the compute services."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nuages.history.service import Actor


def suspend_contract_vms(session: Session, contract_id: str, reason: str, who: Actor) -> list[str]:
    """Pause every running or stopped VM of the contract; return their ids."""
    return []


def resume_contract_vms(session: Session, contract_id: str, reason: str, who: Actor) -> list[str]:
    """Resume every VM of the contract suspended for ``reason``; return their ids."""
    return []
