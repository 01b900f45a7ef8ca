"""The exit's dates in the contract's deadlines listing (issue #21 item 8), and the
moves of the data outside the EU with their exit windows (001 §5.3).

``contracts.deadlines`` cannot import this slice (it sits above contracts), so this
module appends its source to ``contracts.deadlines.DEADLINE_SOURCES`` when it is first
imported: by the API (through ``reversibility.api``) and by ``nuages contracts
deadlines`` (``cli_life``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from nuages.contracts import deadlines
from nuages.contracts.models import Contract
from nuages.reversibility import relocation, service
from nuages.terms.schema import Offer


def exit_deadlines(session: Session, contract: Contract, offer: Offer) -> list[deadlines.Deadline]:
    """The coming dates of the contract's exit (copies, choices, erasure)."""
    del offer  # the exit's plan is read from the exit itself
    return [
        deadlines.Deadline(at, kind, clause, description, contract.id)
        for at, kind, clause, description in service.upcoming(session, contract)
    ]


def relocation_deadlines(
    session: Session, contract: Contract, offer: Offer
) -> list[deadlines.Deadline]:
    """001 §5.3: each announced move outside the EU — when the data may move, and the
    end of the client's penalty-free exit."""
    del offer
    out = []
    for row in relocation.relocations_of(session, contract.id):
        where = f"{row.site} ({row.country})"
        out.append(
            deadlines.Deadline(row.exit_until, "penalty-free-exit", row.clause,
                               f"after the move announced to {where} the client may terminate "
                               "without indemnity until then", contract.id)
        )  # fmt: skip
        out.append(
            deadlines.Deadline(row.moves_at, "relocation-outside-eu", row.clause,
                               f"the data may move to {where} from then", contract.id)
        )  # fmt: skip
    return out


for _source in (exit_deadlines, relocation_deadlines):
    if _source not in deadlines.DEADLINE_SOURCES:
        deadlines.DEADLINE_SOURCES.append(_source)
