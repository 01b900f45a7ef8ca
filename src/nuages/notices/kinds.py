"""The kinds of notice: one per legal message, each naming its clause, who receives it
(the rule, resolved when the notice is written) and which token scope reads it.

Recipient rules (issue #11): ``responsable``: the designated Responsable (terms
changes, extension approvals; ``User.is_terms_decider``), else every active owner;
``owners``: every active owner (000 §1); ``billing``: the client's billing contact
(invoices and dunning, 003 §14.5, 004 §8.2); ``dpo``: the client's data protection
officer or GDPR contact (``Client.dpo_email``), else every active owner (GDPR notices,
001 §16.7, §16.9: the client is informed either way).

``importance = "high"`` marks the e-mail "haute importance" and "suivi immédiat"
(001 §16.7 (ii)): Importance/Priority/X-Priority headers and a follow-up flag.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    clause: str
    recipients: str  # "billing" | "owners" | "responsable" | "user" | "dpo"
    scope: str  # "billing" (money: members never read it, 000 §5) | "read" | "private"
    # The job enqueued by name (with the notice id) once a mail server accepted the
    # notice: what its acceptance proves, e.g. an invoice's receipt (001 §4.1).
    on_sent: str | None = None
    importance: str = "normal"  # "high": 001 §16.7 (ii) breach e-mails
    # The e-mail is itself a legal act: it opens or closes a deadline the contract
    # counts (a payment term, a refusal window, a notice period…). A bounce of one
    # means the act may not have reached the client: staff are alerted to send it
    # another way (issue #11, ``notices/bounces.py``).
    legal: bool = False
    # The job enqueued by name (with the notice id) when the notice bounced for good
    # after its acceptance: what that acceptance proved no longer holds (an invoice's
    # receipt is voided, 001 §4.1, SPEC §17).
    on_bounced: str | None = None


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "invoice_issued",
            "004 §8.2",
            "billing",
            "billing",
            "invoicing_invoice_received",
            legal=True,
            on_bounced="invoicing_invoice_bounced",
        ),
        Kind("credit_note_issued", "004 §8.2", "billing", "billing", legal=True),
        Kind("payment_received", "004 §8.2", "billing", "billing"),
        Kind("reminder", "003 §14.5", "billing", "billing", legal=True),
        Kind("formal_notice", "003 §14.5", "billing", "billing", legal=True),
        Kind("dunning_suspension", "003 §14.5", "billing", "billing", legal=True),
        Kind("low_balance", "000 §11.2", "billing", "billing"),
        Kind("negative_balance", "000 §11.2", "billing", "billing"),
        Kind("extension_awaiting_approval", "000 §8", "responsable", "read"),
        Kind("extension_ended", "000 §8", "owners", "read"),
        Kind("vm_created", "000 §5", "owners", "read"),
        Kind("hold_placed", "004 §7", "owners", "read", legal=True),
        Kind("hold_lifted", "004 §7", "owners", "read"),
        Kind(
            "sepa_prenotification", "SEPA SDD rulebook PT-04.16", "billing", "billing", legal=True
        ),
        # portal (issue #12): the reset link goes to the user alone; scope "private":
        # no token lists it (the link is a secret), only the outbox delivers it.
        Kind("password_reset", "000 §13.2", "user", "private"),
        # sla (issue 22): planned maintenance announced to the clients it affects.
        Kind("maintenance_planned", "000 §7", "owners", "read"),
        # network (issue 14): a VM's network cut by staff and lifted (000 §11.1, 003 §7.3)
        Kind("network_cut", "000 §11.1", "owners", "read"),
        Kind("network_restored", "000 §11.1", "owners", "read"),
        # reversibility (issue 21 items 6-7): the exit opened with its deadline; erased.
        Kind("exit_opened", "SPEC §12", "owners", "read", legal=True),
        Kind("exit_erased", "001 §7", "owners", "read"),
        # contract life (issue #21: term, renewal, notices to quit, changes, revisions)
        Kind("contract_renewed", "000 §9", "owners", "read"),
        Kind("renewal_announced", "001 §4.5", "owners", "read", legal=True),
        Kind("termination_recorded", "001 §3.2", "owners", "read", legal=True),
        Kind("formal_notice_given", "000 §16", "owners", "read", legal=True),
        Kind("terms_change_announced", "000 §4", "responsable", "read", legal=True),
        Kind("price_revision", "000 §13.3", "owners", "billing", legal=True),
        # gdpr and support (issue #16)
        Kind("subprocessor_changed", "001 §16.9", "dpo", "read", legal=True),
        Kind("gdpr_breach", "001 §16.7", "dpo", "read", importance="high", legal=True),
        Kind("audit_scheduled", "001 §16.8", "dpo", "read"),
        Kind("staff_access_granted", "001 §15.3", "dpo", "read"),
        Kind("ticket_answered", "001 §10", "owners", "read"),
        # contract life (issue #21): 003 §9 force majeure past 30 days in all; 001 §5.3
        # a move of the data outside the EU announced, with its penalty-free exit; the new
        # terms applied once the refusal window closed in silence (000 §4, 004 §3)
        Kind("force_majeure_terminable", "003 §9", "owners", "read", legal=True),
        Kind("relocation_announced", "001 §5.3", "owners", "read", legal=True),
        Kind("terms_migrated", "000 §4", "responsable", "read", legal=True),
        # contracts read again (issue 20): a violation passed on to the client (003 §7.9)
        Kind("abuse_violation", "003 §7.9", "owners", "read", legal=True),
    )
}


def kind_of(name: str) -> Kind:
    """The kind named ``name`` (a programming error when unknown)."""
    return KINDS[name]
