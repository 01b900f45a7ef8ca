"""Invoice receipts (001 §4.1, §4.4; SPEC §17): an invoice is payable within 15 days *of
receipt* and undisputed 8 days after it. Receipt is when the invoice's e-mail was
accepted over SMTP (the notices slice records it, then enqueues
``invoicing_invoice_received`` by name); until then it is the issue date plus the
offer's assumed delay (001: one day), which is what the invoice prints.

The invoice is a frozen document: its printed due date never changes. The deadlines a
receipt gives are kept beside it, and the *effective* deadline of an invoice is the
later of the printed one and the receipt's: an e-mail accepted within the day changes
nothing, an e-mail held three days by a relay that was down moves the due date and the
dispute window three days later; the client is never held to a date earlier than the one
its invoice shows (SPEC §17, read for the client).

An e-mail the relay accepted and that then bounced for good (a permanent DSN, issue
#11) reached nobody: it proves no receipt (001 §4.1, §4.4, SPEC §17). ``void`` removes
the receipt that acceptance recorded, with an ``invoicing.invoice.receipt_voided``
history entry keeping what it said. The invoice is then *not received* (``not_received``,
SPEC §17 read for the client): no effective due date nor dispute window, so dunning
skips it and no late interest runs, until another of its e-mails is accepted and not
bounced, or staff record its receipt another way (``record_other``: registered letter,
by hand, e-mail resent), which records a receipt again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.invoicing.models import Invoice, InvoiceAcceleration, InvoiceReceipt
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, ValidationFailed
from nuages.notices.models import Notice, NoticeAttempt
from nuages.notices.service import State
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.schema import Offer

RECEIVER = Actor.system("invoice receipts")
# Only a message handed to a mail server proves receipt; a file dropped under the data
# directory (a single-machine install without SMTP) reached nobody.
PROVING_MAILERS = ("smtp",)


def _later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return b if a is None else a if b is None else max(a, b)


def _later_at(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else max(a, b)


def deadlines_from(
    offer: Offer, received_at: dt.datetime
) -> tuple[dt.date | None, dt.datetime | None]:
    """(due date, end of the dispute window) of an invoice received at ``received_at``,
    for the windows the offer counts from receipt; None for those it counts otherwise."""
    found = {d.name: d for d in deadlines_for(offer, Event.invoice_received, received_at)}
    due = found.get("payment-due")
    dispute = found.get("invoice-dispute")
    return (due.last_day if due else None, dispute.ends_at if dispute else None)


def record(session: Session, registry: OfferRegistry, notice_id: str) -> InvoiceReceipt | None:
    """Record the receipt an accepted ``invoice_issued`` notice proves (once; a job
    delivered twice records nothing more). None when the notice proves no receipt:
    not an invoice's, not sent, sent by file drop, or already recorded."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.kind != "invoice_issued" or notice.sent_at is None:
        return None
    if notice.state == State.BOUNCED:
        return None  # the DSN came before this job: the acceptance proved nothing
    proved = session.execute(
        select(NoticeAttempt.id).where(
            NoticeAttempt.notice_id == notice.id,
            NoticeAttempt.outcome == "accepted",
            NoticeAttempt.mailer.in_(PROVING_MAILERS),
        )
    ).first()
    invoice = session.get(Invoice, notice.object_id)
    if proved is None or invoice is None or session.get(InvoiceReceipt, invoice.id) is not None:
        return None
    contract = session.get(Contract, invoice.contract_id)
    assert contract is not None
    offer = registry.for_contract(session, contract)
    due, dispute = deadlines_from(offer, notice.sent_at)
    receipt = InvoiceReceipt(
        invoice_id=invoice.id,
        notice_id=notice.id,
        received_at=notice.sent_at,
        due_date=due,
        dispute_until=dispute,
    )
    session.add(receipt)
    history.record(
        session,
        RECEIVER,
        object_type="invoice",
        object_id=invoice.id,
        action="invoicing.invoice.received",
        params={
            "number": invoice.number,
            "notice_id": notice.id,
            "received_at": notice.sent_at.isoformat(),
            "due_date": str(due_date(session, invoice, receipt)),
        },
        client_id=invoice.client_id,
    )
    return receipt


def _receipt(session: Session, invoice: Invoice) -> InvoiceReceipt | None:
    return session.get(InvoiceReceipt, invoice.id)


def bounced_notice(session: Session, invoice: Invoice) -> Notice | None:
    """The latest ``invoice_issued`` e-mail of the invoice that bounced for good, if any."""
    return (
        session.execute(
            select(Notice)
            .where(
                Notice.kind == "invoice_issued",
                Notice.object_id == invoice.id,
                Notice.state == State.BOUNCED,
            )
            .order_by(Notice.created_at.desc())
        )
        .scalars()
        .first()
    )


def not_received(session: Session, invoice: Invoice) -> bool:
    """An invoice whose e-mail bounced for good and that has no receipt was never
    received (001 §4.1, §4.4; SPEC §17 read for the client): it does not fall due, is not
    reminded, bears no late interest and its dispute window has not started, until staff
    record its receipt another way (``record_other``) or another e-mail of it is accepted."""
    return _receipt(session, invoice) is None and bounced_notice(session, invoice) is not None


MEANS = ("registered-letter", "hand-delivered", "email-resent")


def record_other(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    invoice: Invoice,
    received_at: dt.datetime,
    means: str,
    evidence: str,
) -> InvoiceReceipt:
    """Staff record that the invoice was received another way than its e-mail (a
    registered letter, by hand, an e-mail resent outside nuages): the deadlines then run
    from that moment as for an accepted e-mail (001 §4.1, §4.4). Once; not in the future,
    not before the invoice was issued."""
    if invoice.kind != "invoice":
        raise ValidationFailed("only an invoice has a receipt", field="invoice_id")
    if means not in MEANS:
        raise ValidationFailed(f"means must be one of {', '.join(MEANS)}", field="means")
    if received_at.tzinfo is None:
        raise ValidationFailed("received_at must carry a time zone", field="received_at")
    received_at = received_at.astimezone(dt.UTC)
    if received_at > utc_now():
        raise ValidationFailed("received_at is in the future", field="received_at")
    if received_at < invoice.issued_at:
        raise ValidationFailed(
            f"received_at is before the invoice was issued ({invoice.issued_at.isoformat()})",
            field="received_at",
        )
    if _receipt(session, invoice) is not None:
        raise Conflict(f"invoice {invoice.number} already has a receipt")
    contract = session.get(Contract, invoice.contract_id)
    assert contract is not None
    due, dispute = deadlines_from(registry.for_contract(session, contract), received_at)
    # No notice proves this receipt: notice_id stays empty, the means is in the history.
    receipt = InvoiceReceipt(
        invoice_id=invoice.id,
        notice_id="",
        received_at=received_at,
        due_date=due,
        dispute_until=dispute,
    )
    session.add(receipt)
    session.flush()
    history.record(
        session,
        who,
        object_type="invoice",
        object_id=invoice.id,
        action="invoicing.invoice.received",
        params={
            "number": invoice.number,
            "means": means,
            "evidence": evidence[:500],
            "received_at": received_at.isoformat(),
            "due_date": str(due_date(session, invoice, receipt)),
        },
        client_id=invoice.client_id,
    )
    return receipt


def due_date(
    session: Session, invoice: Invoice, receipt: InvoiceReceipt | None = None
) -> dt.date | None:
    """The invoice's effective due date: the later of the printed one and its receipt's,
    or the termination day when an early termination through the client's doing made it
    due at once (003 §13.2.1, ``invoicing.acceleration``), whichever is earlier."""
    receipt = receipt or _receipt(session, invoice)
    never = receipt is None and not_received(session, invoice)
    accelerated = None if never else session.get(InvoiceAcceleration, invoice.id)
    return _effective(invoice, receipt, never, accelerated)


def _effective(
    invoice: Invoice,
    receipt: InvoiceReceipt | None,
    never_received: bool,
    accelerated: InvoiceAcceleration | None,
) -> dt.date | None:
    """``due_date``'s rule on rows already read (``due_dates`` reads them in batches)."""
    if never_received:
        return None  # never received: it does not fall due (SPEC §17)
    due = _later(invoice.due_date, receipt.due_date if receipt else None)
    if accelerated is not None and (due is None or accelerated.due_date < due):
        return accelerated.due_date
    return due


def dispute_until(session: Session, invoice: Invoice) -> dt.datetime | None:
    """The end of the invoice's dispute window: the later of the printed one and its
    receipt's (001 §4.4)."""
    receipt = _receipt(session, invoice)
    if receipt is None and not_received(session, invoice):
        return None  # never received: the window has not started
    return _later_at(invoice.dispute_until, receipt.dispute_until if receipt else None)


def void(session: Session, notice_id: str) -> bool:
    """Void the receipt a bounced ``invoice_issued`` notice had proved (001 §4.1, §4.4;
    SPEC §17: a bounced e-mail was not received). True when a receipt was voided; False
    when there is none from that notice (never recorded, already voided, or proved by
    another e-mail of the invoice) or the notice did not bounce."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.kind != "invoice_issued" or notice.state != State.BOUNCED:
        return False
    invoice = session.get(Invoice, notice.object_id)
    receipt = session.get(InvoiceReceipt, notice.object_id) if invoice else None
    if invoice is None or receipt is None or receipt.notice_id != notice.id:
        return False
    before = due_date(session, invoice, receipt)
    session.delete(receipt)
    session.flush()
    history.record(
        session,
        RECEIVER,
        object_type="invoice",
        object_id=invoice.id,
        action="invoicing.invoice.receipt_voided",
        params={
            "number": invoice.number,
            "notice_id": notice.id,
            "received_at": receipt.received_at.isoformat(),
            "receipt_due_date": str(receipt.due_date),
            "due_date_before": str(before),
            "due_date": str(due_date(session, invoice)),
            "reason": notice.last_error[:300],
        },
        client_id=invoice.client_id,
    )
    return True


def status(session: Session, invoice: Invoice) -> dict[str, object]:
    """What staff and the client see of the invoice's receipt (001 §4.1, §4.4)."""
    receipt = _receipt(session, invoice)
    bounced = bounced_notice(session, invoice) if receipt is None else None
    state = "received" if receipt else "not-received" if bounced else "assumed"
    return {
        "receipt_state": state,
        "received_at": receipt.received_at if receipt else None,
        "effective_due_date": due_date(session, invoice, receipt),
        "bounce": (bounced.last_error[:300] or "bounced") if bounced else None,
    }


def staff_record(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    invoice_id: str,
    received_at: dt.datetime,
    means: str,
    evidence: str,
) -> Invoice:
    """The staff edge of ``record_other``: provider staff only."""
    from nuages.invoicing import credits  # credits imports dunning, which imports us

    invoice = credits.get_invoice(session, actor, invoice_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff record an invoice's receipt")
    record_other(session, actor.actor, registry, invoice, received_at, means, evidence)
    return invoice


@dataclass(frozen=True)
class Due:
    """An invoice's effective due date and why it is not the printed one: ``printed``
    (the same), ``received`` (the receipt came later, 001 §4.4), ``accelerated`` (due at
    once on an early termination, 003 §13.2.1; ``clause``) or ``not-received`` (an e-mail
    that bounced for good: no due date yet, SPEC §17)."""

    printed: dt.date | None
    effective: dt.date | None
    why: str
    clause: str = ""
    received_at: dt.datetime | None = None


def due_dates(session: Session, invoices: list[Invoice]) -> dict[str, Due]:
    """``due_date`` of many invoices at once (a list page): three queries whatever their
    number, by the same rule (``_effective``), with the reason the effective date differs
    from the printed one."""
    ids = [i.id for i in invoices]
    if not ids:
        return {}
    receipts = {
        r.invoice_id: r
        for r in session.execute(
            select(InvoiceReceipt).where(InvoiceReceipt.invoice_id.in_(ids))
        ).scalars()
    }
    accelerated_rows = session.execute(
        select(InvoiceAcceleration).where(InvoiceAcceleration.invoice_id.in_(ids))
    ).scalars()
    accelerations = {a.invoice_id: a for a in accelerated_rows}
    unreceived = [i for i in ids if i not in receipts]
    bounced = (
        set(
            session.execute(
                select(Notice.object_id).where(
                    Notice.kind == "invoice_issued",
                    Notice.object_id.in_(unreceived),
                    Notice.state == State.BOUNCED,
                )
            ).scalars()
        )
        if unreceived
        else set()
    )
    out: dict[str, Due] = {}
    for invoice in invoices:
        receipt, accelerated = receipts.get(invoice.id), accelerations.get(invoice.id)
        never = receipt is None and invoice.id in bounced
        effective = _effective(invoice, receipt, never, accelerated)
        printed = invoice.due_date
        if never and printed is not None:
            out[invoice.id] = Due(printed, None, "not-received")
        elif accelerated is not None and effective == accelerated.due_date != printed:
            out[invoice.id] = Due(printed, effective, "accelerated", accelerated.clause)
        elif receipt is not None and effective != printed:
            out[invoice.id] = Due(printed, effective, "received", "", receipt.received_at)
        else:
            out[invoice.id] = Due(printed, effective, "printed")
    return out
