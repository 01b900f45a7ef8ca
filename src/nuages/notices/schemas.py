"""Response bodies of the notices API: each notice with its delivery record."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import Field, field_validator

from nuages.kernel.validation import Out


class AttemptOut(Out):
    at: dt.datetime
    mailer: str
    outcome: str = Field(description="accepted, deferred, refused or interrupted")
    code: int | None = Field(description="the SMTP server's reply code, when it answered")
    reply: str


class NoticeOut(Out):
    id: str
    kind: str
    clause: str
    client_id: str
    contract_id: str | None
    object_type: str
    object_id: str
    recipients: list[str]
    subject: str
    legal_ref: str
    message_id: str
    state: str = Field(description="queued, sending, sent or failed")
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str = Field(description="why it is deferred or failed (bounce, refusal…)")
    sent_at: dt.datetime | None
    created_at: dt.datetime
    attachments: list[str] = Field(description="file names of the attachments")

    @field_validator("recipients", mode="before")
    @classmethod
    def _recipients(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("attachments", mode="before")
    @classmethod
    def _attachments(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [ref["filename"] for ref in json.loads(value)]
        return value


class NoticeDetailOut(NoticeOut):
    body: str
    history: list[AttemptOut] = Field(description="every delivery attempt, oldest first")
