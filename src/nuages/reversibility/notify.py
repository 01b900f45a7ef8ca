"""The notices of an exit: its opening with the deadline (every owner), and the
erasure with its record (001 §7: the deletion recorded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from nuages.contracts.models import Contract
from nuages.history.service import Actor
from nuages.notices.service import queue

if TYPE_CHECKING:
    from nuages.reversibility.models import ContractExit
    from nuages.reversibility.plan import ExitPlan


def opened(
    session: Session, who: Actor, contract: Contract, exit_: ContractExit, plan: ExitPlan
) -> None:
    """The contract ended: what happens to the data, and until when (the deadline)."""
    queue(
        session,
        who,
        "exit_opened",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"exit:{exit_.id}:open",
        legal_ref=plan.clause,
        context={
            "ended_at": exit_.ended_at.isoformat(timespec="minutes"),
            "exit_clause": plan.clause,
            "window_ends_at": exit_.window_ends_at.isoformat(timespec="minutes")
            if exit_.window_ends_at
            else "",
            "denied": plan.denied,
            "images": plan.images_for_every_vm,
            "fee": str(plan.fee) if plan.fee is not None else "",
            "fee_per": plan.fee_per,
            "paid_up": plan.requires_paid_up,
            "confirmation": plan.confirmation_ends,
            "refund": str(exit_.refund_amount) if exit_.refund_amount is not None else "",
        },
    )


def erased(session: Session, who: Actor, contract: Contract, exit_: ContractExit) -> None:
    """The data was erased and the contract closed: the erasure record's reference."""
    queue(
        session,
        who,
        "exit_erased",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"exit:{exit_.id}:erased",
        legal_ref=exit_.clause,
        context={
            "erased_at": (exit_.erased_at or exit_.updated_at).isoformat(timespec="minutes"),
            "exit_clause": exit_.clause,
            "record_id": exit_.erasure_record_id or "",
            "record_hash": exit_.erasure_record_hash or "",
            "reason": exit_.erasure_reason or "",
        },
    )
