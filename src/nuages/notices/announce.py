"""One function per act the existing slices perform: each writes that act's notice in
the act's transaction (called next to the act's ``history.record``). Kept here so the
slices' edits are one line, and every context a template needs is built in one place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from nuages.history.service import Actor
from nuages.kernel.money import round_cents
from nuages.notices.models import Notice
from nuages.notices.service import queue

# SEPA SDD Core rulebook: the debtor is pre-notified 14 calendar days before the
# collection unless the creditor and the debtor agreed otherwise.
SEPA_PRENOTIFICATION_DAYS = 14


def _money(value: Any) -> str:
    """An amount as the client reads it: cents (ledger amounts carry more places)."""
    return str(round_cents(Decimal(value)))


def _day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()


def document_issued(session: Session, who: Actor, invoice: Any) -> Notice:
    """An invoice or credit note issued: to the billing contact, with its Factur-X PDF
    (004 §8.2 "facture envoyée par e-mail"); the legal reference names the due date and
    the dispute window the document opens (001 §4.4)."""
    credit = invoice.kind == "credit_note"
    legal = f"Échéance / due: {_day(invoice.due_date) or '-'}"
    if invoice.dispute_until is not None:
        legal += f"; contestation jusqu'au / dispute until: {_day(invoice.dispute_until)}"
    corrects = ""
    if invoice.corrects_id:
        preceding = session.get(type(invoice), invoice.corrects_id)
        corrects = preceding.number if preceding is not None else ""
    return queue(
        session,
        who,
        "credit_note_issued" if credit else "invoice_issued",
        client_id=invoice.client_id,
        contract_id=invoice.contract_id,
        object_type="invoice",
        object_id=invoice.id,
        key=f"document:{invoice.id}",
        legal_ref=legal,
        context={
            "number": invoice.number,
            "total": _money(invoice.grand_total),
            "currency": invoice.currency,
            "due_date": _day(invoice.due_date) or "-",
            "dispute_until": _day(invoice.dispute_until),
            "corrects": corrects,
        },
        attachments=[
            {"type": "invoice_pdf", "invoice_id": invoice.id, "filename": f"{invoice.number}.pdf"}
        ],
        fresh_key=True,  # called once, as the document is issued (documents.issue)
    )


def payment_received(session: Session, who: Actor, payment: Any, currency: str = "EUR") -> Notice:
    """A payment recorded: to the billing contact (its receipt)."""
    return queue(
        session,
        who,
        "payment_received",
        client_id=payment.client_id,
        object_type="payment",
        object_id=payment.id,
        key=f"payment:{payment.id}",
        context={
            "amount": _money(payment.amount),
            "currency": currency,
            "received_on": _day(payment.received_on),
            "reference": payment.reference or "-",
        },
    )


DUNNING_KINDS = {"formal-notice": "formal_notice", "suspension": "dunning_suspension"}


def dunning_step(session: Session, who: Actor, invoice: Any, notice: Any, clause: str) -> Notice:
    """A dunning step taken (reminder, formal notice, suspension): to the billing
    contact (003 §14.5 "relance par e-mail"), the step's own text in French."""
    kind = DUNNING_KINDS.get(notice.step, "reminder")
    return queue(
        session,
        who,
        kind,
        client_id=invoice.client_id,
        contract_id=invoice.contract_id,
        object_type="invoice",
        object_id=invoice.id,
        key=f"dunning:{notice.id}",
        legal_ref=f"{notice.step} ({clause}), {notice.sent_on.isoformat()}",
        context={
            "number": invoice.number,
            "outstanding": _money(notice.outstanding),
            "currency": invoice.currency,
            "fee": _money(notice.fee),
            "text": notice.text,
        },
    )


def balance_notice(
    session: Session,
    who: Actor,
    kind: str,
    *,
    contract_id: str,
    client_id: str,
    key: str,
    context: dict[str, Any],
    legal_ref: str = "",
) -> Notice:
    """A prepaid-balance notice (000 §11.2): low, negative, suspension, resumption."""
    return queue(
        session,
        who,
        kind,
        client_id=client_id,
        contract_id=contract_id,
        object_type="account",
        object_id=contract_id,
        key=key,
        context={"currency": "EUR", **context, "balance": _money(context["balance"])},
        legal_ref=legal_ref,
    )


def extension_notice(
    session: Session, who: Actor, kind: str, ext: Any, key: str, **context: Any
) -> Notice:
    """An extension awaiting the Responsable's authorisation, or ended (000 §8)."""
    return queue(
        session,
        who,
        kind,
        client_id=ext.client_id,
        contract_id=ext.contract_id,
        object_type="extension",
        object_id=ext.id,
        key=key,
        context={
            "item": f"{ext.quantity} x {ext.item_id}",
            "starts_at": ext.starts_at.isoformat(timespec="minutes"),
            "ends_at": ext.ends_at.isoformat(timespec="minutes"),
            **context,
        },
    )


def vm_created(session: Session, who: Actor, vm: Any) -> Notice:
    """A VM created and running: to the owners, with how to reach it; never a
    password (the VM is reached with the SSH keys on file)."""
    return queue(
        session,
        who,
        "vm_created",
        client_id=vm.client_id,
        contract_id=vm.contract_id,
        object_type="vm",
        object_id=vm.id,
        key=f"vm_created:{vm.id}",
        context={
            "vm_name": vm.name,
            "address": vm.ip_address or "127.0.0.1",
            "port": vm.ssh_port or "",
            "ssh_user": "root",
            "keys": "clés choisies à la création / keys chosen at creation",
        },
    )


def sepa_prenotification(
    session: Session, who: Actor, debit: Any, mandate: Any, creditor_id: str, today: dt.date
) -> Notice:
    """A direct debit put in a batch: the debtor's pre-notification with the exact
    collection date; the legal reference says how many calendar days ahead it is sent
    against the rulebook's 14."""
    days = (debit.collection_date - today).days
    legal = (
        f"Préavis de {days} jour(s) calendaires avant le prélèvement / {days} calendar day(s) "
        f"ahead (SEPA: {SEPA_PRENOTIFICATION_DAYS} unless agreed otherwise)"
    )
    return queue(
        session,
        who,
        "sepa_prenotification",
        client_id=debit.client_id,
        contract_id=debit.contract_id,
        object_type="direct_debit",
        object_id=debit.id,
        key=f"sepa_prenotification:{debit.id}",
        legal_ref=legal,
        context={
            "amount": _money(debit.amount),
            "currency": debit.currency,
            "collection_date": debit.collection_date.isoformat(),
            "mandate_reference": mandate.reference,
            "creditor_id": creditor_id,
        },
    )


def hold_changed(
    session: Session,
    who: Actor,
    *,
    lifted: bool,
    hold_id: str,
    contract_id: str,
    client_id: str,
    ground: str,
    clause: str,
    reason: str,
    at: dt.datetime,
    expected_end_at: dt.datetime | None = None,
    still_held: str = "",
) -> Notice:
    """A hold placed or lifted (004 §7: the suspension announced with its ground and
    expected duration; its lifting once the cause is remedied): to every owner."""
    return queue(
        session,
        who,
        "hold_lifted" if lifted else "hold_placed",
        client_id=client_id,
        contract_id=contract_id,
        object_type="contract",
        object_id=contract_id,
        key=f"hold:{hold_id}:{'lift' if lifted else 'place'}",
        legal_ref=f"{ground} ({clause})",
        context={
            "ground": ground,
            "hold_clause": clause,
            "reason": reason,
            "placed_at": at.isoformat(timespec="minutes"),
            "lifted_at": at.isoformat(timespec="minutes"),
            "expected_end_at": expected_end_at.isoformat(timespec="minutes")
            if expected_end_at
            else "",
            "still_held": still_held,
        },
    )
