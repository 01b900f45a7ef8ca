"""Request and response bodies of the contracts and offers API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nuages.contracts.terms_view import SourceOut, TermsOut
from nuages.kernel.validation import Out, SafeName, Strict


class FlavourOut(BaseModel):
    id: str
    name: str
    vcpu: int
    ram_mib: int
    disk_gib: int
    bandwidth_mbps: int
    price: Decimal
    unit: str


class OfferOut(BaseModel):
    """An offer as clients see it before ordering."""

    id: str
    title: str
    provider: str
    law: str
    billing_mode: str
    content_hash: str
    vat_rate: Decimal
    prices_include_vat: bool
    flavours: list[FlavourOut]


class OfferDetailOut(OfferOut):
    """The whole offer as the client accepts it: every term of the version shown
    (``content_hash``; send it back as ``offer_hash`` when ordering), each with its
    clause."""

    currency: str
    timezone: str
    clients: list[str]
    source: SourceOut
    terms: TermsOut


class ProblemLineOut(BaseModel):
    """One problem of a terms file, located by line and key path."""

    file: str
    line: int
    path: str
    message: str
    expected: str


class OffersReloadOut(BaseModel):
    """What a reload of the terms files changed; a file with problems kept its previous
    offer."""

    offers: list[str]
    added: list[str]
    changed: list[str]
    removed: list[str]
    problems: list[ProblemLineOut]


class ContractCreate(Strict):
    """An order: the client accepts one offer version (000 §3.1)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"offer_id": "isstar-cloud", "accept_terms": True}],
        }
    )

    offer_id: SafeName
    client_id: str | None = Field(default=None, max_length=36, description="staff only")
    accept_terms: bool = Field(description="the client accepts the offer's terms (CGV)")
    offer_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="the version the client read; refused if the terms changed since",
    )
    firewall_tier: Literal["basic", "standard", "advanced"] | None = Field(
        default=None,
        description="002 §3.6: the firewall tier chosen at order, where the offer asks "
        "for one (Cloud Datacenter: standard or advanced); billed as its option",
    )


class ContractAction(Strict):
    """The reason for an action on a contract (kept in its history)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "order confirmed"}]})

    reason: str = Field(min_length=1, max_length=500)


class HoldOut(Out):
    """One hold: why the contract is suspended, by whom, since when, until when."""

    id: str
    contract_id: str
    ground: str
    clause: str
    reason: str
    placed_by: str
    placed_at: dt.datetime
    expected_end_at: dt.datetime | None
    lifted_by: str | None
    lifted_at: dt.datetime | None
    lift_reason: str | None
    wrongful: bool
    # contract: the contract suspended; network: a network cut's partial suspension.
    scope: str = "contract"


class HoldCreate(Strict):
    """Staff place a hold: a suspension ground of the contract's offer (or
    ``staff-decision``), the reason told to the client, the expected end where known
    (004 §7)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ground": "staff-decision",
                    "reason": "outgoing attack traffic seen from the VM",
                    "expected_end_at": None,
                }
            ]
        }
    )

    ground: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")
    reason: str = Field(min_length=1, max_length=500)
    expected_end_at: dt.datetime | None = None


class HoldLift(Strict):
    """Staff lift a hold; ``wrongful`` when the suspension was manifestly wrong
    (000 §11.1: the suspended time is then not billed)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "cause remedied", "wrongful": False}]}
    )

    reason: str = Field(min_length=1, max_length=500)
    wrongful: bool = False


class ContractOut(Out):
    id: str
    client_id: str
    offer_id: str
    offer_hash: str
    state: str
    state_reason: str
    accepted_at: dt.datetime
    activated_at: dt.datetime | None
    term_ends_at: dt.datetime | None
    ended_at: dt.datetime | None
    created_at: dt.datetime
    # 002 §3.6: the firewall tier chosen at order (None where the offer asks for none).
    firewall_tier: str | None = None
    # The holds open now (the contract is suspended while there is one).
    holds: list[HoldOut] = []
    # 004 §17.1: from when the provider may terminate (a hold open too long), if ever.
    terminable_from: dt.datetime | None = None
