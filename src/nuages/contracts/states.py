"""The contract state machine, as a table (DESIGN.md "State machines")."""

from __future__ import annotations

from enum import StrEnum

from nuages.kernel.errors import InvalidTransition


class ContractState(StrEnum):
    """Where a contract stands."""

    PENDING = "pending"  # ordered; awaiting the minimum amount (000 §3.1) or confirmation
    ACTIVE = "active"
    SUSPENDED = "suspended"  # access blocked, billing continues (000 §11.1, 003 §8)
    ENDING = "ending"  # notice given; runs until its effective date
    REVERSIBILITY = "reversibility"  # ended; the client may still recover its data
    CLOSED = "closed"


S = ContractState
TRANSITIONS: dict[ContractState, frozenset[ContractState]] = {
    S.PENDING: frozenset({S.ACTIVE, S.CLOSED}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.ENDING, S.REVERSIBILITY}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.ENDING, S.REVERSIBILITY}),
    S.ENDING: frozenset({S.REVERSIBILITY, S.SUSPENDED}),
    S.REVERSIBILITY: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}

# States in which the client may provision and run VMs.
PROVISIONING_STATES = frozenset({S.ACTIVE, S.ENDING})


def check_transition(current: str, target: ContractState) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current`` → ``target``."""
    if target not in TRANSITIONS[ContractState(current)]:
        raise InvalidTransition(f"a {current} contract cannot become {target.value}")
