"""The monthly job's counting path: the set work of 002 §6 in one pass (issue 22 benchmark).

The pure calculator (``nuages.terms.calc.sla.counted_unavailability``) merges a VM's
outages, drops the excusable ones and those shorter than the offer's minimum, and keeps
the part inside the month's coverage window. Run per VM in Python it costs about a
millisecond; the monthly reports of 50,000 VMs cannot afford it. Here one statement per
offer (the monthly job: for the whole month; a batch of contracts: ``load``) reads every
VM's outage rows at once:

1. the VMs' outage rows (reconciliation's ``vm_outages`` with the cause staff
   reclassified them to, and staff incidents; an open one running until now or the
   month's end) come sorted by VM and start, as integer microseconds since the epoch,
   each marked counted or excusable;
2. one pass over those integers merges each VM's counted rows into islands (a row starts
   a new island when every earlier row of that VM ended before it; touching rows merge,
   as ``merge_intervals``; the window-function form of this in SQL cost three times the
   sorted read) and keeps the islands long enough (``minimum_outage``, judged on the
   whole incident as the calculator does);
3. each island is intersected with the month's coverage intervals, computed once per
   offer (002 §6: the ~20 working days' 08:00–18:00 in the contract's zone, DST and
   holidays included; 24/7 offers: the month itself).

``minutes`` takes out the few spans that suspend the count for a VM (maintenance
announced in time, a negative prepaid balance 000 §5, the 002 §4 probation) and adds up
the microseconds, exactly as ``interval_minutes``. Results equal the calculator's:
``tests/sla/test_counting.py`` runs both on varied months on both databases.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, String, any_, bindparam, func, literal, text
from sqlalchemy.orm import Session

from nuages.kernel.calendar import Interval, interval_minutes, subtract_intervals
from nuages.kernel.db import UTCDateTime
from nuages.sla.models import NOT_EXCUSABLE
from nuages.sla.outages import CLIENT_ACT_CAUSES
from nuages.terms import apply
from nuages.terms.schema import Offer

_ROWS = """
o AS (
    SELECT vo.vm_id AS v, vo."start" AS s, COALESCE(vo."end", :until) AS e,
        COALESCE(oc.cause, vo.cause) AS c, CASE WHEN oc.cause IS NULL THEN 1 ELSE 0 END AS r
    FROM vm_outages vo LEFT JOIN sla_outage_causes oc ON oc.outage_id = vo.id
    WHERE vo.contract_id {ids} AND vo."start" < :mend
        AND (vo."end" IS NULL OR vo."end" > :mstart)
    UNION ALL
    SELECT iv.vm_id, i."start", COALESCE(i."end", :until), i.cause, 0
    FROM sla_incident_vms iv JOIN sla_incidents i ON i.id = iv.incident_id
    WHERE iv.contract_id {ids} AND i."start" < :mend AND (i."end" IS NULL OR i."end" > :mstart)
)"""

# One statement: every outage row of the month with its span as microseconds since the
# epoch (integers: no timestamp to parse per row, exact as ``interval_minutes``) and
# whether it counts (k = 1; else excusable), in order for the merge.
_SPANS = """
WITH {rows}
SELECT v, {us_s} AS s, {us_e} AS e,
    CASE WHEN c IS NULL OR c NOT IN :excused OR (r = 0 AND c NOT IN :declared_excused)
        THEN 1 ELSE 0 END AS k
FROM o WHERE e > s ORDER BY v, s, e
"""

# Microseconds since the epoch of a timestamp column. PostgreSQL: EXTRACT(EPOCH) is an
# exact numeric (PostgreSQL 14+). SQLite stores UTCDateTime as text
# 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format, always six digits): the whole
# seconds of the first 19 characters (strftime would round the fraction to the
# millisecond) plus the digits after the point.
_US = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM {x}) * 1000000 AS BIGINT)",
    "sqlite": (
        "(CAST(strftime('%s', substr({x}, 1, 19)) AS INTEGER) * 1000000"
        " + CAST(substr(substr({x}, 21) || '000000', 1, 6) AS INTEGER))"
    ),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_MICROS_PER_MINUTE = Decimal(60_000_000)


def _instant(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def _micros(at: dt.datetime) -> int:
    return (at - _EPOCH) // _MICRO


def among(session: Session, column: Any, ids: Sequence[str]) -> ColumnElement[bool]:
    """``column IN ids`` for a batch of ids: on PostgreSQL one text parameter
    (``= ANY(string_to_array(:ids, ','))``), where 2,000 separate parameters cost ~0.1 s
    per statement to send, parse and plan; on SQLite the plain ``IN`` list (cheap)."""
    if session.get_bind().dialect.name == "postgresql":
        # One text parameter split by the server: ids are UUIDs (no comma); dumping a
        # 2,000-item array parameter costs the client more than the query.
        joined = func.string_to_array(literal(",".join(ids), String()), ",")
        return column == any_(joined)  # type: ignore[no-any-return]
    return column.in_(list(ids))  # type: ignore[no-any-return]


class MonthCount:
    """Counted pieces per VM for one offer and month: of a batch's contracts (``load``)
    or of every contract on the offer's versions (``load_offer``, the monthly job)."""

    def __init__(self, offer: Offer, year: int, month: int) -> None:
        self.offer = offer
        self.year, self.month = year, month
        self.calendar = apply.calendar_for(offer)
        self.policy = apply.sla_policy(offer)
        self.start, self.end = self.calendar.month_bounds(year, month)
        self.coverage = self.calendar.covered_intervals(self.policy.coverage, self.start, self.end)
        self.coverage_minutes = interval_minutes(self.coverage)
        # Per VM: the covered pieces (microseconds since the epoch) of its merged, long
        # enough, non-excusable outages.
        self.pieces: dict[str, list[tuple[int, int]]] = defaultdict(list)
        # Every VM with an outage row in the month, excusable ones included.
        self.any_outage: set[str] = set()

    def load(self, session: Session, contract_ids: Sequence[str], until: dt.datetime) -> None:
        """Count the VMs of ``contract_ids`` (one offer's contracts)."""
        if not contract_ids:
            return
        postgres = session.get_bind().dialect.name == "postgresql"
        ids = "= ANY(string_to_array(:ids, ','))" if postgres else "IN :ids"
        bind = bindparam("ids", type_=String(), expanding=not postgres)
        value: object = ",".join(contract_ids) if postgres else list(contract_ids)
        self._run(session, ids, {"ids": value}, [bind], until)

    def load_offer(
        self,
        session: Session,
        versions: Sequence[tuple[str, str]],
        until: dt.datetime,
        *,
        only: bool = False,
    ) -> None:
        """Count the VMs of every contract on ``versions`` ((offer id, content hash)
        pairs, all read as this offer): one statement for the month instead of one per
        batch of ids. ``only``: no other version is reported, so every outage row is
        read without a filter (the pieces of VMs on other terms are never looked up;
        the filter would cost as much as the rest of the statement)."""
        if not versions:
            return
        if only:
            self._run(session, "IS NOT NULL", {}, [], until)
            return
        params: dict[str, object] = {}
        binds: list[BindParameter[Any]] = []
        terms = []
        for k, (offer_id, content_hash) in enumerate(versions):
            params[f"oid{k}"], params[f"ohash{k}"] = offer_id, content_hash
            binds += [bindparam(f"oid{k}", type_=String()), bindparam(f"ohash{k}", type_=String())]
            terms.append(f"(k.offer_id = :oid{k} AND k.offer_hash = :ohash{k})")
        # Only bind names are formatted in: the values are parameters.
        ids = f"IN (SELECT k.id FROM contracts k WHERE {' OR '.join(terms)})"  # noqa: S608
        self._run(session, ids, params, binds, until)

    def _run(
        self,
        session: Session,
        ids: str,
        params: dict[str, object],
        binds: list[BindParameter[Any]],
        until: dt.datetime,
    ) -> None:
        dialect = session.get_bind().dialect.name
        stamp = UTCDateTime()
        params = params | {"until": until, "mstart": self.start, "mend": self.end}
        binds = [
            *binds,
            bindparam("until", type_=stamp),
            bindparam("mstart", type_=stamp),
            bindparam("mend", type_=stamp),
        ]
        # Recorded rows: the guest's own stop (002 §6 (ii)) and the offer's excusable
        # causes; declared and reclassified rows (r = 0): the offer's causes only.
        declared = sorted(self.policy.excusable_causes - {NOT_EXCUSABLE}) or [NOT_EXCUSABLE]
        params |= {"excused": sorted(self.policy.excusable_causes | CLIENT_ACT_CAUSES)}
        params |= {"declared_excused": declared}
        binds += [
            bindparam("excused", expanding=True, type_=String()),
            bindparam("declared_excused", expanding=True, type_=String()),
        ]
        us = _US[dialect].format
        sql = _SPANS.format(rows=_ROWS.format(ids=ids), us_s=us(x="s"), us_e=us(x="e"))
        self._merge(session.execute(text(sql).bindparams(*binds), params).all())

    def _merge(self, rows: Sequence[Any]) -> None:
        """Islands of each VM's counted rows (sorted by VM, start, end): a row starts a new
        island when every earlier row of that VM ended before it; touching rows merge, as
        ``merge_intervals``. An island long enough (``minimum_outage``, judged on the
        whole incident as ``counted_unavailability``) keeps its covered pieces."""
        shortest = self.policy.minimum_outage // _MICRO
        coverage = sorted((_micros(s), _micros(e)) for s, e in self.coverage)
        ends = [e for _, e in coverage]
        pieces, seen = self.pieces, self.any_outage

        def keep(v: str, s: int, e: int) -> None:
            if e - s < shortest:
                return
            k = bisect.bisect_right(ends, s)  # the first coverage interval ending after s
            while k < len(coverage) and coverage[k][0] < e:
                cs, ce = coverage[k]
                pieces[v].append((max(s, cs), min(e, ce)))
                k += 1

        island: tuple[str, int, int] | None = None
        for v, s, e, counts in rows:
            seen.add(v)
            if not counts:
                continue
            if island is not None and island[0] == v and s <= island[2]:
                if e > island[2]:
                    island = (v, island[1], e)
                continue
            if island is not None:
                keep(*island)
            island = (v, s, e)
        if island is not None:
            keep(*island)

    def minutes(
        self,
        vm_id: str,
        *,
        excluded: Sequence[Interval] = (),
        suspended: Sequence[Interval] = (),
    ) -> tuple[Decimal, Decimal]:
        """(counted minutes, coverage minutes) of ``vm_id``: ``excluded`` maintenance
        leaves both the count and the coverage (002 §6); ``suspended`` spans (000 §5
        negative balance, 002 §4 probation) leave the count only."""
        pieces = self.pieces.get(vm_id, [])
        if not excluded and not suspended:  # most VMs: nothing to take out
            return Decimal(
                sum(e - s for s, e in pieces)
            ) / _MICROS_PER_MINUTE, self.coverage_minutes
        holes = [*excluded, *suspended]
        covered = self.coverage_minutes
        if excluded:
            covered = interval_minutes(subtract_intervals(self.coverage, excluded))
        # The pieces are disjoint (islands are, coverage intervals are): their lengths
        # add up without the merge ``interval_minutes`` does, to the same microsecond.
        if holes and pieces:
            left = subtract_intervals([(_instant(s), _instant(e)) for s, e in pieces], holes)
            total = sum((_micros(e) - _micros(s) for s, e in left), 0)
        else:
            total = sum(e - s for s, e in pieces)
        return Decimal(total) / _MICROS_PER_MINUTE, covered
