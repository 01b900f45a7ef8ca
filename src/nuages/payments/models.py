"""The payments slice's tables: the bank statements imported (one row per file, so a
statement imported twice is recognised; its lines are each booked once anyway, by their
own keys), the SEPA mandates and the pain.008 batches of both top-ups and invoices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


class Statement(IdMixin, Base):
    """A CAMT.053 / CAMT.054 file as imported, with its line-by-line report (JSON)."""

    __tablename__ = "payments_statements"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(140), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # camt.053 | camt.054
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str] = mapped_column(String(64))
    report: Mapped[str] = mapped_column(Text)


class MandateState(StrEnum):
    """Where a SEPA Core mandate stands (SEPA Core rulebook: a mandate lapses 36 months
    after its last collection; revoked by the debtor or the creditor)."""

    ACTIVE = "active"
    ENDING = "ending"  # its next collection goes out as FNAL, then it ends
    ENDED = "ended"  # a FNAL collection was sent
    REVOKED = "revoked"


class Mandate(IdMixin, TimestampMixin, Base):
    """The one SEPA Core direct-debit mandate model (000 §13.2 prepaid top-ups, 003 §14.2
    and 004 §8.2 invoices): at most one live mandate per contract.

    ``used`` is whether a collection went out under it (FRST before, RCUR after). An
    amendment (SEPA Core rulebook, AT-24: a new mandate reference, a new IBAN, a new
    debtor bank) keeps the mandate and records the original data in ``original_*``
    until the next collection carries them in the pain.008 (``AmdmntInd`` true with
    ``AmdmntInfDtls``); they are then cleared."""

    __tablename__ = "payments_mandates"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    # The Unique Mandate Reference sent in every pain.008 transaction.
    reference: Mapped[str] = mapped_column(String(35), unique=True)
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str] = mapped_column(String(11))
    holder_name: Mapped[str] = mapped_column(String(70))
    signed_on: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=MandateState.ACTIVE.value)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    # The pre-notification period the mandate agrees (SEPA rulebook: 14 days if None).
    prenotice_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # An amendment not yet sent: what the bank knew before it (None: unchanged).
    original_reference: Mapped[str | None] = mapped_column(String(35), nullable=True)
    original_iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    original_bic: Mapped[str | None] = mapped_column(String(11), nullable=True)
    amended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DirectDebitBatch(Base):
    """A pain.008.001.02 file as written, for prepaid top-ups (``kind`` topup) or
    invoices (``kind`` invoice), kept so it can be written out again. Its id is the
    file's message id (rows migrated from the invoicing batches keep their old id)."""

    __tablename__ = "payments_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # topup | invoice
    seller_id: Mapped[str] = mapped_column(String(64), default="")
    collection_date: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    # Whole cents: exact on both databases (``total`` reads it as a Decimal).
    total_cents: Mapped[int] = mapped_column(BigInteger)
    xml: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="created")  # created | settled
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def total(self) -> Decimal:
        """The file's control sum."""
        return Decimal(self.total_cents).scaleb(-2)

    @property
    def transactions(self) -> int:
        """The number of collections (the top-up batches' former name for ``count``)."""
        return self.count
