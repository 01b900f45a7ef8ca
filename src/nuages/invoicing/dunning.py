"""Dunning: reminders, fees, late interest, formal notice and suspension per the offer.

Each step taken on an overdue invoice is a recorded notice (once per invoice and step):

- reminders one and fifteen days after the due date (provider policy), each with the
  offer's reminder fee put on the next invoice (001 §4.4: EUR 75, EUR 150 on repeat);
- a formal notice (mise en demeure) thirty days after the due date (provider policy;
  001 §13.2 suspends only after one);
- suspension when the terms allow it: 003 §14.5 at the due date + 30 days (read from
  the terms' suspension ground); grounds without a delay (001 §13.2, 004 §7) eight
  days after the formal notice (provider policy). Dunning places a hold on the ground
  of the terms (``contracts.holds``: the contract is suspended, its VMs paused);
  settling the debt lifts that hold, and the contract resumes once no other is open.

Late interest (000 §13.1, 001 §4.4, via ``terms.apply.interest_for``) is shown on each
notice and charged on the next invoice once the invoice is paid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from nuages.contracts import holds
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing import documents, lines, receipts
from nuages.invoicing.documents import InvoiceState
from nuages.invoicing.models import (
    Dispute,
    DunningNotice,
    Invoice,
    InvoiceAcceleration,
    LegalRate,
    Payment,
    PaymentAllocation,
)
from nuages.kernel.clock import not_in_future
from nuages.kernel.money import round_cents
from nuages.notices import announce
from nuages.terms import apply
from nuages.terms.apply import TermsNotApplicable, calendar_for
from nuages.terms.calc.interest import LegalRate as CalcLegalRate
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.schema import Offer

ZERO = Decimal("0.00")
REMINDER_DAYS = (1, 15)  # provider policy: the contracts set no reminder calendar
FORMAL_NOTICE_DAYS = 30  # provider policy
NOTICE_TO_SUSPENSION_DAYS = 8  # provider policy where the terms give no delay
SUSPENSION_CAUSES = ("unpaid-invoice", "late-payment")
REASON_PREFIX = "dunning:"


@dataclass(frozen=True)
class Step:
    """One dunning step: its name, the day it falls on, how it is sent, its clause."""

    name: str
    on: dt.date
    channel: str
    fee: bool = False
    clause: str | None = None


def plan(offer: Offer, due_date: dt.date, issued_at: dt.datetime) -> list[Step]:
    """The dunning steps of an invoice due ``due_date`` under ``offer``, in order."""
    invoiced = offer.billing.invoiced
    if invoiced is None:
        return []
    fee = offer.billing.reminder_fees is not None
    fee_clause = offer.billing.reminder_fees.clause if offer.billing.reminder_fees else None
    steps = [
        Step(
            f"reminder-{n}", due_date + dt.timedelta(days=days), invoiced.delivery, fee, fee_clause
        )
        for n, days in enumerate(REMINDER_DAYS, start=1)
    ]
    notice_on = due_date + dt.timedelta(days=FORMAL_NOTICE_DAYS)
    steps.append(Step("formal-notice", notice_on, "registered_letter"))
    ground = next((g for g in offer.suspension.grounds if g.cause in SUSPENSION_CAUSES), None)
    if ground is not None:
        calendar = calendar_for(offer)
        when = notice_on + dt.timedelta(days=NOTICE_TO_SUSPENSION_DAYS)
        if ground.after == "due_date" and ground.delay is not None:
            found = [
                d
                for d in deadlines_for(offer, Event.due_date, calendar.start_of_day(due_date))
                if d.name == f"suspension-{ground.cause}"
            ]
            if found:
                when = calendar.local_date(found[0].ends_at)
        elif ground.after == "formal_notice" and ground.delay is not None:
            when = notice_on + dt.timedelta(days=max(1, ground.delay.amount))
        channel = ground.notice if ground.notice != "none" else "email"
        steps.append(Step("suspension", when, channel, clause=ground.clause))
    return sorted(steps, key=lambda s: s.on)


def legal_rates(session: Session) -> list[CalcLegalRate]:
    """The legal interest rates staff entered (SPEC §17)."""
    return [
        CalcLegalRate(r.valid_from, r.valid_to, r.rate_pct, r.series)
        for r in session.execute(select(LegalRate).order_by(LegalRate.valid_from)).scalars()
    ]


def interest_to(
    session: Session, offer: Offer, amount: Decimal, due: dt.date, paid: dt.date
) -> Decimal | None:
    """Late interest on ``amount`` due ``due`` and paid ``paid``; None when the terms
    need a legal rate nobody entered for the due date."""
    try:
        return apply.interest_for(offer, amount, due, paid, legal_rates(session)).amount
    except LookupError:
        return None
    except TermsNotApplicable:
        return ZERO


@dataclass
class DunningReport:
    """The notices a dunning pass recorded and what it could not do."""

    on: dt.date
    notices: list[DunningNotice] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _text(
    step: Step,
    invoice: Invoice,
    left: Decimal,
    fee: Decimal,
    interest: Decimal | None,
    offer: Offer,
) -> str:
    head = (
        f"Facture {invoice.number} du {_fr(invoice.issue_date)}, échue le "
        f"{_fr(invoice.due_date or invoice.issue_date)} : reste dû {left} {invoice.currency}."
    )
    if interest is not None and interest > 0:
        head += f" Intérêts de retard courus au {_fr(step.on)} : {interest} {invoice.currency}."
    if step.name.startswith("reminder"):
        text = f"Rappel de paiement. {head}"
        if fee > 0:
            text += (
                f" Frais de rappel de {round_cents(fee)} {invoice.currency} portés sur la"
                " prochaine facture"
                f" ({step.clause})."
            )
        return text
    if step.name == "formal-notice":
        return (
            f"Mise en demeure de payer sous {NOTICE_TO_SUSPENSION_DAYS} jours. {head} À défaut, "
            "les services pourront être suspendus."
        )
    text = f"Suspension des services pour défaut de paiement ({step.clause}). {head}"
    if offer.billing.all_sums_due_on_default:
        text += " Toutes les sommes dues deviennent immédiatement exigibles (003 §14.5)."
    return text


def run(session: Session, who: Actor, registry: OfferRegistry, on: dt.date) -> DunningReport:
    """Take every dunning step due by ``on``, once per invoice and step.

    ``on`` is today or, to catch up, a past day; never a future one (9.3): a step
    taken "as of" a future date would fine, notify or suspend today for a delay that
    has not run yet."""
    not_in_future("on", on)
    report = DunningReport(on=on)
    disputed = select(Dispute.invoice_id).where(Dispute.state == "open")
    overdue = session.execute(
        select(Invoice)
        .where(
            Invoice.kind == "invoice",
            Invoice.state == InvoiceState.ISSUED,
            _printed_or_accelerated_before(on),
            Invoice.id.not_in(disputed),  # a contested invoice waits for its answer
        )
        .order_by(Invoice.due_date, Invoice.seq_no)
    ).scalars()
    for invoice in list(overdue):
        # 001 §4.1: a receipt proved later than assumed moves the due date later.
        due = receipts.due_date(session, invoice)
        if due is None or due >= on:  # None: never received (bounced, 001 §4.1)
            continue
        left = documents.outstanding(session, invoice)
        if left == 0:
            documents.refresh_state(session, invoice)
            continue
        contract = session.get(Contract, invoice.contract_id)
        assert contract is not None
        offer = registry.for_contract(session, contract)
        done = set(
            session.execute(
                select(DunningNotice.step).where(DunningNotice.invoice_id == invoice.id)
            ).scalars()
        )
        for step in plan(offer, due, invoice.issued_at):
            if step.on > on or step.name in done:
                continue
            notice = _take(session, who, offer, contract, invoice, due, step, left, report)
            report.notices.append(notice)
    return report


def _take(
    session: Session,
    who: Actor,
    offer: Offer,
    contract: Contract,
    invoice: Invoice,
    due: dt.date,
    step: Step,
    left: Decimal,
    report: DunningReport,
) -> DunningNotice:
    interest = interest_to(session, offer, left, due, step.on)
    if interest is None:
        report.problems.append(
            {
                "invoice": invoice.number,
                "problem": f"no legal interest rate entered for {due}: interest not shown",
            }
        )
    fee = ZERO
    if step.fee:
        sent = session.execute(
            select(func.count())
            .select_from(DunningNotice)
            .where(
                DunningNotice.client_id == invoice.client_id, DunningNotice.step.like("reminder-%")
            )
        ).scalar_one()
        fee = apply.reminder_fee_for(offer, int(sent))
        if fee > 0:
            lines.add_charge(
                session,
                who,
                contract,
                kind="reminder_fee",
                description=f"Frais de rappel, facture {invoice.number} ({step.clause})",
                amount=fee,
                idempotency_key=f"reminder:{invoice.id}:{step.name}",
                taxable=False,
            )
    notice = DunningNotice(
        invoice_id=invoice.id,
        contract_id=contract.id,
        client_id=invoice.client_id,
        step=step.name,
        sent_on=step.on,
        channel=step.channel,
        outstanding=left,
        fee=fee,
        interest=interest or ZERO,
        text=_text(step, invoice, left, fee, interest, offer),
    )
    session.add(notice)
    session.flush()
    history.record(
        session,
        who,
        object_type="invoice",
        object_id=invoice.id,
        action=f"notice.{step.name}",
        params={"number": invoice.number, "outstanding": str(left), "fee": str(fee)},
        client_id=invoice.client_id,
    )
    announce.dunning_step(session, who, invoice, notice, step.clause or "003 §14.5")
    if step.name == "suspension" and contract.state in (
        ContractState.ACTIVE,
        ContractState.ENDING,
        ContractState.SUSPENDED,
    ):
        holds.place(
            session,
            who,
            offer,
            contract.id,
            suspension_ground(offer),
            f"{REASON_PREFIX} invoice {invoice.number} unpaid ({step.clause or 'terms'})",
        )
    return notice


def suspension_ground(offer: Offer) -> str:
    """The ground dunning suspends on under ``offer``: its unpaid-invoice or
    late-payment ground."""
    ground = next((g for g in offer.suspension.grounds if g.cause in SUSPENSION_CAUSES), None)
    return ground.cause if ground is not None else SUSPENSION_CAUSES[0]


def settlements(session: Session, invoice_id: str) -> list[tuple[Decimal, dt.date]]:
    """When the invoice was paid, share by share (returned payments left out)."""
    rows = session.execute(
        select(PaymentAllocation.amount, Payment.received_on)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(
            PaymentAllocation.invoice_id == invoice_id,
            PaymentAllocation.amount > 0,
            Payment.state == "received",
        )
    ).all()
    return [(amount, day) for amount, day in rows]


def charge_late_interest(
    session: Session, who: Actor, registry: OfferRegistry, invoice: Invoice
) -> Decimal | None:
    """Once a late invoice is paid, put its late interest on the next invoice (000 §13.1,
    001 §4.4), share by share from the due date to the day each share arrived."""
    due = receipts.due_date(session, invoice)
    if due is None:
        return None
    contract = session.get(Contract, invoice.contract_id)
    assert contract is not None
    offer = registry.for_contract(session, contract)
    total = ZERO
    for amount, paid_on in settlements(session, invoice.id):
        if paid_on <= due:
            continue
        share = interest_to(session, offer, amount, due, paid_on)
        if share is None:
            history.record(
                session,
                who,
                object_type="invoice",
                object_id=invoice.id,
                action="invoicing.interest.skipped",
                params={"number": invoice.number},
                client_id=invoice.client_id,
                outcome=f"no legal interest rate entered for {due}",
            )
            return None
        total += share
    total = round_cents(total)
    if total > 0:
        lines.add_charge(
            session,
            who,
            contract,
            kind="late_interest",
            description=f"Intérêts de retard, facture {invoice.number}"
            + (
                f" ({offer.billing.late_payment.clause})"
                if offer.billing.late_payment.clause
                else ""
            ),
            amount=total,
            idempotency_key=f"interest:{invoice.id}",
            taxable=False,
        )
    return total


def lift_if_settled(session: Session, who: Actor, contract: Contract, on: dt.date) -> bool:
    """Lift the hold dunning placed once nothing of the contract is overdue (004 §7:
    restored once the cause is remedied); return whether it did. The contract resumes
    only if no other hold is open."""
    mine = [
        h
        for h in holds.open_holds(session, contract.id)
        if h.ground in SUSPENSION_CAUSES and h.reason.startswith(REASON_PREFIX)
    ]
    if not mine:
        return False
    still = session.execute(
        select(Invoice).where(
            Invoice.contract_id == contract.id,
            Invoice.kind == "invoice",
            Invoice.state == InvoiceState.ISSUED,
            _printed_or_accelerated_before(on),
        )
    ).scalars()
    overdue_now = (i for i in still if (receipts.due_date(session, i) or on) < on)
    if any(documents.outstanding(session, i) > 0 for i in overdue_now):
        return False
    for hold in mine:
        holds.lift(session, who, contract.id, hold.id, f"{REASON_PREFIX} debt settled")
    cause = (
        session.execute(
            select(DunningNotice)
            .where(DunningNotice.contract_id == contract.id, DunningNotice.step == "suspension")
            .order_by(DunningNotice.created_at.desc())
        )
        .scalars()
        .first()
    )
    if cause is not None:
        session.add(
            DunningNotice(
                invoice_id=cause.invoice_id,
                contract_id=contract.id,
                client_id=contract.client_id,
                step=f"lifted-{on:%Y%m%d}",
                sent_on=on,
                channel="email",
                outstanding=ZERO,
                fee=ZERO,
                interest=ZERO,
                text="Paiement reçu : la suspension des services est levée (004 §7).",
            )
        )
        session.flush()
    return True


def _printed_or_accelerated_before(on: dt.date) -> ColumnElement[bool]:
    """The invoices that may be overdue on ``on``: printed due before it, or made due
    before it by an early termination (003 §13.2.1); ``receipts.due_date`` decides."""
    accelerated = select(InvoiceAcceleration.invoice_id).where(InvoiceAcceleration.due_date < on)
    return or_(Invoice.due_date < on, Invoice.id.in_(accelerated))
