"""Request and response bodies of the invoicing API (amounts are decimal strings)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from nuages.billing.schemas import mask_iban
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Money, Multiline, Out, SafeName, Strict
from nuages.payments import mandates

Amount = Annotated[Money, Field(max_digits=14, decimal_places=2)]
Quantity = Annotated[Money, Field(gt=0, max_digits=14, decimal_places=6)]
Key = Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


class LineCreate(Strict):
    """An item ordered on a contract (a catalogue flavour, option or user count)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"item_id": "backup-7d", "quantity": "1", "since": "2026-03-01"}]
        }
    )

    item_id: SafeName
    quantity: Quantity = Decimal(1)
    since: dt.date
    until: dt.date | None = None
    unit_price: Annotated[Money, Field(ge=0, max_digits=14, decimal_places=6)] | None = Field(
        default=None, description="the quoted price, for items priced on quote"
    )
    replaces_id: str | None = Field(default=None, max_length=36, description="an upgrade")
    vm_id: str | None = Field(default=None, max_length=36)
    description: str = Field(default="", max_length=200)


class LineEnd(Strict):
    """When an ordered line stops (exclusive)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"until": "2026-06-01"}]})

    until: dt.date


class LineOut(Out):
    """An item ordered on a contract."""

    id: str
    contract_id: str
    item_id: str
    quantity: Decimal
    unit_price: Decimal | None
    since: dt.date
    until: dt.date | None
    replaces_id: str | None
    vm_id: str | None
    description: str
    commits_seats_of: str | None = Field(
        None,
        description="Seats removed from that line before their 12 months, billed to their "
        "end (001 §4.1–4.3).",
    )


class MandateIn(Strict):
    """A SEPA Core mandate the client signed (003 §14.2, 004 §8.2)."""

    mandate_id: str = Field(min_length=1, max_length=35, pattern=r"^[A-Za-z0-9+?/:().,' -]+$")
    signed_on: dt.date
    iban: str = Field(min_length=15, max_length=42)
    bic: str = Field(min_length=8, max_length=11)
    # A pre-notification period shorter than the SEPA rulebook's 14 days, if the
    # mandate agrees one; None: 14 calendar days.
    prenotice_days: int | None = Field(default=None, ge=1, le=14)

    # Checked by the payments slice's mandate rules (one model), as a 422 on the field.
    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        try:
            return str(mandates.check_iban(value).compact)
        except ValidationFailed as exc:
            raise ValueError(str(exc.detail)) from None

    @model_validator(mode="after")
    def _bic(self) -> MandateIn:
        try:
            self.bic = mandates.check_bic(self.bic, mandates.check_iban(self.iban))
        except ValidationFailed as exc:
            raise ValueError(str(exc.detail)) from None
        return self


class ProfileSet(Strict):
    """How a contract is invoiced: address, period (003 §14.1), mandate."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "address": "3 avenue des Clients",
                    "postcode": "69002",
                    "city": "Lyon",
                    "mandate": {
                        "mandate_id": "NUAGES-MANDATE-1",
                        "signed_on": "2026-01-15",
                        "iban": "FR7630006000011234567890189",
                        "bic": "AGRIFRPPXXX",
                    },
                }
            ]
        }
    )

    period: Literal["month", "quarter"] | None = None
    address: str = Field(default="", max_length=200)
    postcode: str = Field(default="", max_length=16)
    city: str = Field(default="", max_length=100)
    buyer_reference: str = Field(default="", max_length=100)
    mandate: MandateIn | None = None


class ProfileOut(Out):
    """How a contract is invoiced; the mandate's IBAN is shown masked, as mandates show it
    (the SEPA batch is the only place the full IBAN goes)."""

    contract_id: str
    period: str | None
    address: str
    postcode: str
    city: str
    buyer_reference: str
    mandate_id: str | None
    mandate_signed_on: dt.date | None
    iban_masked: Annotated[str | None, AfterValidator(lambda v: mask_iban(v) if v else v)] = Field(
        validation_alias="iban"
    )
    bic: str | None


class ChargeCreate(Strict):
    """A fee for the contract's next invoice, written once per idempotency key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "description": "Transfert de données (001 §7)",
                    "amount": "250.00",
                    "idempotency_key": "fee-transfer-0001",
                }
            ]
        }
    )

    description: str = Field(min_length=1, max_length=300)
    amount: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=2)]
    idempotency_key: Key
    taxable: bool = True


class ChargeOut(Out):
    """A sum for (or already on) a contract's invoice."""

    id: str
    contract_id: str
    kind: str
    description: str
    amount: Decimal
    vat_category: str
    invoice_id: str | None
    created_at: dt.datetime


class RunCreate(Strict):
    """An invoicing run (staff): every contract due on ``run_on``; ``dry_run`` writes
    nothing and shows what would be issued."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"dry_run": True}]})

    run_on: dt.date | None = Field(default=None, description="default: today")
    dry_run: bool = False
    contract_ids: list[Annotated[str, Field(max_length=36)]] | None = Field(
        default=None, max_length=1000
    )


class RunOut(BaseModel):
    """What an invoicing run issued, previewed (dry run) and could not do."""

    run_id: str | None
    run_on: dt.date
    dry_run: bool
    contracts: int
    issued: list[dict[str, Any]]
    previews: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    skipped: int


class InvoiceLineOut(Out):
    """One line of a document (EN 16931 BG-25)."""

    position: int
    kind: str
    item_id: str | None
    description: str
    quantity: Decimal
    unit_code: str
    unit_price: Decimal
    gross_amount: Decimal | None
    net_amount: Decimal
    vat_category: str
    vat_rate: Decimal
    period_start: dt.date | None
    period_end: dt.date | None
    vm_id: str | None


class InvoiceOut(Out):
    """An issued invoice or credit note, with what is still due on it."""

    id: str
    kind: str
    number: str
    client_id: str
    contract_id: str
    offer_id: str
    corrects_id: str | None
    period_start: dt.date | None
    period_end: dt.date | None
    issue_date: dt.date
    due_date: dt.date | None
    dispute_until: dt.datetime | None
    currency: str
    vat_regime: str
    prices_include_vat: bool
    payment_means: str
    total_net: Decimal
    tax_total: Decimal
    grand_total: Decimal
    prepaid_amount: Decimal
    due_payable: Decimal
    state: str
    paid_at: dt.datetime | None
    # "invoice", "deposit" (a deposit invoice, type 386: 001 §4.6 (i)) or "credit_note".
    document_type: str = "invoice"
    outstanding: Decimal = Decimal(0)
    # 001 §4.1, §4.4: "received", "not-received" (its e-mail bounced, no receipt: it does
    # not fall due), or "assumed" (the printed issue date plus the assumed delay).
    receipt_state: str = "assumed"
    received_at: dt.datetime | None = None
    effective_due_date: dt.date | None = None
    bounce: str | None = None
    parties: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    lines: list[InvoiceLineOut] = []

    @field_validator("parties", "notes", mode="before")
    @classmethod
    def _json_field(cls, value: Any) -> Any:
        # Stored as JSON text on the document; shown as objects.
        return json.loads(value) if isinstance(value, str) else value


class ReceiptCreate(Strict):
    """Staff record that an invoice was received another way (001 §4.1, §4.4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "received_at": "2026-01-25T10:00:00Z",
                    "means": "registered-letter",
                    "evidence": "LRAR 1A 234 567 8901 2, avis de réception signé",
                }
            ]
        }
    )

    received_at: dt.datetime
    means: Literal["registered-letter", "hand-delivered", "email-resent"]
    evidence: str = Field(min_length=1, max_length=500)


class CreditNoteCreate(Strict):
    """A credit note on an invoice: in full, or for an amount VAT included."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Erreur de facturation", "amount": None}]}
    )

    reason: str = Field(min_length=1, max_length=300)
    amount: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=2)] | None = Field(
        default=None, description="VAT included; omit to credit the whole invoice"
    )


class Allocation(Strict):
    """A share of a payment for one invoice."""

    invoice_id: str = Field(max_length=36)
    amount: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=2)]


class PaymentCreate(Strict):
    """Money received (staff), allocated to invoices; written once per key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "00000000-0000-0000-0000-000000000000",
                    "means": "transfer",
                    "amount": "120.00",
                    "received_on": "2026-03-10",
                    "reference": "VIR F-2026-000001",
                    "idempotency_key": "bank-statement-2026-03-10-0001",
                }
            ]
        }
    )

    client_id: str = Field(max_length=36)
    means: Literal["transfer", "direct_debit", "card", "cheque"]
    amount: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=2)]
    received_on: dt.date
    reference: str = Field(default="", max_length=140)
    idempotency_key: Key
    allocations: list[Allocation] | None = Field(
        default=None, max_length=200, description="default: oldest open invoices first"
    )


class AllocationOut(Out):
    """A share of a payment on one invoice (negative: a returned debit)."""

    invoice_id: str
    amount: Decimal
    created_at: dt.datetime


class PaymentOut(Out):
    """A payment and where it went."""

    id: str
    client_id: str
    means: str
    amount: Decimal
    received_on: dt.date
    reference: str
    provider_ref: str
    state: str
    returned_at: dt.datetime | None
    return_reason: str
    allocations: list[AllocationOut] = []


class PaymentReturn(Strict):
    """A direct debit the debtor's bank returned (R-transaction)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "AM04 fonds insuffisants"}]}
    )

    reason: str = Field(min_length=1, max_length=200)


class SepaBatchCreate(Strict):
    """Collect by direct debit every open invoice due by ``due_by``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"collection_date": "2026-04-10", "due_by": "2026-04-30"}]}
    )

    collection_date: dt.date
    due_by: dt.date | None = Field(default=None, description="default: the collection date")
    seller: str | None = Field(
        default=None,
        max_length=100,
        description="seller id (its file's stem) when the invoices due have several sellers",
    )


class SepaItemOut(Out):
    """One debit of a batch."""

    invoice_id: str
    client_id: str
    amount: Decimal
    end_to_end_id: str
    sequence_type: str
    mandate_id: str
    state: str
    payment_id: str | None


class SepaBatchOut(Out):
    """A pain.008 direct-debit batch."""

    id: str
    message_id: str
    collection_date: dt.date
    count: int
    total: Decimal
    state: str
    created_at: dt.datetime
    settled_at: dt.datetime | None
    items: list[SepaItemOut] = []
    # On creation: the due invoices left out, each with why (no mandate, or a debit the
    # file cannot hold, 17.2): {"invoice": number, "problem": text}.
    left_out: list[dict[str, str]] = []


class DunningRunCreate(Strict):
    """A dunning pass (staff): reminders, fees, interest, suspensions due by ``on``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"on": "2026-05-01"}]})

    on: dt.date | None = None


class NoticeOut(Out):
    """A dunning notice (reminder, formal notice, suspension, lifting)."""

    id: str
    invoice_id: str
    contract_id: str
    client_id: str
    step: str
    sent_on: dt.date
    channel: str
    outstanding: Decimal
    fee: Decimal
    interest: Decimal
    text: str


class DunningOut(BaseModel):
    """What a dunning pass did."""

    on: dt.date
    notices: list[NoticeOut]
    problems: list[dict[str, Any]]


class DisputeCreate(Strict):
    """A client contests an invoice (001 §4.4, 004 §8.2)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "La VM facturée a été supprimée le 3."}]}
    )

    reason: Annotated[str, Multiline] = Field(min_length=1, max_length=2000)


class DisputeResolve(Strict):
    """Staff settle a dispute; accepting it may credit part or all of the invoice."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"accept": False, "resolution": "VM utilisée"}]}
    )

    accept: bool
    resolution: Annotated[str, Multiline] = Field(min_length=1, max_length=2000)
    credit_amount: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=2)] | None = None


class DisputeOut(Out):
    """A dispute of an invoice and its answer."""

    id: str
    invoice_id: str
    client_id: str
    opened_by: str
    opened_at: dt.datetime
    reason: str
    state: str
    resolved_at: dt.datetime | None
    resolution: str
    credit_note_id: str | None


class IndexSet(Strict):
    """A published index value (000 §13.3 Syntec/ElecVert, 004 §8.1 Syntec)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "syntec", "month": "2026-10", "value": "296.4"}]}
    )

    name: SafeName
    month: str = Field(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    value: Annotated[Money, Field(gt=0, max_digits=14, decimal_places=6)]

    @property
    def first_day(self) -> dt.date:
        """The month as its first day."""
        year, month = self.month.split("-")
        return dt.date(int(year), int(month), 1)


class IndexOut(Out):
    """An index value entered."""

    name: str
    period: dt.date
    value: Decimal
    entered_at: dt.datetime


class LegalRateSet(Strict):
    """The legal interest rate of a half-year (SPEC §17)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "series": "FR",
                    "valid_from": "2026-01-01",
                    "valid_to": "2026-07-01",
                    "rate_pct": "6.65",
                }
            ]
        }
    )

    # SPEC §17: each country's legal rate is its own series (000 §13.1: Belgium's).
    series: Literal["FR", "BE"] = "FR"
    valid_from: dt.date
    valid_to: dt.date
    rate_pct: Annotated[Money, Field(ge=0, le=100, max_digits=10, decimal_places=6)]


class LegalRateOut(Out):
    """A legal interest rate entered."""

    series: str
    valid_from: dt.date
    valid_to: dt.date
    rate_pct: Decimal


class StatementLineOut(BaseModel):
    """What one line of an imported bank statement did."""

    line: int
    bank_reference: str
    amount: str
    currency: str
    outcome: str = Field(description="paid | credited | settled | returned | duplicate | unmatched")
    detail: str
    target: str = Field(description="the invoice number or contract id booked")
    suggestion: str = Field(description="for staff, on an unmatched line")


class StatementOut(BaseModel):
    """An imported CAMT.053/054 statement, line by line (issue 15); the same file
    imported again books nothing (``already_imported``)."""

    kind: str
    message_id: str
    already_imported: bool
    counts: dict[str, int]
    lines: list[StatementLineOut]


class DepositCreate(Strict):
    """The hardware order a deposit is asked for (001 §4.6 (i)): its ordered lines;
    none given: every hardware line of the contract not invoiced or under a deposit."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"lines": []}]})

    lines: list[Annotated[str, Field(max_length=36)]] = Field(default=[], max_length=50)


class DepositOut(BaseModel):
    """A deposit asked: the deposit invoice (type 386) and the order it covers."""

    invoice: InvoiceOut
    lines: list[str]
    order_total: Decimal
    pct: Decimal
