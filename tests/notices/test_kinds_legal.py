"""Issue #11: which notices are legal acts is a property of each kind (``Kind.legal`` in
notices/kinds.py), not a list kept beside it in notices/bounces.py."""

from __future__ import annotations

from nuages.notices import bounces
from nuages.notices.kinds import KINDS

# The kinds whose e-mail is a legal act: it opens or closes a deadline the contract
# counts. Asserted in full so that a new kind is a decision, not a default.
LEGAL = {
    "invoice_issued",  # 004 §8.2, 001 §4.1: receipt opens the payment term
    "credit_note_issued",  # 004 §8.2
    "reminder",  # 003 §14.5
    "formal_notice",  # 003 §14.5
    "dunning_suspension",  # 003 §14.5
    "sepa_prenotification",  # SEPA rulebook: 14 days before the debit
    "hold_placed",  # 004 §7
    "renewal_announced",  # 001 §4.5
    "termination_recorded",  # 001 §3.2
    "formal_notice_given",  # 000 §16
    "terms_change_announced",  # 000 §4, 004 §3: the refusal window
    "price_revision",  # 000 §13.3, 003 §14.3
    "subprocessor_changed",  # 001 §16.9: the objection window
    "gdpr_breach",  # 001 §16.7
    "force_majeure_terminable",  # 003 §9: the right to terminate
    "relocation_announced",  # 001 §5.3: the penalty-free exit
    "terms_migrated",  # 000 §4: the new terms apply
    "exit_opened",  # SPEC §12: the exit deadline
    "abuse_violation",  # 003 §7.9: the time to remedy
}


def test_issue_11_every_legal_kind_declares_it_on_its_kind_definition() -> None:
    assert {k.name for k in KINDS.values() if k.legal} == LEGAL
    assert not hasattr(bounces, "LEGAL_KINDS")  # one source of truth


def test_issue_11_bounces_read_legal_from_the_kind() -> None:
    for kind in KINDS.values():
        assert bounces.is_legal(kind.name) is kind.legal
    # a kind no longer defined errs towards alerting staff
    assert bounces.is_legal("no_such_kind") is True
