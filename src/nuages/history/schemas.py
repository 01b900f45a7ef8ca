"""Response bodies of the history API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator, model_validator

from nuages.history.redaction import redact_text
from nuages.history.scopes import legacy_scope
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
    scope: str | None = Field(description="the token scope needed to read this entry")
    hash: str

    @field_validator("params", "outcome")
    @classmethod
    def _redacted(cls, value: str) -> str:
        # New entries are stored redacted; older ones may not be, and stay as stored
        # (the chain covers them) but are never shown in clear.
        return redact_text(value)

    @model_validator(mode="after")
    def _scope(self) -> HistoryOut:
        if self.scope is None:
            self.scope = legacy_scope(self.object_type, self.action, self.outcome)
        return self
