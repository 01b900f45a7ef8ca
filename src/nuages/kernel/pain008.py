"""One bad debit does not stop a SEPA batch (issue 17.2).

Both direct-debit batches (invoices: ``invoicing.sepa``; prepaid top-ups:
``billing.sepa``) build one pain.008 file with ``sepaxml``, whose ``export(validate=True)``
refuses the whole file when one field is not XML (a legacy holder name with a control
character). ``split_exportable`` builds the file from the debits that are valid, and names
the others with the reason, so the batch goes on and reports them. Pure: no nuages import.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sepaxml import SepaDD

K = TypeVar("K")

# The text fields a debit carries into the file.
TEXT_FIELDS = ("name", "description", "mandate_id", "endtoend_id", "IBAN", "BIC")


def text_problem(payment: dict[str, Any]) -> str | None:
    """Why a debit's text cannot go into an XML file (a control character), else None."""
    for name in TEXT_FIELDS:
        value = payment.get(name)
        if not isinstance(value, str):
            continue
        for char in value:
            if unicodedata.category(char) == "Cc":
                return f"the {name} holds a control character (U+{ord(char):04X})"
    return None


def _build(
    new_file: Callable[[], SepaDD], payments: Sequence[dict[str, Any]]
) -> tuple[SepaDD, bytes]:
    sepa = new_file()
    for payment in payments:
        sepa.add_payment(dict(payment))  # add_payment rewrites the dict it is given
    return sepa, sepa.export(validate=True)


def split_exportable(
    new_file: Callable[[], SepaDD], debits: Sequence[tuple[K, dict[str, Any]]]
) -> tuple[SepaDD | None, bytes | None, list[K], list[tuple[K, str]]]:
    """The file built from every debit that is valid, its XML, the keys it holds, and
    the keys left out with the reason; ``(None, None, [], refused)`` when none is valid.

    The common case (every debit valid) builds the file once; otherwise each debit is
    tried alone, so one bad debit costs one extra validation per debit of the batch.
    """
    refused: list[tuple[K, str]] = []
    kept: list[tuple[K, dict[str, Any]]] = []
    for key, payment in debits:
        problem = text_problem(payment)
        if problem is None:
            kept.append((key, payment))
        else:
            refused.append((key, problem))
    if not kept:
        return None, None, [], refused
    try:
        sepa, xml = _build(new_file, [p for _, p in kept])
    except Exception:  # one debit (which?) makes the file invalid: try each alone
        alone: list[tuple[K, dict[str, Any]]] = []
        for key, payment in kept:
            try:
                _build(new_file, [payment])
            except Exception as exc:
                refused.append((key, f"the debit does not make a valid pain.008 file: {exc}"))
            else:
                alone.append((key, payment))
        kept = alone
        if not kept:
            return None, None, [], refused
        sepa, xml = _build(new_file, [p for _, p in kept])
    return sepa, xml, [k for k, _ in kept], refused


# SEPA Core Rulebook (EPC016, PT-04.03 / AT-D016): the creditor pre-notifies the debtor
# of each collection's amount and date at least 14 calendar days before the due date,
# unless the creditor and the debtor agreed another period (the mandate or the contract).
PRENOTIFICATION_DAYS = 14


def prenotice_lead(agreed_days: int | None) -> int:
    """The calendar days a collection's pre-notification must precede it: the period the
    mandate (or contract) agreed, else the rulebook's 14 (SPEC §17: read for the debtor,
    an agreement never lengthens the wait beyond what the debtor signed)."""
    return agreed_days if agreed_days is not None else PRENOTIFICATION_DAYS


def lead_problem(today: dt.date, collection: dt.date, agreed_days: int | None) -> str | None:
    """Why a collection on ``collection`` is too early for a pre-notification sent
    ``today``, else None."""
    lead = prenotice_lead(agreed_days)
    if (collection - today).days >= lead:
        return None
    source = "as the mandate agreed" if agreed_days is not None else "SEPA rulebook"
    return (
        f"pre-notification: the debtor must be told {lead} calendar days before the "
        f"collection ({source}); collect on or after {(today + dt.timedelta(days=lead))}"
    )
