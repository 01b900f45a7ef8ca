"""The exit state machine, as a table (DESIGN.md "State machines").

``open`` (just created: holds lifted, refund and first copies asked for) →
``awaiting_choice`` (the window runs: the client chooses, asks for copies, confirms) ⇄
``exporting`` (a copy is being written) → ``handed_over`` (every copy asked for is
ready) → ``erasing`` (disks, backups, snapshots, exports being deleted) → ``erased``
(the signed erasure record is in the history) → ``closed`` (the contract is closed).
"""

from __future__ import annotations

from enum import StrEnum

from nuages.kernel.errors import InvalidTransition


class ExitState(StrEnum):
    """Where an ended contract's exit stands."""

    OPEN = "open"
    AWAITING_CHOICE = "awaiting_choice"
    EXPORTING = "exporting"
    HANDED_OVER = "handed_over"
    ERASING = "erasing"
    ERASED = "erased"
    CLOSED = "closed"


E = ExitState
TRANSITIONS: dict[ExitState, frozenset[ExitState]] = {
    E.OPEN: frozenset({E.AWAITING_CHOICE, E.EXPORTING, E.HANDED_OVER, E.ERASING}),
    E.AWAITING_CHOICE: frozenset({E.EXPORTING, E.HANDED_OVER, E.ERASING}),
    E.EXPORTING: frozenset({E.AWAITING_CHOICE, E.HANDED_OVER, E.ERASING}),
    E.HANDED_OVER: frozenset({E.EXPORTING, E.AWAITING_CHOICE, E.ERASING}),
    E.ERASING: frozenset({E.ERASED}),
    E.ERASED: frozenset({E.CLOSED}),
    E.CLOSED: frozenset(),
}
# Where the client may still ask for copies, choose or confirm.
LIVE = frozenset({E.OPEN, E.AWAITING_CHOICE, E.EXPORTING, E.HANDED_OVER})


def check_transition(current: str, target: ExitState) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current`` → ``target``."""
    if target not in TRANSITIONS[ExitState(current)]:
        raise InvalidTransition(f"an exit {current} cannot become {target.value}")
