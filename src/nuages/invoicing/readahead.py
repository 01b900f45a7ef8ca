"""What an invoicing run reads of its contracts, read a chunk at a time.

A run prices each contract in a transaction of its own (``runs``), and reading its
inputs one contract at a time took a dozen statements per invoice — more of the run's
time than pricing and writing it. ``load`` reads them for a chunk of contracts in one
read-only unit, one statement per source; ``Inputs`` hands one contract's share to the
run, or reads it there and then (``Inputs.live``: a dry run of one contract, an ended
contract whose early-end charges the run writes first).

Read ahead means read up to a chunk's time (about a second) before the contract's own
transaction. A change landing in that second is invoiced by the next run, as one landing
just after the transaction would be; what must happen once stays guarded where it is
written: the unique ``(contract_id, billing_period)`` constraint (another run's invoice
for the period makes this one roll back), each charge's compare-and-swap, each
deposit's (``deposits.mark_deducted``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.compute.services import reads as compute_reads
from nuages.contracts.models import Contract
from nuages.contracts.revisions import revisions_by_contract
from nuages.invoicing import sources
from nuages.invoicing.models import ContractLine, Deposit, Invoice, InvoicingProfile, PendingCharge
from nuages.invoicing.pricing import Billed, Item, Revision, Span
from nuages.kernel.calendar import ContractCalendar
from nuages.kernel.db import Database
from nuages.payments.mandates import LIVE
from nuages.payments.models import Mandate

CHUNK = 200  # contracts read ahead at once: ~1 s of a run, 200 ids in each IN list


@dataclass
class _Read:
    """One contract's share of a chunk's reads."""

    invoices: list[Invoice] = field(default_factory=list)  # with a billing period
    lines_billed: list[Any] = field(default_factory=list)  # ``sources.billed_lines`` rows
    vms: list[compute_reads.VmFacts] = field(default_factory=list)
    lines: list[ContractLine] = field(default_factory=list)
    backups: list[compute_reads.BackupOptionFacts] = field(default_factory=list)
    charges: list[PendingCharge] = field(default_factory=list)
    revisions: list[Any] = field(default_factory=list)
    deposit: bool = False  # a deposit not deducted yet (001 §4.6)


class Inputs:
    """One contract's run inputs: from its chunk (``Chunk.inputs``) or read now."""

    def __init__(self, session: Session, contract_id: str, read: _Read | None) -> None:
        self._session, self._id, self._read = session, contract_id, read

    @classmethod
    def live(cls, session: Session, contract_id: str) -> Inputs:
        """Inputs read in the contract's own transaction, when asked."""
        return cls(session, contract_id, None)

    def invoiced(self) -> set[str]:
        if self._read is None:
            return sources.invoiced_periods(self._session, self._id)
        return {i.billing_period for i in self._read.invoices if i.billing_period}

    def billed(self, kind: str) -> tuple[list[Billed], dict[str, list[Span]]]:
        if self._read is None:
            return sources.billed_periods(self._session, self._id, kind)
        invoices = [i for i in self._read.invoices if i.kind == "invoice"]
        return sources.billed_of(invoices, self._read.lines_billed, kind)

    def items(self, contract: Contract, calendar: ContractCalendar) -> list[Item]:
        """The VMs, ordered lines and backup options to price (``sources``)."""
        if self._read is None:
            return (
                sources.vm_items(self._session, contract, calendar)
                + sources.line_items(self._session, contract.id)
                + sources.backup_items(self._session, calendar, contract.id)
            )
        return (
            sources.vm_items_of(self._read.vms, calendar)
            + sources.line_items_of(self._read.lines)
            + sources.backup_items_of(self._read.backups, calendar)
        )

    def open_charges(self) -> list[PendingCharge]:
        if self._read is None:
            return sources.open_charges(self._session, self._id)
        return list(self._read.charges)

    def stored_revision(self, calendar: ContractCalendar, period_start: dt.date) -> Revision | None:
        if self._read is None:
            return sources.stored_revision(self._session, self._id, calendar, period_start)
        return sources.revision_of(self._read.revisions, calendar, period_start)

    def may_deduct(self) -> bool:
        """Whether a deposit may be deducted (read when not read ahead)."""
        return self._read is None or self._read.deposit


@dataclass
class Chunk:
    """A chunk's contracts (as read, detached), their clients, profiles, live mandates
    and the rest of their inputs."""

    contracts: dict[str, Contract]
    clients: dict[str, Client]
    profiles: dict[str, InvoicingProfile]
    mandates: dict[str, Mandate]
    reads: dict[str, _Read]

    def attach(self, session: Session, contract_id: str) -> Contract | None:
        """The contract (and its client) in ``session`` without reading them again, or
        None when it was not read ahead (or has ended: its run reads it afresh)."""
        contract = self.contracts.get(contract_id)
        if contract is None or contract.ended_at is not None:
            return None
        client = self.clients.get(contract.client_id)
        if client is not None:
            # The session's identity map holds clean objects weakly: kept here for the
            # transaction, so ``session.get(Client, …)`` finds it (documents, notices).
            session.info["readahead_client"] = session.merge(client, load=False)
        return session.merge(contract, load=False)

    def inputs(self, session: Session, contract_id: str) -> Inputs:
        return Inputs(session, contract_id, self.reads.get(contract_id, _Read()))


def load(database: Database, contract_ids: Sequence[str]) -> Chunk:
    """Read a chunk's inputs, one statement per source, in one read-only unit."""
    ids = list(contract_ids)
    with database.unit(readonly=True) as session:
        contracts = {
            c.id: c for c in session.execute(select(Contract).where(Contract.id.in_(ids))).scalars()
        }
        client_ids = sorted({c.client_id for c in contracts.values()})
        clients = {
            c.id: c
            for c in session.execute(select(Client).where(Client.id.in_(client_ids))).scalars()
        }
        profiles = {
            p.contract_id: p
            for p in session.execute(
                select(InvoicingProfile).where(InvoicingProfile.contract_id.in_(ids))
            ).scalars()
        }
        mandates = {
            m.contract_id: m
            for m in session.execute(
                select(Mandate).where(Mandate.contract_id.in_(ids), Mandate.state.in_(LIVE))
            ).scalars()
        }
        reads = {i: _Read() for i in ids}
        by_invoice: dict[str, _Read] = {}
        for contract_id, invoices in sources.periodic_invoices(session, ids).items():
            reads[contract_id].invoices = invoices
            by_invoice |= {i.id: reads[contract_id] for i in invoices if i.kind == "invoice"}
        if by_invoice:
            for row in session.execute(sources.billed_lines(list(by_invoice))).all():
                by_invoice[row[0]].lines_billed.append(row)
        for contract_id, vms in compute_reads.contracts_vms(session, ids).items():
            reads[contract_id].vms = vms
        for contract_id, lines in sources.contract_lines(session, ids).items():
            reads[contract_id].lines = lines
        for contract_id, periods in compute_reads.contracts_backup_options(session, ids).items():
            reads[contract_id].backups = periods
        for contract_id, charges in sources.pending_charges(session, ids).items():
            reads[contract_id].charges = charges
        for contract_id, revisions in revisions_by_contract(session, ids).items():
            reads[contract_id].revisions = revisions
        for contract_id in session.execute(
            select(Deposit.contract_id)
            .where(Deposit.contract_id.in_(ids), Deposit.deducted_by_id.is_(None))
            .distinct()
        ).scalars():
            reads[contract_id].deposit = True
    return Chunk(contracts, clients, profiles, mandates, reads)
