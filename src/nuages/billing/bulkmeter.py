"""Metering in the database for the common case: VMs present for a whole window.

Most VMs are there for the whole period being metered, in a state that is billed: for
them the entry depends only on (offer version, flavour), so the database writes them
all with one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per id range, joined with the
prices computed in Python from the offer (a ``VALUES`` list). The rules are the same as
``OfferPricing.is_billed`` and ``metering.vm_entry`` (which handles every other VM):

- running (and any state that is not stopped, suspended or error): billed;
- stopped: billed if ``stopped_vms_billed``;
- suspended: billed per the ground named by ``suspended_reason``, else
  ``suspension_billed`` (000 §11.1);
- error: not billed;
- after the contract's end (``contracts.ended_at``) nothing is billed unless the offer's
  service continues through its exit window (000 §18, §13.2; 002 §10);
- a VM an extension created (``extension_id``) is billed as that extension's VM-hours
  (``metering.extension_entries``), never as a VM of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, String, bindparam, text
from sqlalchemy.orm import Session

from nuages.billing.models import LedgerAmount
from nuages.billing.pricing import OfferPricing, Rate
from nuages.compute.services import reads
from nuages.kernel.db import UTCDateTime

# Entries of VMs present for the whole window (the statement starts with INSERT so that
# every driver reports its row count); every name below is built from counts, never
# from input. ``{prices}`` and ``{grounds}`` are VALUES lists of bound parameters.
_WHOLE_SQL = """INSERT INTO ledger_entries (contract_id, client_id, kind, amount, currency,
    at, recorded_at, idempotency_key, reference, description, actor_id, resource_type,
    resource_id, period_start, period_end, quantity, unit_price, corrects_seq)
WITH p (offer_hash, flavour_id, amount, quantity, unit_price, description, currency,
        stopped_billed, suspension_billed, after_end_billed) AS (VALUES {prices}),
     g (offer_hash, cause, billed) AS (VALUES {grounds})
SELECT v.contract_id, v.client_id, 'usage', p.amount, p.currency, :end, :now,
    'usage:vm:' || v.id || :suffix, '', p.description, NULL, 'vm', v.id,
    :start, :end, p.quantity, p.unit_price, NULL
FROM ({present}) v
JOIN billing_accounts a ON a.contract_id = v.contract_id
JOIN contracts c ON c.id = v.contract_id
JOIN p ON p.offer_hash = c.offer_hash AND p.flavour_id = v.flavour_id
LEFT JOIN g ON g.offer_hash = c.offer_hash AND g.cause = v.suspended_reason
WHERE v.id > :lo {upper}
  AND (c.ended_at IS NULL OR c.ended_at >= :end OR p.after_end_billed)
  AND (v.vm_state NOT IN ('stopped', 'suspended', 'error')
       OR (v.vm_state = 'stopped' AND p.stopped_billed)
       OR (v.vm_state = 'suspended' AND COALESCE(g.billed, p.suspension_billed)))
ON CONFLICT (idempotency_key) DO NOTHING"""

# The VMs a window holds, counted per contract, offer, flavour and state: enough to
# find flavours an offer does not price and each contract's cost per hour.
_CENSUS_SQL = """
SELECT v.contract_id, c.offer_hash, v.flavour_id, v.vm_state, v.suspended_reason, count(*)
FROM ({present}) v
JOIN billing_accounts a ON a.contract_id = v.contract_id
JOIN contracts c ON c.id = v.contract_id
WHERE c.offer_hash IN :hashes
  AND (c.ended_at IS NULL OR c.ended_at >= :end OR c.offer_hash IN :after_end)
GROUP BY v.contract_id, c.offer_hash, v.flavour_id, v.vm_state, v.suspended_reason"""


@dataclass(frozen=True)
class Price:
    """The entry of one flavour of one offer version for a whole window."""

    offer_hash: str
    rate: Rate
    amount: Decimal  # signed, rounded to the ledger
    quantity: Decimal
    description: str
    currency: str
    stopped_billed: bool
    suspension_billed: bool
    after_end_billed: bool = False


def bounds(session: Session, size: int) -> list[tuple[str, str | None]]:
    """Ranges ``(lo, hi]`` of VM ids holding about ``size`` VMs each (the last open)."""
    ids = reads.id_bounds(session, size)
    lows = ["", *ids]
    return [(lo, ids[i] if i < len(ids) else None) for i, lo in enumerate(lows)]


def insert_whole(
    session: Session,
    prices: Sequence[Price],
    grounds: dict[str, dict[str, bool]],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    suffix: str,
    lo: str,
    hi: str | None,
) -> int:
    """Write the entries of the VMs with ids in ``(lo, hi]`` present for the whole
    window ``[start, end)``; return how many were new."""
    if not prices:
        return 0
    params: list[Any] = []
    rows = []
    for i, price in enumerate(prices):
        names = [f"p{i}_{k}" for k in range(10)]
        rows.append("(" + ", ".join(f":{n}" for n in names) + ")")
        params += [
            bindparam(names[0], price.offer_hash, type_=String()),
            bindparam(names[1], price.rate.item_id, type_=String()),
            bindparam(names[2], price.amount, type_=LedgerAmount()),
            bindparam(names[3], price.quantity, type_=LedgerAmount()),
            bindparam(names[4], price.rate.price, type_=LedgerAmount()),
            bindparam(names[5], price.description, type_=String()),
            bindparam(names[6], price.currency, type_=String()),
            bindparam(names[7], price.stopped_billed, type_=Boolean()),
            bindparam(names[8], price.suspension_billed, type_=Boolean()),
            bindparam(names[9], price.after_end_billed, type_=Boolean()),
        ]
    ground_rows = []
    flat = [(h, cause, billed) for h, causes in grounds.items() for cause, billed in causes.items()]
    for i, (offer_hash, cause, billed) in enumerate(flat or [("", "", False)]):
        names = [f"g{i}_{k}" for k in range(3)]
        ground_rows.append("(" + ", ".join(f":{n}" for n in names) + ")")
        params += [
            bindparam(names[0], offer_hash, type_=String()),
            bindparam(names[1], cause, type_=String()),
            bindparam(names[2], billed, type_=Boolean()),
        ]
    sql = _WHOLE_SQL.format(
        present=reads.PRESENT_FOR_WINDOW_SQL,
        prices=", ".join(rows),
        grounds=", ".join(ground_rows),
        upper="AND v.id <= :hi" if hi is not None else "",
    )
    params += [
        bindparam("start", start, type_=UTCDateTime()),
        bindparam("end", end, type_=UTCDateTime()),
        bindparam("now", now, type_=UTCDateTime()),
        bindparam("suffix", ":" + suffix, type_=String()),
        bindparam("lo", lo, type_=String()),
    ]
    if hi is not None:
        params.append(bindparam("hi", hi, type_=String()))
    result = session.execute(text(sql).bindparams(*params))
    return int(result.rowcount)  # type: ignore[attr-defined]


def census(
    session: Session,
    hashes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    after_end: Sequence[str] = (),
) -> list[tuple[str, str, str, str, str | None, int]]:
    """(contract, offer version, flavour, state, suspension reason, count) of the VMs
    present for the whole window and still billed in it: a contract ended before the
    window's end counts only if its offer bills after the end (``after_end``)."""
    stmt = text(_CENSUS_SQL.format(present=reads.PRESENT_FOR_WINDOW_SQL)).bindparams(
        bindparam("hashes", list(hashes), expanding=True),
        bindparam("after_end", list(after_end) or [""], expanding=True),
        bindparam("start", start, type_=UTCDateTime()),
        bindparam("end", end, type_=UTCDateTime()),
    )
    return [tuple(row) for row in session.execute(stmt).all()]


def prices_for(
    pricing: dict[str, OfferPricing], hashes: Sequence[str], whole: Any
) -> tuple[list[Price], dict[str, dict[str, bool]]]:
    """The whole-window entry of every priced flavour of the offers ``hashes``, and the
    suspension grounds each offer bills or not; ``whole(offer_hash, rate)`` prices one."""
    prices = []
    grounds: dict[str, dict[str, bool]] = {}
    for offer_hash in hashes:
        p = pricing[offer_hash]
        grounds[offer_hash] = dict(p.suspension_billed)
        for rate in p.flavours.values():
            amount, quantity, description = whole(offer_hash, rate)
            if amount >= 0:
                continue  # a free flavour writes no entry
            prices.append(
                Price(
                    offer_hash=offer_hash,
                    rate=rate,
                    amount=amount,
                    quantity=quantity,
                    description=description,
                    currency=p.currency,
                    stopped_billed=p.prepaid.stopped_vms_billed,
                    suspension_billed=p.prepaid.suspension_billed,
                    after_end_billed=p.billed_after_end,
                )
            )
    return prices, grounds
