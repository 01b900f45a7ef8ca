"""Service-level records: failure notices, outages declared by staff, planned
maintenance, monthly reports and their credits (issue 22).

Failure notices: the client's "Notification de Défaillance" of a VM (002 §6).

Append-only: a notice is a fact with its date; unavailability of the VM counts from the
earlier of its detection and the notice (``nuages.terms.calc.sla.with_failure_notices``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, UTCDateTime


class FailureNotice(IdMixin, Base):
    """One failure notice of a VM, recorded when the client sent it (``noticed_at``)."""

    __tablename__ = "failure_notices"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    noticed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(String(2000))
    # The user who filed it (a staff member recording a notice received by telephone or
    # e-mail is named here, the notice stays the client's).
    filed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


# ---------------------------------------------------------------- outages, maintenance

# What an incident covers (issue 22): one VM, one host, one site, or the whole platform.
SCOPES = ("vm", "host", "site", "platform")
# The cause of an outage that no excusable event explains (002 §6, 000 §5, 001 §6).
NOT_EXCUSABLE = "not-excusable"


class Incident(IdMixin, Base):
    """A staff-declared outage, ``[start, end)`` (``end`` null while it lasts).

    ``cause`` is one of the affected offers' ``sla.excusable_causes`` or
    ``not-excusable``; the VMs it affects are resolved when it is declared and kept in
    ``sla_incident_vms`` (a VM created later on the same host was not down).
    """

    __tablename__ = "sla_incidents"

    scope: Mapped[str] = mapped_column(String(16))
    scope_ref: Mapped[str | None] = mapped_column(String(63), nullable=True)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cause: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(2000))
    declared_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class IncidentVm(IdMixin, Base):
    """One VM an incident took down (resolved when the incident was declared)."""

    __tablename__ = "sla_incident_vms"
    __table_args__ = (UniqueConstraint("incident_id", "vm_id"),)

    incident_id: Mapped[str] = mapped_column(
        ForeignKey("sla_incidents.id", ondelete="CASCADE"), index=True
    )
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )


class OutageCause(Base):
    """Staff's reclassification of an outage recorded by reconciliation (a VM found
    down, or every VM of an unreachable host): the cause the SLA reads instead of the
    recorded one, and why (issue 22). The recorded row stays as compute wrote it; each
    change is in the history with its reason. ``cause`` is one of the offer's excusable
    causes (the outage is then excused) or ``not-excusable`` (it counts, even a stop the
    guest made itself)."""

    __tablename__ = "sla_outage_causes"

    outage_id: Mapped[str] = mapped_column(
        ForeignKey("vm_outages.id", ondelete="RESTRICT"), primary_key=True
    )
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    cause: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(2000))
    set_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Maintenance(IdMixin, Base):
    """A planned maintenance window ``[start, end)`` over a scope (000 §7, 001 §6, 002 §6).

    ``announced_at`` is when the affected clients' notices were written to the outbox;
    each notice's own sending time is on the notice (``sla_maintenance_notices``).
    ``outside_window``: staff confirmed a window outside the offer's preferred hours
    (000 §7: 22:00–08:00).
    """

    __tablename__ = "sla_maintenance"

    scope: Mapped[str] = mapped_column(String(16))
    scope_ref: Mapped[str | None] = mapped_column(String(63), nullable=True)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(2000))
    outside_window: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    announced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class MaintenanceVm(IdMixin, Base):
    """One VM a maintenance window affects, with its contract's notice."""

    __tablename__ = "sla_maintenance_vms"
    __table_args__ = (UniqueConstraint("maintenance_id", "vm_id"),)

    maintenance_id: Mapped[str] = mapped_column(
        ForeignKey("sla_maintenance.id", ondelete="CASCADE"), index=True
    )
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    # The notices slice's notice to this contract's client (one per contract).
    notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


# ---------------------------------------------------------------- reports, credits


class SlaReport(IdMixin, Base):
    """One contract's SLA month, immutable once issued (append-only: database triggers).

    A later fact (an outage declared late) issues ``version`` + 1 with ``supersedes_id``
    and ``changes`` saying what moved; ``lines`` is the JSON of each VM's figures.
    """

    __tablename__ = "sla_reports"
    # The unique constraint begins with contract_id: it is the index by contract.
    __table_args__ = (UniqueConstraint("contract_id", "year", "month", "version"),)

    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="RESTRICT"))
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    offer_id: Mapped[str] = mapped_column(String(63))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    changes: Mapped[str] = mapped_column(Text, default="")
    denominator: Mapped[str] = mapped_column(String(24))
    objective_pct: Mapped[Decimal | None] = mapped_column(Numeric(9, 4), nullable=True)
    availability_pct: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    objective_met: Mapped[bool] = mapped_column(Boolean)
    counted_minutes: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    credit_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    credit_mode: Mapped[str] = mapped_column(String(16))  # automatic | on_request | none
    fingerprint: Mapped[str] = mapped_column(String(64))
    lines: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class SlaCredit(IdMixin, Base):
    """What one report grants, and how it reached the client, exactly once.

    ``state``: ``claimable`` (002 §6 "sur demande": until the client claims it),
    ``due`` (automatic, 000 §5, or claimed), ``applied`` (a credit note, invoiced
    offers, or a ledger credit, prepaid; ``applied_ref`` names it), ``superseded``
    (a corrected report replaced it before it was applied).
    """

    __tablename__ = "sla_credits"

    report_id: Mapped[str] = mapped_column(
        ForeignKey("sla_reports.id", ondelete="RESTRICT"), unique=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    state: Mapped[str] = mapped_column(String(16), index=True)
    claim_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    applied_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


# Issued reports never change (a correction is a new version).
APPEND_ONLY_SQL = {
    "sqlite": [
        """CREATE TRIGGER sla_reports_no_update BEFORE UPDATE ON sla_reports
        BEGIN SELECT RAISE(ABORT, 'sla reports are append-only'); END""",
        """CREATE TRIGGER sla_reports_no_delete BEFORE DELETE ON sla_reports
        BEGIN SELECT RAISE(ABORT, 'sla reports are append-only'); END""",
    ],
    "postgresql": [
        """CREATE TRIGGER sla_reports_append_only BEFORE UPDATE OR DELETE
        ON sla_reports FOR EACH ROW EXECUTE FUNCTION nuages_append_only()""",
    ],
}
DROP_APPEND_ONLY_SQL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS sla_reports_no_update",
        "DROP TRIGGER IF EXISTS sla_reports_no_delete",
    ],
    "postgresql": ["DROP TRIGGER IF EXISTS sla_reports_append_only ON sla_reports"],
}
