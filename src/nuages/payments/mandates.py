"""SEPA Core mandates, one model for prepaid top-ups (000 §13.2) and invoices (003 §14.2,
004 §8.2).

The IBAN and BIC are checked with ``schwifty`` (checksum, national format, SEPA zone).
The sequence type of a collection follows the SEPA Core rulebook: ``FRST`` for the first
collection under a mandate (and again after the debtor moved to another bank, the safe
choice the rulebook allows), ``RCUR`` afterwards, ``FNAL`` for the last one of a mandate
being ended. An amendment keeps the mandate and its history: the mandate's reference,
IBAN or bank change, the original values are recorded, and the next collection carries
``AmdmntInd`` true with those originals (``payments.batches``).

Services take the contract already checked by the caller's slice (billing or invoicing
own the contract's tenancy rules); they record every change with ``history.record``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, NotFound, ValidationFailed
from nuages.payments.models import Mandate, MandateState

LIVE = (MandateState.ACTIVE.value, MandateState.ENDING.value)


def check_iban(text: str) -> IBAN:
    """The IBAN, checked (checksum, national format, SEPA zone), else a 422."""
    try:
        iban = IBAN(text)
    except SchwiftyException as exc:
        raise ValidationFailed(f"iban: not a valid IBAN ({exc})") from None
    if not iban.in_sepa_zone:
        raise ValidationFailed(f"iban: {iban.country_code} accounts are outside the SEPA zone")
    return iban


def check_bic(text: str | None, iban: IBAN) -> str:
    """The BIC given (checked) or the one the IBAN's bank code names, else a 422."""
    if text is None:
        derived = iban.bic
        if derived is None:
            raise ValidationFailed("bic: cannot be derived from this IBAN; give it")
        return str(derived.compact)
    try:
        bic = BIC(text)
    except SchwiftyException as exc:
        raise ValidationFailed(f"bic: not a valid BIC ({exc})") from None
    return str(bic.compact)


def mask_iban(iban: str) -> str:
    """An IBAN with all but its country, check digits and last four characters hidden."""
    return iban[:4] + "*" * max(len(iban) - 8, 0) + iban[-4:]


@dataclass(frozen=True)
class Terms:
    """What the debtor signed: the fields of a mandate."""

    iban: str
    bic: str | None
    holder_name: str
    signed_on: dt.date
    prenotice_days: int | None = None
    reference: str | None = None  # None: one is made up (``NUA-…``)


def active_mandate(session: Session, contract_id: str, *, lock: bool = False) -> Mandate | None:
    """The contract's live mandate (active, or ending with its FNAL not yet sent)."""
    stmt = select(Mandate).where(Mandate.contract_id == contract_id, Mandate.state.in_(LIVE))
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def list_mandates(session: Session, contract_id: str) -> list[Mandate]:
    """The contract's mandates, newest first."""
    return list(
        session.execute(
            select(Mandate)
            .where(Mandate.contract_id == contract_id)
            .order_by(Mandate.created_at.desc(), Mandate.id)
        ).scalars()
    )


def _checked(terms: Terms) -> tuple[str, str]:
    iban = check_iban(terms.iban)
    bic = check_bic(terms.bic, iban)
    if terms.signed_on > utc_now().date():
        raise ValidationFailed("signed_on: a mandate cannot be signed in the future")
    return str(iban.compact), bic


def _reference_free(session: Session, reference: str, mine: str | None) -> None:
    other = session.execute(
        select(Mandate.id).where(Mandate.reference == reference)
    ).scalar_one_or_none()
    if other is not None and other != mine:
        raise Conflict(f"mandate_id: the reference {reference} names another mandate")


def create(
    session: Session,
    who: Actor,
    *,
    contract_id: str,
    client_id: str,
    terms: Terms,
    action: str = "payments.mandate.create",
) -> Mandate:
    """Register a signed mandate for a contract; 409 while another one is live. Nothing
    is written when the IBAN or BIC is refused."""
    iban, bic = _checked(terms)
    if active_mandate(session, contract_id, lock=True) is not None:
        raise Conflict("the contract already has an active mandate; revoke it first")
    reference = terms.reference or "NUA-" + secrets.token_hex(8).upper()
    _reference_free(session, reference, None)
    mandate = Mandate(
        contract_id=contract_id,
        client_id=client_id,
        reference=reference,
        iban=iban,
        bic=bic,
        holder_name=terms.holder_name,
        signed_on=terms.signed_on,
        state=MandateState.ACTIVE.value,
        used=False,
        prenotice_days=terms.prenotice_days,
    )
    session.add(mandate)
    session.flush()
    history.record(
        session,
        who,
        object_type="mandate",
        object_id=mandate.id,
        action=action,
        params={"contract_id": contract_id, "iban": mask_iban(iban), "bic": bic},
        client_id=client_id,
    )
    return mandate


def amend(session: Session, who: Actor, mandate: Mandate, terms: Terms) -> Mandate:
    """Amend a live mandate (SEPA Core rulebook AT-24). A new reference, IBAN or BIC is
    an amendment: the values the bank knew are kept in ``original_*`` (the first ones,
    when amended twice before a collection) and go in the next pain.008. Holder name,
    signature date and pre-notification period change without one."""
    if mandate.state not in LIVE:
        raise Conflict(f"a {mandate.state} mandate cannot be amended")
    iban, bic = _checked(terms)
    reference = terms.reference or mandate.reference
    _reference_free(session, reference, mandate.id)
    changed = {
        name: (old, new)
        for name, old, new in (
            ("reference", mandate.reference, reference),
            ("iban", mandate.iban, iban),
            ("bic", mandate.bic, bic),
        )
        if old != new
    }
    if changed and mandate.used:
        # Only a mandate already collected under needs the bank told: before the first
        # collection, the FRST carries the new data and nothing else is known.
        if "reference" in changed and mandate.original_reference is None:
            mandate.original_reference = mandate.reference
        if "iban" in changed and mandate.original_iban is None:
            mandate.original_iban = mandate.iban
        if "bic" in changed and mandate.original_bic is None:
            mandate.original_bic = mandate.bic
        mandate.amended_at = utc_now()
    mandate.reference = reference
    mandate.iban = iban
    mandate.bic = bic
    mandate.holder_name = terms.holder_name
    mandate.signed_on = terms.signed_on
    mandate.prenotice_days = terms.prenotice_days
    session.flush()
    history.record(
        session,
        who,
        object_type="mandate",
        object_id=mandate.id,
        action="payments.mandate.amend",
        params={
            "contract_id": mandate.contract_id,
            "changed": sorted(changed),
            "iban": mask_iban(iban),
            "bic": bic,
        },
        client_id=mandate.client_id,
    )
    return mandate


def put(session: Session, who: Actor, *, contract_id: str, client_id: str, terms: Terms) -> Mandate:
    """The contract's mandate set to ``terms``: amended when one is live, else created."""
    live = active_mandate(session, contract_id, lock=True)
    if live is None:
        return create(session, who, contract_id=contract_id, client_id=client_id, terms=terms)
    return amend(session, who, live, terms)


def revoke(
    session: Session, who: Actor, contract_id: str, *, action: str = "payments.mandate.revoke"
) -> Mandate:
    """Revoke the contract's live mandate (404 when none)."""
    mandate = active_mandate(session, contract_id, lock=True)
    if mandate is None:
        raise NotFound("the contract has no active mandate")
    mandate.state = MandateState.REVOKED.value
    mandate.revoked_at = utc_now()
    session.flush()
    history.record(
        session,
        who,
        object_type="mandate",
        object_id=mandate.id,
        action=action,
        params={"contract_id": contract_id},
        client_id=mandate.client_id,
    )
    return mandate


def end_after_next(session: Session, who: Actor, contract_id: str) -> Mandate:
    """The contract's next collection is the mandate's last: it goes out as ``FNAL`` and
    the mandate ends with it (SEPA Core rulebook, sequence type "final")."""
    mandate = active_mandate(session, contract_id, lock=True)
    if mandate is None:
        raise NotFound("the contract has no active mandate")
    mandate.state = MandateState.ENDING.value
    session.flush()
    history.record(
        session,
        who,
        object_type="mandate",
        object_id=mandate.id,
        action="payments.mandate.ending",
        params={"contract_id": contract_id},
        client_id=mandate.client_id,
    )
    return mandate


def sequence_type(mandate: Mandate) -> str:
    """The sequence type of the mandate's next collection (SEPA Core rulebook)."""
    if mandate.state == MandateState.ENDING:
        # A mandate ended before any collection: its only one is its first.
        return "FNAL" if mandate.used else "FRST"
    if not mandate.used or mandate.original_bic is not None:
        # A new debtor bank has never seen the mandate: FRST again (SMNDA).
        return "FRST"
    return "RCUR"


def after_collection(mandate: Mandate) -> None:
    """A collection under the mandate went out in a file: it is used, its amendment was
    told to the bank, and a FNAL ends it."""
    mandate.used = True
    mandate.original_reference = mandate.original_iban = mandate.original_bic = None
    if mandate.state == MandateState.ENDING:
        mandate.state = MandateState.ENDED.value
