"""ISO 11649 structured creditor references ("RF" + two check digits + up to 21
letters or digits): what a payer types in a transfer so the statement import finds
what it pays. Top-ups carry their account's (``billing.ledger.payment_reference``);
an invoice carries the one of its number (``invoice_reference``), printed on the PDF and
in the Factur-X payment reference (BT-83)."""

from __future__ import annotations

import re

from stdnum import iso11649


def creditor_reference(body: str) -> str:
    """The RF reference of ``body`` (its letters and digits, the first 21): check
    digits computed as ISO 11649 says (ISO 7064 mod 97-10 over body + "RF00")."""
    compact = re.sub(r"[^A-Z0-9]", "", body.upper())[:21]
    if not compact:
        raise ValueError("a creditor reference needs at least one letter or digit")
    digits = "".join(str(int(c, 36)) for c in compact + "RF00")
    reference = f"RF{98 - int(digits) % 97:02d}{compact}"
    assert iso11649.is_valid(reference)
    return reference


def invoice_reference(number: str) -> str:
    """The ISO 11649 creditor reference of an invoice number (``F-2026-000042`` →
    ``RF..F2026000042``): what a debtor may type instead of the number."""
    return creditor_reference(number)


def grouped(reference: str) -> str:
    """The reference in groups of four, as printed (ISO 11649 §4: for reading)."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
