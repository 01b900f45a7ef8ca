"""User seats committed 12 months each (001 §4.1–4.3, issue #20 item 3).

"Chaque utilisateur est souscrit pour une durée minimale de 12 mois": a seat removed
before its 12 months is removed, but stays billed to their end. On the contract's lines
a user count is one line (``quantity`` seats added on ``since``); an upgrade is a line
replacing the previous one (``replaces_id``), so the seats a line carries over keep the
dates they were added on. Removing seats — ending a user line, or replacing it with a
smaller count — leaves, for the removed seats still inside their commitment, *committed
seat* lines (``commits_seats_of`` naming the line they come from) that run from the
removal to the end of each commitment and are billed like any user line.

Which seats go when the count drops is read for the client (SPEC §17): the oldest ones,
whose commitment ends first, so the least is billed after the removal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

from sqlalchemy.orm import Session

from nuages.invoicing.models import ContractLine
from nuages.invoicing.pricing import Item, PricingProblem, price_of
from nuages.terms.calc.seats import committed_until
from nuages.terms.schema import Offer
from nuages.terms.schema_catalogue import PriceUnit
from nuages.terms.schema_common import Unit

CLAUSE = "001 §4.1–4.3"


def commitment_months(offer: Offer) -> int | None:
    """The months each seat is committed for, or None when seats are not committed
    (no per-user pricing, or ``minimum_per_seat`` off)."""
    pricing = offer.catalogue.user_pricing
    if pricing is None or not pricing.minimum_per_seat:
        return None
    minimum = pricing.minimum_subscription
    if minimum.unit is Unit.months:
        return minimum.amount
    if minimum.unit is Unit.years:
        return 12 * minimum.amount
    return None


def is_seat_line(offer: Offer, line: ContractLine) -> bool:
    """Whether the line counts users (its item is priced per user and month)."""
    item = Item(
        item_id=line.item_id, quantity=line.quantity, since=line.since, unit_price=line.unit_price
    )
    try:
        _, unit, _ = price_of(offer, item)
    except PricingProblem:
        return False
    return unit is PriceUnit.user_month


def seat_dates(session: Session, line: ContractLine) -> list[dt.date]:
    """The day each seat of ``line`` was added, oldest first: the seats it carries over
    from the line it replaced keep their dates (the newest of them when the count
    dropped: the oldest went first), the others were added on ``line.since``."""
    count = int(line.quantity)
    before: list[dt.date] = []
    if line.replaces_id is not None:
        replaced = session.get(ContractLine, line.replaces_id)
        if replaced is not None and replaced.item_id == line.item_id:
            before = seat_dates(session, replaced)
    kept = before[len(before) - min(count, len(before)) :]
    return kept + [line.since] * (count - len(kept))


def removed_seats(session: Session, line: ContractLine, remaining: int) -> list[dt.date]:
    """The add dates of the seats that go when ``line`` drops to ``remaining`` seats."""
    dates = seat_dates(session, line)
    return dates[: max(0, len(dates) - remaining)]


def commit_removed(
    session: Session,
    offer: Offer,
    line: ContractLine,
    removed_on: dt.date,
    remaining: int,
) -> list[ContractLine]:
    """Write the committed seat lines for the seats of ``line`` removed on
    ``removed_on`` (the count dropping to ``remaining``): one line per commitment end
    after the removal. Nothing for offers without committed seats or seats whose 12
    months are over."""
    months = commitment_months(offer)
    if months is None or not is_seat_line(offer, line):
        return []
    ends = Counter(
        end
        for added in removed_seats(session, line, remaining)
        if (end := committed_until(added, months)) > removed_on
    )
    out = []
    for end, count in sorted(ends.items()):
        committed = ContractLine(
            contract_id=line.contract_id,
            client_id=line.client_id,
            item_id=line.item_id,
            quantity=Decimal(count),
            unit_price=line.unit_price,
            since=removed_on,
            until=end,
            commits_seats_of=line.id,
            description=f"Utilisateur(s) retiré(s), engagé(s) jusqu'au {end:%d/%m/%Y} ({CLAUSE})",
        )
        session.add(committed)
        out.append(committed)
    session.flush()
    return out


def summary(lines: list[ContractLine]) -> list[dict[str, str]]:
    """The committed lines as the history and the API say them."""
    return [
        {"line_id": c.id, "quantity": f"{c.quantity.normalize():f}", "until": str(c.until)}
        for c in lines
    ]
