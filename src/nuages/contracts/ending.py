"""How a contract reaches its end: the cause codes, and the one step that ends it.

When a termination takes effect (a notice to quit reached, a non-renewal, a termination
for breach, force majeure, a negative balance or a hold over 15 days, new terms refused
at the term) the contract moves to ``reversibility`` with ``ended_at`` the effective end
and ``state_reason`` one ``EndCause`` code. What happens next (exports, the balance
refund, erasure, closure) belongs to the end-of-contract slice, which picks the contract
up from there; nothing here touches data.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy.orm import Session

from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.states import ContractState
from nuages.history.service import Actor
from nuages.kernel import jobs


class EndCause(StrEnum):
    """Why a contract ended (its ``state_reason`` once in reversibility)."""

    CLIENT_NOTICE = "client_notice"  # 001 §3.2, 003 §13.1.4, 004 §5; penalty-free exits
    PROVIDER_NOTICE = "provider_notice"  # the provider's non-renewal notice
    NON_RENEWAL = "non_renewal"  # the terms give no tacit renewal
    CLIENT_BREACH = "client_breach"  # 000 §16, 001 §3.3, 003 §13.1.2
    PROVIDER_BREACH = "provider_breach"  # the client ends it for the provider's fault
    FORCE_MAJEURE = "force_majeure"  # 003 §9
    NEGATIVE_BALANCE = "negative_balance"  # 000 §11.2
    HOLD_OVER_15_DAYS = "hold_over_15_days"  # 004 §17.1
    TERMS_REFUSED = "terms_refused"  # 000 §4: refused terms, not renewed at the term


# The causes that are the client's doing, the provider's, or neither (000 §13.2 refund).
CLIENT_FAULT = frozenset({EndCause.CLIENT_BREACH, EndCause.NEGATIVE_BALANCE})
PROVIDER_FAULT = frozenset({EndCause.PROVIDER_BREACH})
ENDABLE = frozenset({ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.ENDING})


def end(
    session: Session, who: Actor, contract: Contract, cause: EndCause, at: dt.datetime
) -> Contract:
    """Move ``contract`` to reversibility, ended at ``at`` for ``cause`` (a compare-and-
    swap on its state through the state table; recorded in the history)."""
    contract = contracts.transition(
        session, contract, ContractState.REVERSIBILITY, who, cause.value, ended_at=at
    )
    contract.resumes_to = None
    session.flush()
    # The end of contract's own slice opens the exit now (holds lifted, services
    # stopped where the offer says), not at the next nightly pass (issue #21 item 6).
    jobs.enqueue(session, "contracts_exit_advance", contract.id)
    return contract
