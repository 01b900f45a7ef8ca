"""Term and renewal (000 §9, 001 §3, 003 §11, 004 §5).

At formation the first term end is computed from the terms file and stored on the
contract; at each term end the daily job renews the contract tacitly (the next end of
``terms.deadlines.term_ends``) unless a notice to quit or a refusal of new terms stops
it. Renewals are written in the history and, where the terms say so, the renewal tariffs
are announced beforehand (001 §4.5: 3 months before the renewal).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import parse_version
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.errors import NotFound
from nuages.notices.models import Notice
from nuages.notices.service import queue
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import latest_notice, shift_by, term_ends
from nuages.terms.schema import Offer


def offer_of(session: Session, contract: Contract) -> Offer:
    """The terms the contract accepted (its stored version, parsed once per hash)."""
    version = session.get(OfferVersion, contract.offer_hash)
    if version is None:
        raise NotFound(f"offer version {contract.offer_hash} is not stored")
    return parse_version(version.content_hash, version.content)


def first_term_end(session: Session, contract: Contract, formed_at: dt.datetime) -> dt.datetime:
    """The end of the initial term of a contract formed at ``formed_at``: 000 §9 the
    order's duration (1 month by default) and never less than 1 hour; 001 §3.1 31
    December of the following calendar year; 003 §11.1 one year; 004 §5 36 months."""
    offer = offer_of(session, contract)
    end = next(term_ends(offer, formed_at))
    minimum = offer.duration.minimum_service
    if minimum is not None:
        end = max(end, shift_by(calendar_for(offer), formed_at, minimum))
    return end


def next_term_end(offer: Offer, start: dt.datetime, current: dt.datetime) -> dt.datetime | None:
    """The end of the renewal that follows the term ending at ``current`` (None when the
    terms give no tacit renewal)."""
    for end in term_ends(offer, start):
        if end > current:
            return end
    return None


def renew(
    session: Session, who: Actor, contract: Contract, offer: Offer, now: dt.datetime
) -> dt.datetime | None:
    """Renew a contract whose term is reached (a compare-and-swap on its term end: run
    twice, it renews once); return the new term end, None when nothing was done."""
    current = contract.term_ends_at
    if current is None or current > now or contract.activated_at is None:
        return None
    following = next_term_end(offer, contract.activated_at, current)
    if following is None:
        return None
    while following <= now:  # a job that missed days catches up one term at a time
        later = next_term_end(offer, contract.activated_at, following)
        if later is None:
            break
        following = later
    done = session.execute(
        update(Contract)
        .where(Contract.id == contract.id, Contract.term_ends_at == current)
        .values(term_ends_at=following, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(contract)
    clause = offer.duration.renewal.clause or offer.duration.clause or ""
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.renew",
        params={"from": current.isoformat(), "to": following.isoformat(), "clause": clause},
        client_id=contract.client_id,
    )
    queue(
        session,
        who,
        "contract_renewed",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"renewed:{contract.id}:{current.isoformat()}",
        legal_ref=clause,
        context={
            "renewal_clause": clause,
            "renewed_from": _day(offer, current),
            "term_ends": _day(offer, following),
        },
    )
    return following


def backfill_term_end(
    session: Session, who: Actor, contract: Contract, offer: Offer, now: dt.datetime
) -> dt.datetime | None:
    """Store the term end of a contract formed before term ends were stored: the end of
    the term running at ``now`` (the renewals before it implied); once."""
    if contract.activated_at is None or contract.term_ends_at is not None:
        return None
    end = next((e for e in term_ends(offer, contract.activated_at) if e > now), None)
    if end is None:  # no tacit renewal and the initial term is over: it ends now
        end = next(term_ends(offer, contract.activated_at))
    done = session.execute(
        update(Contract)
        .where(Contract.id == contract.id, Contract.term_ends_at.is_(None))
        .values(term_ends_at=end, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(contract)
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.term.backfill",
        params={"term_ends_at": end.isoformat()},
        client_id=contract.client_id,
    )
    return end


def renewal_tariffs_due(offer: Offer, term_end: dt.datetime) -> dt.datetime | None:
    """001 §4.5: the exclusive end of the time the renewal tariffs may be notified (3
    months before the renewal); None when the terms say nothing."""
    notice = offer.changes.renewal_tariffs_notice
    if notice is None:
        return None
    return latest_notice(calendar_for(offer), term_end, notice)


def announce_renewal(
    session: Session, who: Actor, contract: Contract, offer: Offer, now: dt.datetime
) -> bool:
    """001 §4.5: announce the coming renewal and its tariffs once the notice's last day
    is within a month (once per term: the notice's key)."""
    term_end = contract.term_ends_at
    if term_end is None or not offer.duration.renewal.tacit:
        return False
    latest = renewal_tariffs_due(offer, term_end)
    if latest is None or now >= latest or now < calendar_for(offer).shift_months(latest, -1):
        return False
    tariffs = offer.changes.renewal_tariffs_notice
    clause = (tariffs.clause if tariffs else None) or offer.changes.clause or ""
    key = f"renewal-announce:{contract.id}:{term_end.isoformat()}"
    if session.execute(select(Notice.id).where(Notice.dedupe_key == key)).first():
        return False
    queue(
        session,
        who,
        "renewal_announced",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=key,
        legal_ref=clause,
        context={"renewal_clause": clause, "renews_on": _day(offer, term_end)},
    )
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.renewal.announce",
        params={"renews_on": term_end.isoformat(), "clause": clause},
        client_id=contract.client_id,
    )
    return True


def _day(offer: Offer, at: dt.datetime) -> str:
    return calendar_for(offer).local_date(at).isoformat()
