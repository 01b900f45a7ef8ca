"""003 §13.2.1: on early termination "le Client s'engage à régler tous les montants
impayés pour la durée souscrite" — the rest of the subscribed duration becomes due at
once, as one charge billed by the contract's final invoice, exactly once.

Read for the client (SPEC §17), the clause binds a client whose contract ends early
through its own doing (a breach, ``client_breach``, or an uncovered negative balance):
not a penalty-free exit the contract itself grants (003 §14.3, §14.4), nor force
majeure (003 §9), nor the provider's breach. What is due is what the client had
subscribed on its last day (VMs, ordered lines, backup options, the firewall tier) at
its monthly price, from the first day no invoice covers to the term end; a month begun
is owed for its days only. The invoices already issued stay as issued, their unpaid
amounts due at once with it (``invoicing.acceleration``; reversibility returns data only
once all are paid).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.contracts.models import Contract, ContractTermination
from nuages.history.service import Actor
from nuages.invoicing import lines, sources
from nuages.invoicing.models import Invoice, PendingCharge
from nuages.invoicing.pricing import Item, monthly_of, price_of
from nuages.kernel.money import round_cents
from nuages.terms import apply
from nuages.terms.calc.termination import EarlyTerminationDue
from nuages.terms.schema import Offer, PriceUnit

KIND = "early_termination"
# The end causes that are the client's doing (contracts.ending.CLIENT_FAULT's codes).
CLIENT_FAULT_CAUSES = frozenset({"client_breach", "negative_balance"})
ZERO = Decimal("0.00")


def charge_key(contract_id: str) -> str:
    """The idempotency key of a contract's 003 §13.2.1 charge (one per contract)."""
    return f"early-termination:{contract_id}"


def _cause(session: Session, contract: Contract) -> tuple[str, str]:
    """(cause code, penalty-free clause) of how the contract ended: its effective
    termination, else the first word of its state reason."""
    row = session.execute(
        select(ContractTermination)
        .where(
            ContractTermination.contract_id == contract.id,
            ContractTermination.state == "effective",
        )
        .order_by(ContractTermination.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is not None:
        return row.cause, row.penalty_free
    head = contract.state_reason.strip().split(":", 1)[0].split(" ", 1)[0]
    return head, ""


def _subscribed_on(items: list[Item], day: dt.date) -> list[Item]:
    return [i for i in items if i.since <= day and (i.until is None or i.until > day)]


def binds(session: Session, contract: Contract, offer: Offer) -> bool:
    """Whether 003 §13.2.1 binds the ended contract: the offer has the rule, bills by
    invoice, and the contract ended before its term through the client's doing."""
    if not offer.termination.early_termination_remaining_due or offer.billing.mode != "invoiced":
        return False
    if contract.ended_at is None or contract.term_ends_at is None or contract.activated_at is None:
        return False
    if contract.ended_at >= contract.term_ends_at:
        return False
    cause, penalty_free = _cause(session, contract)
    return cause in CLIENT_FAULT_CAUSES and not penalty_free


def remaining_due(
    session: Session, contract: Contract, offer: Offer
) -> tuple[EarlyTerminationDue, dt.date, dt.date, Decimal] | None:
    """What 003 §13.2.1 makes due for an ended contract — (the calculator's result, the
    first day not invoiced, the term end, the monthly amount) — or None where it does
    not apply (the offer has no such rule, no early end, not the client's doing)."""
    if not binds(session, contract, offer):
        return None
    assert contract.ended_at is not None and contract.term_ends_at is not None
    calendar = apply.calendar_for(offer)
    ended_on = calendar.local_date(contract.ended_at)
    term_end = calendar.local_date(contract.term_ends_at)
    last_day = ended_on - dt.timedelta(days=1)
    items = sources.vm_items(session, contract, calendar) + sources.line_items(session, contract.id)
    items += sources.backup_items(session, calendar, contract.id)
    items += sources.firewall_items(contract, offer, calendar)
    revision = sources.stored_revision(session, contract.id, calendar, last_day)
    monthly = sum(
        (
            monthly_of(offer, item, revision) * item.quantity
            for item in _subscribed_on(items, last_day)
            # A one-off line (hardware, 001 §4.6) is billed once on delivery, never
            # "monthly for the rest of the duration", and has no monthly price.
            if price_of(offer, item)[1] is not PriceUnit.one_off
        ),
        ZERO,
    )
    invoiced_to = session.execute(
        select(func.max(Invoice.period_end)).where(
            Invoice.contract_id == contract.id, Invoice.kind == "invoice"
        )
    ).scalar_one()
    first = max(ended_on, invoiced_to) if invoiced_to is not None else ended_on
    due = apply.early_termination_due_for(offer, round_cents(monthly), first, term_end)
    return due, first, term_end, round_cents(monthly)


def ensure_charge(
    session: Session, who: Actor, contract: Contract, offer: Offer
) -> PendingCharge | None:
    """Write the 003 §13.2.1 charge of an ended contract once (its key names the
    contract, so a second call, a second run or the exit opening find it written);
    None where nothing is due."""
    found = session.execute(
        select(PendingCharge).where(PendingCharge.idempotency_key == charge_key(contract.id))
    ).scalar_one_or_none()
    if found is not None:
        return found
    computed = remaining_due(session, contract, offer)
    if computed is None:
        return None
    due, first, term_end, monthly = computed
    if due.remaining_amount <= 0:
        return None
    span = f"{due.remaining_months} mois" + (
        f" et {due.remaining_days} jours" if due.remaining_days else ""
    )
    charge, _written = lines.add_charge(
        session,
        who,
        contract,
        kind=KIND,
        description=(
            f"Résiliation anticipée (003 §13.2.1) : durée souscrite restant due du "
            f"{first:%d/%m/%Y} au {term_end:%d/%m/%Y}, {span} à {monthly} par mois"
        ),
        amount=due.remaining_amount,
        idempotency_key=charge_key(contract.id),
    )
    return charge
