"""What an offer's terms make of the end of a contract: pure, no I/O.

Every rule comes from the terms file's ``[reversibility]`` table (and 000 §13.2's
``[billing.prepaid.balance_refund]``, 004 §5's ``effective_when_data_recovered``); the
offer id is never tested. Readings (SPEC §17, in the client's favour):

- 002 §10 counts its 30 working days "from the termination letter"; nuages counts them
  from the contract's effective end (never earlier than the letter), so the client keeps
  its service at least as long as either reading gives.
- 001 §7 "EUR 250 per transfer": one recovery of all the data is one transfer, whatever
  the number of VMs; a partial recovery (one VM) is one transfer.
- 000 §13.2 names non-renewal and fault; an end nobody caused (the client's or the
  provider's ordinary notice, a refused terms change, force majeure) refunds like a
  non-renewal: in full.
- 000 §18 states no duration: the images stay downloadable for their link's life
  (compute's ``LINK_DAYS``) and the data is erased once every link expired or the
  client confirmed it has its data, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from nuages.terms.apply import calendar_for, duration_unit
from nuages.terms.calc.liability import TerminationCause
from nuages.terms.schema import Offer

# The cause codes the lifecycle writes in ``Contract.state_reason`` when it ends one.
CAUSES = (
    "client_notice",
    "provider_notice",
    "non_renewal",
    "client_breach",
    "provider_breach",
    "force_majeure",
    "negative_balance",
    "hold_over_15_days",
    "terms_refused",
)
# 000 §13.2: which share of the balance each cause refunds (see the module's readings).
REFUND_CAUSE: dict[str, TerminationCause] = {
    "client_notice": TerminationCause.NON_RENEWAL,
    "provider_notice": TerminationCause.NON_RENEWAL,
    "non_renewal": TerminationCause.NON_RENEWAL,
    "terms_refused": TerminationCause.NON_RENEWAL,
    "force_majeure": TerminationCause.NON_RENEWAL,
    "provider_breach": TerminationCause.PROVIDER_FAULT,
    "client_breach": TerminationCause.CLIENT_FAULT,
    "negative_balance": TerminationCause.CLIENT_FAULT,
    "hold_over_15_days": TerminationCause.CLIENT_FAULT,
}
# Ends that follow a payment default (002 §10: then no reversibility).
PAYMENT_DEFAULT_CAUSES = frozenset({"negative_balance"})


def cause_of(state_reason: str) -> str:
    """The cause code of a contract's ``state_reason`` (its first word, before any
    colon); an unknown text reads as the client's own notice (the mildest cause, SPEC
    §17: never a fault the record does not state)."""
    head = state_reason.strip().split(":", 1)[0].split(" ", 1)[0].strip()
    return head if head in CAUSES else "client_notice"


@dataclass(frozen=True)
class ExitPlan:
    """The rules of one offer's exit, read from its terms."""

    clause: str
    window: str  # the window as the clause states it ("3 months", "" when none)
    window_ends_at: dt.datetime | None
    images_for_every_vm: bool  # 000 §18
    exercise_by: str  # "registered_letter" | "request" | "none"
    fee: Decimal | None
    fee_per: str  # "transfer" | "vm" | "none"
    media_billed: bool
    requires_paid_up: bool
    denied: bool  # 002 §10: no reversibility after a payment default
    service_continues: bool  # 002 §10, 004 §5: the VMs keep running meanwhile
    confirmation_ends: bool  # 004 §5: only the client's confirmation ends the contract
    after_window: str | None  # "erase" | "destroy_confidentially" | "extract_to_media…"
    partial_recovery: bool  # 001 §7

    @property
    def erases_at_window_end(self) -> bool:
        """Whether the window's end alone starts the erasure (001 §7, 002 §10)."""
        return self.after_window in ("erase", "destroy_confidentially")


def plan_for(
    offer: Offer, ended_at: dt.datetime, cause: str, *, payment_default: bool = False
) -> ExitPlan:
    """The exit plan of a contract on ``offer`` that ended at ``ended_at`` for ``cause``.

    ``payment_default``: the client left invoices overdue and unpaid at the end (with
    the cause ``negative_balance``, the 002 §10 case where reversibility is denied).
    """
    rev = offer.reversibility
    clause = rev.clause or (rev.window.clause if rev.window else "") or ""
    denied = rev.denied_after_payment_default and (
        payment_default or cause in PAYMENT_DEFAULT_CAUSES
    )
    window_ends_at = None
    window = ""
    if rev.window is not None:
        window = f"{rev.window.amount} {rev.window.unit.value.replace('_', ' ')}"
        if denied:
            window_ends_at = ended_at  # 002 §10: erased at once, no window
        else:
            window_ends_at = calendar_for(offer).add(
                ended_at, rev.window.amount, duration_unit(rev.window)
            )
    confirmation = offer.duration.effective_when_data_recovered
    return ExitPlan(
        clause=clause,
        window=window,
        window_ends_at=window_ends_at,
        images_for_every_vm=rev.vm_images_standard_format,
        exercise_by=rev.exercise_by,
        fee=rev.fee,
        fee_per=rev.fee_per,
        media_billed=rev.media_billed,
        requires_paid_up=rev.requires_paid_up,
        denied=denied,
        service_continues=rev.service_continues_during_window or confirmation,
        confirmation_ends=confirmation,
        after_window=rev.after_window,
        partial_recovery=rev.partial_recovery_anytime,
    )


FAULTS = {
    "provider": TerminationCause.PROVIDER_FAULT,
    "client": TerminationCause.CLIENT_FAULT,
    "shared": TerminationCause.SHARED_FAULT,
}


def fault_of(state_reason: str) -> str | None:
    """The fault staff stated when ending a contract (``<cause>: fault=<who>``)."""
    _head, _, rest = state_reason.partition(":")
    for word in rest.split():
        if word.startswith("fault=") and word[6:] in FAULTS:
            return word[6:]
    return None


def refund_cause(cause: str, fault: str | None = None) -> TerminationCause:
    """000 §13.2's cause for a lifecycle cause code; a fault staff stated (e.g. a
    shared fault: half refunded) takes precedence."""
    if fault is not None:
        return FAULTS[fault]
    return REFUND_CAUSE.get(cause, TerminationCause.NON_RENEWAL)
