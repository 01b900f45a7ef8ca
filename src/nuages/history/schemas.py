"""Response bodies of the history API."""

from __future__ import annotations

import datetime as dt

from nuages.kernel.validation import Out


class HistoryOut(Out):
    seq: int
    id: str
    at: dt.datetime
    actor_id: str | None
    actor_label: str
    client_id: str | None
    object_type: str
    object_id: str
    action: str
    params: str
    outcome: str
    hash: str
