"""Reversibility models: one exit record per ended contract, and what it delivered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.invoicing.models import Cents
from nuages.kernel.db import Base, IdMixin, TimestampMixin


class ContractExit(IdMixin, TimestampMixin, Base):
    """How an ended contract returns and erases its client's data (000 §18, §13.2,
    001 §7, 002 §10, 003 §13.2, 004 §17.2, §5): a state of its own (``states.py``),
    its deadline, the client's choice, the refund, the confirmation and the erasure.

    One per contract (unique): the daily job opens it once the contract is in
    ``reversibility``; the ``cause`` is the contract's ``state_reason`` cause code.
    """

    __tablename__ = "contract_exits"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), unique=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_id: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), index=True)
    cause: Mapped[str] = mapped_column(String(32))
    clause: Mapped[str] = mapped_column(String(63), default="")
    ended_at: Mapped[dt.datetime]
    # The end of the offer's window (001 §7 3 months, 002 §10 30 working days, 003 §13.2
    # 72 h, 004 §17.2 15 days); null where the terms state none (000 §18).
    window_ends_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # Invoices overdue and unpaid at the end (002 §10: then no reversibility).
    payment_default: Mapped[bool] = mapped_column(default=False)
    # "deletion" | "recovery" (001 §7), by registered letter dated ``letter_at``.
    choice: Mapped[str | None] = mapped_column(String(16), nullable=True)
    choice_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    letter_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # 000 §13.2: the share of the credit balance refunded, and its ledger entry key.
    refund_amount: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    refund_key: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # 004 §5: the client confirmed it has its data (the contract ends then).
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Who ordered the erasure (the client's deletion choice, staff, the window's end).
    erasure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    erasure_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    erasure_started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The erasure record: its history entry and that entry's chain hash (its seal).
    erasure_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    erasure_record_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ExitDelivery(IdMixin, Base):
    """One copy of a VM's disk handed over at the end (an export of compute's: qcow2,
    SHA-256, expiring link), with the fee it cost, charged once under ``fee_key``.

    ``kind``: ``image`` (000 §18, whatever the cause), ``recovery`` / ``partial``
    (001 §7, EUR 250 per transfer), ``backup`` (004 §17.2, EUR 360 per VM),
    ``withdrawal`` (003 §13.2, once everything is paid) or ``copy`` (002 §10).
    """

    __tablename__ = "contract_exit_deliveries"

    exit_id: Mapped[str] = mapped_column(
        ForeignKey("contract_exits.id", ondelete="CASCADE"), index=True
    )
    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    vm_id: Mapped[str] = mapped_column(String(36))
    export_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    transfer: Mapped[int] = mapped_column(default=1)
    fee: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    fee_key: Mapped[str | None] = mapped_column(String(120), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime]


class ContractRelocation(IdMixin, TimestampMixin, Base):
    """A move of a contract's data outside the EU announced to its client (001 §5.3):
    its VMs (one, or all when ``vm_id`` is null) or their backups, to ``site`` in
    ``country`` (a host's or backup target's site, whose country compute records).

    ``notified_at`` is when the client was told (the notice sent by nuages);
    ``moves_at`` is not before ``notified_at`` + the offer's notice (001 §5.3 (i): 3
    months); the client may terminate without indemnity until ``exit_until`` (001 §5.3
    (ii): 30 days from the notification). A country without an adequacy decision needs
    the client's prior written consent and a safeguard (001 §5.4): ``consented_on``,
    ``safeguard``. ``transfer_basis`` is the GDPR footing, as the register shows it.
    """

    __tablename__ = "contract_relocations"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    subject: Mapped[str] = mapped_column(String(16))  # "vms" | "backups"
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    site: Mapped[str] = mapped_column(String(63))
    country: Mapped[str] = mapped_column(String(2))
    transfer_basis: Mapped[str] = mapped_column(String(200), default="")
    safeguard: Mapped[str] = mapped_column(String(200), default="")
    consented_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    clause: Mapped[str] = mapped_column(String(63), default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    notified_at: Mapped[dt.datetime]
    moves_at: Mapped[dt.datetime]
    exit_until: Mapped[dt.datetime] = mapped_column(index=True)


class PartialRecovery(IdMixin, Base):
    """001 §7: "en cours d'exécution de la Convention, le Client pourra exercer à tout
    moment une Option de réversibilité partielle": one VM's disk copied for the client
    while the contract runs (an export of compute's: qcow2, SHA-256, expiring link).
    One request is one transfer (``transfer``, numbered per contract), charged once
    under ``fee_key`` (EUR 250, on the next invoice)."""

    __tablename__ = "contract_partial_recoveries"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    vm_id: Mapped[str] = mapped_column(String(36))
    export_id: Mapped[str] = mapped_column(String(36), unique=True)
    transfer: Mapped[int] = mapped_column(default=1)
    fee: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    fee_key: Mapped[str | None] = mapped_column(String(120), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime]
