"""The periodic and on-demand jobs of nuages.

Each task opens one unit of work and calls one service function; the slices' services
hold the rules. Importing this module registers the tasks on the process's queue.
"""

from __future__ import annotations

import logging

from nuages.jobs.queue import get_huey

log = logging.getLogger("nuages.jobs")
huey = get_huey()


@huey.task()  # type: ignore[untyped-decorator]
def ping(marker: str) -> str:
    """A no-op job used to check that a worker consumes the queue."""
    log.info("ping %s", marker)
    return marker
