"""The exit's dates in the contract's deadlines listing (issue #21 item 8).

``contracts.deadlines`` cannot import this slice (it sits above contracts), so this
module appends its source to ``contracts.deadlines.DEADLINE_SOURCES`` when it is first
imported: by the API (through ``reversibility.api``) and by ``nuages contracts
deadlines`` (``cli_life``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from nuages.contracts import deadlines
from nuages.contracts.models import Contract
from nuages.reversibility import service
from nuages.terms.schema import Offer


def exit_deadlines(session: Session, contract: Contract, offer: Offer) -> list[deadlines.Deadline]:
    """The coming dates of the contract's exit (copies, choices, erasure)."""
    del offer  # the exit's plan is read from the exit itself
    return [
        deadlines.Deadline(at, kind, clause, description, contract.id)
        for at, kind, clause, description in service.upcoming(session, contract)
    ]


if exit_deadlines not in deadlines.DEADLINE_SOURCES:
    deadlines.DEADLINE_SOURCES.append(exit_deadlines)
