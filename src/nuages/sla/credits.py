"""SLA credits: claimed (002 §6 "sur demande") or automatic (000 §5), applied once.

A report's credit is ``claimable`` when the offer pays on request: the client claims it
through the API within the offer's claim window (none stated: open, SPEC §17), once.
An automatic credit is ``due`` as soon as its report is issued. A due credit becomes a
credit note on the contract's next invoice (invoiced offers) or a ``credit`` entry in
the prepaid ledger, exactly once: the state moves ``due`` → ``applied`` by a
compare-and-swap, the ledger key names the credit, and ``applied_ref`` names the
document or entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.billing import ledger
from nuages.billing.models import EntryKind
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import credits as credit_notes
from nuages.invoicing import documents
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import Deposit, Invoice
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, NotFound
from nuages.sla.models import SlaCredit, SlaReport

log = logging.getLogger("nuages.sla.credits")


def get_report(session: Session, actor: Principal, report_id: str) -> SlaReport:
    """A report the caller may see on the billing side (credits are money, 000 §5)."""
    actor.require(Scope.BILLING)
    report = session.get(SlaReport, report_id)
    if report is None or not actor.can_see_client(report.client_id):
        raise NotFound("no such SLA report")
    return report


def credit_of(session: Session, report_id: str) -> SlaCredit | None:
    return session.execute(
        select(SlaCredit).where(SlaCredit.report_id == report_id)
    ).scalar_one_or_none()


def claim(session: Session, actor: Principal, report_id: str, note: str = "") -> SlaCredit:
    """The client claims a report's credit (002 §6 "sur demande"), within its window."""
    report = get_report(session, actor, report_id)
    actor.require(Scope.WRITE)
    credit = credit_of(session, report.id)
    if credit is None:
        raise Conflict("report_id: this report grants no credit to claim (002 §6)")
    if credit.state == "superseded":
        raise Conflict("report_id: a corrected report replaced this one; claim its credit")
    if credit.state != "claimable":
        raise Conflict(f"report_id: the credit is already claimed ({credit.state})")
    now = utc_now()
    if credit.claim_until is not None and now >= credit.claim_until:
        raise Conflict(
            f"report_id: the claim window closed at {credit.claim_until.isoformat()} (002 §6)"
        )
    done = session.execute(
        update(SlaCredit)
        .where(SlaCredit.id == credit.id, SlaCredit.state == "claimable")
        .values(state="due", claimed_at=now, claimed_by=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("report_id: the credit is already claimed")
    session.refresh(credit)
    history.record(
        session,
        actor.actor,
        object_type="sla_credit",
        object_id=credit.id,
        action="sla.credit.claim",
        params={"report_id": report.id, "amount": str(credit.amount), "note": note},
        client_id=report.client_id,
        scope="billing",
    )
    return credit


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def _next_invoice(session: Session, contract_id: str, since: dt.datetime) -> Invoice | None:
    """The contract's first invoice issued since the credit fell due, not yet cancelled;
    never a deposit invoice (001 §4.6 (i)): the final invoice deducts what a credit note
    leaves of a deposit, so a credit there would be taken back."""
    return session.execute(
        select(Invoice)
        .where(
            Invoice.contract_id == contract_id,
            Invoice.kind == "invoice",
            Invoice.state != InvoiceState.CANCELLED,
            Invoice.issued_at >= since,
            Invoice.id.not_in(select(Deposit.invoice_id)),
        )
        .order_by(Invoice.issued_at, Invoice.id)
        .limit(1)
    ).scalar_one_or_none()


def apply_due(session: Session, who: Actor, registry: OfferRegistry) -> ApplyResult:
    """Apply every due credit: a ledger credit (prepaid) or a credit note on the next
    invoice (invoiced; until that invoice exists the credit waits)."""
    result = ApplyResult()
    due = list(
        session.execute(
            select(SlaCredit).where(SlaCredit.state == "due").order_by(SlaCredit.created_at)
        ).scalars()
    )
    for credit in due:
        contract = session.get(Contract, credit.contract_id)
        if contract is None:
            continue
        offer = registry.for_contract(session, contract)
        ref: str | None = None
        if offer.billing.mode == "prepaid":
            account = ledger.ensure_account(session, contract, offer)
            entry, _ = ledger.post(
                session,
                account,
                kind=EntryKind.CREDIT,
                amount=credit.amount,
                key=f"sla-credit:{credit.id}",
                reference=credit.report_id,
                description=f"SLA credit, report {credit.report_id} ({offer.sla.clause or ''})",
            )
            ref = f"ledger:{entry.seq}"
        else:
            invoice = _next_invoice(session, contract.id, credit.claimed_at or credit.created_at)
            if (
                invoice is None
                or invoice.grand_total - documents.credited_amount(session, invoice.id)
                < credit.amount
            ):
                result.waiting.append(credit.id)
                continue
            note = credit_notes.credit_note(
                session,
                who,
                registry,
                invoice.id,
                f"SLA credit, report {credit.report_id} ({offer.sla.clause or ''})",
                credit.amount,
            )
            ref = f"credit_note:{note.number}"
        done = session.execute(
            update(SlaCredit)
            .where(SlaCredit.id == credit.id, SlaCredit.state == "due")
            .values(state="applied", applied_at=utc_now(), applied_ref=ref)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"credit {credit.id} was applied meanwhile")
        history.record(
            session,
            who,
            object_type="sla_credit",
            object_id=credit.id,
            action="sla.credit.apply",
            params={"report_id": credit.report_id, "amount": str(credit.amount), "ref": ref},
            client_id=credit.client_id,
            scope="billing",
        )
        result.applied.append(credit.id)
    return result
