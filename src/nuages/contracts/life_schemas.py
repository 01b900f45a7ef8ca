"""Request and response bodies of the contract's life: notices to quit, formal notices,
terms changes, price revisions, deadlines (issue #21)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from nuages.contracts.ending import EndCause
from nuages.kernel.validation import Instant, Money, Multiline, Out, Strict


class TerminationCreate(Strict):
    """A notice to quit (the client's Responsable, or staff recording a registered
    letter with its receipt or, 003 §13.1.5, its first presentation), or a termination
    by the provider on an open ground. ``confirm = false`` answers the effective date
    without writing anything; send it again with ``confirm = true`` to give the notice."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"cause": "client_notice", "confirm": False, "reason": "moving out"}]
        }
    )

    cause: EndCause = EndCause.CLIENT_NOTICE
    confirm: bool = False
    reason: Annotated[str, Multiline] = Field(default="", max_length=500)
    received_at: Instant | None = None
    first_presented_at: Instant | None = None


class TerminationOut(BaseModel):
    """When the termination takes effect, said plainly; ``termination_id`` once given."""

    cause: str
    dated_at: dt.datetime
    effective_at: dt.datetime
    current_term_ends_at: dt.datetime | None
    in_time: bool
    penalty_free: str
    clause: str
    message: str
    confirmed: bool
    termination_id: str | None = None


class FormalNoticeCreate(Strict):
    """Staff record a formal notice for the client's breach (000 §16, 001 §3.3, 003
    §13.1.2) or a force-majeure event (003 §9: the contract is suspended)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"ground": "client_breach", "reason": "abusive mail relay", "suspend": False}
            ]
        }
    )

    ground: Literal["client_breach", "force_majeure"]
    reason: Annotated[str, Multiline] = Field(min_length=1, max_length=500)
    given_at: Instant | None = None
    # 003 §13.1.5: a registered letter is dated by the postmark of its first
    # presentation (offers with ``termination.notice_dated_by = "first_presentation"``).
    first_presented_at: Instant | None = None
    suspend: bool = False


class FormalNoticeClose(Strict):
    """Staff close an open formal notice: the breach remedied, the force majeure over."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ground": "client_breach", "reason": "remedied"}]}
    )

    ground: Literal["client_breach", "force_majeure"]
    reason: str = Field(min_length=1, max_length=500)


class FormalNoticeOut(Out):
    id: str
    contract_id: str
    ground: str
    clause: str
    reason: str
    given_by: str
    given_at: dt.datetime
    terminable_from: dt.datetime
    automatic_at: dt.datetime | None
    hold_id: str | None
    closed_at: dt.datetime | None


class TermsChangePublish(Strict):
    """Staff announce the offer's version in force to every contract on an older one
    (000 §4: 1 month to refuse; 004 §3: e-mailed before ``in_force_at``, 30 days to
    refuse after it); ``imposed_by_law`` changes cannot be refused (000 §4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"summary": "support hours extended", "imposed_by_law": False, "in_force_at": None}
            ]
        }
    )

    summary: str = Field(min_length=1, max_length=500)
    imposed_by_law: bool = False
    in_force_at: Instant | None = None


class TermsChangeOut(Out):
    id: str
    contract_id: str
    from_hash: str
    to_hash: str
    summary: str
    imposed_by_law: bool
    announced_at: dt.datetime
    in_force_at: dt.datetime
    refusable_until: dt.datetime | None
    exit_until: dt.datetime | None
    state: str
    refused_at: dt.datetime | None
    letter_date: dt.date | None


class TermsRefusal(Strict):
    """The Responsable refuses the announced terms; ``letter_date`` is the registered
    letter's date where the terms require one (000 §4)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"letter_date": "2026-11-03", "reason": "too costly"}]}
    )

    letter_date: dt.date | None = None
    reason: str = Field(default="", max_length=500)


class PriceRevisionCreate(Strict):
    """003 §14.3: staff revise the contract's prices at its anniversary by
    ``proposed_pct`` %, capped at 5 %; the client is told and may leave without penalty."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"proposed_pct": "4.0", "reason": "energy costs"}]}
    )

    # A plain decimal string like every amount (kernel.validation.Money): "4e0" is refused.
    proposed_pct: Money = Field(ge=-100, le=100, max_digits=8, decimal_places=4)
    reason: str = Field(default="", max_length=500)


class PriceRevisionOut(Out):
    id: str
    contract_id: str
    effective_at: dt.datetime
    factor: Decimal
    cumulative: Decimal
    capped: bool
    clause: str
    note: str
    exit_until: dt.datetime | None


class DeadlineOut(BaseModel):
    """One dated step of a contract's life."""

    model_config = ConfigDict(from_attributes=True)

    at: dt.datetime
    kind: str
    clause: str
    description: str
    contract_id: str
