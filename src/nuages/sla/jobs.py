"""The monthly SLA run as one job body (issue 22): reports, then credits due.

``run`` is what the ``sla_month`` task and ``nuages sla report --month`` call; a second
run of the same month writes nothing new (reports compare fingerprints, credits move
by compare-and-swap and ledger keys).
"""

from __future__ import annotations

import datetime as dt

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.sla import credits, reports


def months_to_report(now: dt.datetime) -> list[tuple[int, int]]:
    """The two months before ``now`` (UTC): the last one, and the one before it for
    facts declared late (a month not yet over in some contract's zone is refused by
    ``issue_month`` and reported on the next night)."""
    first = now.date().replace(day=1)
    last = first - dt.timedelta(days=1)
    before = last.replace(day=1) - dt.timedelta(days=1)
    return [(before.year, before.month), (last.year, last.month)]


def run(
    database: Database, who: Actor, registry: OfferRegistry, year: int, month: int
) -> dict[str, int]:
    """Issue ``year``-``month``'s reports, then apply every due credit."""
    with database.unit() as session:
        issued = reports.issue_month(session, who, registry, year, month)
    with database.unit() as session:
        applied = credits.apply_due(session, who, registry)
    return {
        "contracts": issued.contracts,
        "issued": len(issued.issued),
        "corrected": len(issued.corrected),
        "credits": len(issued.credits),
        "applied": len(applied.applied),
        "waiting": len(applied.waiting),
    }
