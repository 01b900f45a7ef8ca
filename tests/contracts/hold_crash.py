"""A process that places a hold and is killed before its VMs are paused, for the crash
test: ``python -m tests.contracts.hold_crash DATABASE_URL OFFERS_DIR CONTRACT_ID``.

The hold commits; the enforcement job it asks for starts, prints ``placed`` and waits:
the test kills the process with SIGKILL there, between the hold and the pause."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nuages.contracts import holds
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel import jobs
from nuages.kernel.db import Database


def main() -> None:
    url, offers_dir, contract_id = sys.argv[1:4]
    registry = OfferRegistry.from_directory(Path(offers_dir))

    def stuck(_contract_id: str) -> None:
        print("placed", flush=True)
        time.sleep(120)  # killed here

    jobs.handle(holds.ENFORCE_JOB, stuck)
    database = Database(url)
    with database.unit() as session:
        offer = registry.current("isstar-cloud")
        holds.place(session, Actor.system("crash"), offer, contract_id, "legal-obligation", "x")


if __name__ == "__main__":
    main()
