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
    state: str = Field(description="queued, sending, sent, failed or bounced")
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str = Field(description="why it is deferred or failed (bounce, refusal…)")
    sent_at: dt.datetime | None
    created_at: dt.datetime
    alert: str = Field(
        default="",
        description="a legal notice that bounced: how to get it to the client another way",
    )
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


class BounceOut(Out):
    at: dt.datetime
    recipient: str
    action: str = Field(description="failed (permanent), delayed, delivered, relayed, expanded")
    status: str = Field(description="the enhanced status code, e.g. 5.1.1")
    permanent: bool
    diagnostic: str
    remote_mta: str
    reporting_mta: str
    guessed: bool = Field(description="read from the text of a DSN without its report part")


class NoticeDetailOut(NoticeOut):
    body: str
    history: list[AttemptOut] = Field(description="every delivery attempt, oldest first")
    bounces: list[BounceOut] = Field(
        default_factory=list,
        description="what delivery status notifications said afterwards, per recipient",
    )
    resent_as: str | None = Field(
        default=None, description="a bounced notice staff resent: the copy's notice id"
    )


class BounceMailOut(Out):
    id: str
    received_at: dt.datetime
    source: str = Field(description="smtp (the listener), maildir or file")
    envelope_to: str
    sender: str
    subject: str
    outcome: str = Field(description="matched, unknown or unparsable")
    notice_id: str | None
    detail: str
    size: int
    excerpt: str = Field(default="", description="the message's first 2,000 characters")
