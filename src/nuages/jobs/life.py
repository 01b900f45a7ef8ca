"""The daily pass of the contract's life (issue #21 item 8): the contracts slice acts on
every deadline reached (terminations, force majeure, terms changes, renewals and their
announcements), then invoicing applies the index revisions whose anniversary is reached
(it holds the index values) and billing charges prepaid accounts the revised price. One
unit of work; run twice the same day it acts once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nuages.billing import revisions as prepaid_revisions
from nuages.contracts import daily
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import revisions
from nuages.kernel.db import Database

WHO = Actor.system("contracts")


@dataclass
class LifeReport:
    """The contracts pass and the revisions pass of one run."""

    contracts: daily.DailyReport
    revisions: revisions.RevisionReport
    prepaid: list[str]

    def as_dict(self) -> dict[str, object]:
        c, r = self.contracts, self.revisions
        return {
            "ended": c.ended,
            "renewed": c.renewed,
            "announced": c.announced,
            "migrated": c.migrated,
            "other": c.other,
            "revised": r.applied,
            "prepaid_revision_entries": self.prepaid,
            "problems": c.problems + r.problems,
            "acts": c.acts + len(r.applied) + len(self.prepaid),
        }


def run_daily(database: Database, registry: OfferRegistry, now: dt.datetime) -> LifeReport:
    """Act on every deadline reached by ``now``."""
    with database.unit() as session:
        report = daily.run(session, WHO, now)
        revised = revisions.apply_due(session, WHO, registry, now)
        # 000 §13.3 on the prepaid account: the revised price for every elapsed day.
        prepaid = prepaid_revisions.settle(session, registry, now)
    return LifeReport(report, revised, prepaid)
