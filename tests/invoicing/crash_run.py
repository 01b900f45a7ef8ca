"""A run in a process of its own, for the crash test: ``python -m tests.invoicing.crash_run
DATABASE_URL OFFERS_DIR RUN_ON MOMENT`` (the test kills it with SIGKILL mid-run)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import runs
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings


def main() -> None:
    """Run invoicing once, printing each committed contract."""
    url, offers_dir, run_on, moment = sys.argv[1:5]
    set_now(dt.datetime.fromisoformat(moment))
    database = Database(url)
    registry = OfferRegistry.from_directory(Path(offers_dir))
    runs.run(
        database,
        Actor.system("crash-test"),
        registry,
        dt.date.fromisoformat(run_on),
        settings=Settings(database_url=url),
        after_each=lambda ids: print(len(ids), flush=True),
    )


if __name__ == "__main__":
    main()
