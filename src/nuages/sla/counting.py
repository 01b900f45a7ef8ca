"""The monthly job's counting path: the set work of 002 §6 in SQL (issue 22 benchmark).

The pure calculator (``nuages.terms.calc.sla.counted_unavailability``) merges a VM's
outages, drops the excusable ones and those shorter than the offer's minimum, and keeps
the part inside the month's coverage window. Run per VM in Python it costs about a
millisecond; the monthly reports of 50,000 VMs cannot afford it. Here one statement per
batch and offer does the same work for every VM at once:

1. the month's coverage intervals are computed once per offer in Python (002 §6: the
   ~20 working days' 08:00–18:00 in the contract's zone, DST and holidays included; 24/7
   offers: the month itself) and sent as a ``VALUES`` list;
2. the VMs' outage rows (reconciliation's ``vm_outages`` with the cause staff
   reclassified them to, and staff incidents; an open one running until now or the
   month's end), less the excusable causes, are merged per
   VM with window functions (gaps and islands: a row starts a new island when every
   earlier row of that VM ended before it; touching rows merge, as ``merge_intervals``);
3. each island is intersected with the coverage intervals.

The statement returns each island with its covered pieces; Python keeps the islands long
enough (``minimum_outage``, judged on the whole incident as the calculator does), takes
out the few spans that suspend the count for a VM (maintenance announced in time, a
negative prepaid balance 000 §5, the 002 §4 probation) and adds up the microseconds,
exactly as ``interval_minutes``. Results equal the calculator's:
``tests/sla/test_counting.py`` runs both on varied months on both databases.
"""

from __future__ import annotations

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

_PIECES = """
WITH cov(cs, ce) AS (VALUES {values}),
{rows},
kept AS (
    SELECT v, s, e FROM o
    WHERE e > s AND (c IS NULL OR c NOT IN :excused OR (r = 0 AND c NOT IN :declared_excused))
),
ordered AS (
    SELECT v, s, e, MAX(e) OVER (
        PARTITION BY v ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS pe
    FROM kept
),
marked AS (
    SELECT v, s, e, SUM(CASE WHEN pe IS NULL OR pe < s THEN 1 ELSE 0 END) OVER (
        PARTITION BY v ORDER BY s, e ROWS UNBOUNDED PRECEDING
    ) AS g
    FROM ordered
),
islands AS (SELECT v, MIN(s) AS s, MAX(e) AS e FROM marked GROUP BY v, g)
SELECT i.v AS v, i.s AS s, i.e AS e, {greatest}(i.s, c.cs) AS ps, {least}(i.e, c.ce) AS pe
FROM islands i JOIN cov c ON c.cs < i.e AND c.ce > i.s
"""

_ANY = "WITH {rows} SELECT DISTINCT v FROM o WHERE e > s"
_MICRO = dt.timedelta(microseconds=1)
_MICROS_PER_MINUTE = Decimal(60_000_000)


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
    """One batch's counted pieces per VM for one offer and month."""

    def __init__(self, offer: Offer, year: int, month: int) -> None:
        self.offer = offer
        self.year, self.month = year, month
        self.calendar = apply.calendar_for(offer)
        self.policy = apply.sla_policy(offer)
        self.start, self.end = self.calendar.month_bounds(year, month)
        self.coverage = self.calendar.covered_intervals(self.policy.coverage, self.start, self.end)
        self.coverage_minutes = interval_minutes(self.coverage)
        # Per VM: the covered pieces of its merged, long enough, non-excusable outages.
        self.pieces: dict[str, list[Interval]] = defaultdict(list)
        # Every VM with an outage row in the month, excusable ones included.
        self.any_outage: set[str] = set()

    def load(self, session: Session, contract_ids: Sequence[str], until: dt.datetime) -> None:
        """Run the two statements for ``contract_ids`` (one offer's contracts)."""
        if not contract_ids:
            return
        dialect = session.get_bind().dialect.name
        stamp = UTCDateTime()
        postgres = dialect == "postgresql"
        params: dict[str, object] = {
            "ids": ",".join(contract_ids) if postgres else list(contract_ids),
            "until": until,
            "mstart": self.start,
            "mend": self.end,
        }
        binds: list[BindParameter[Any]] = [
            bindparam("ids", type_=String())
            if postgres
            else bindparam("ids", expanding=True, type_=String()),
            bindparam("until", type_=stamp),
            bindparam("mstart", type_=stamp),
            bindparam("mend", type_=stamp),
        ]
        rows = _ROWS.format(ids="= ANY(string_to_array(:ids, ','))" if postgres else "IN :ids")
        any_sql = text(_ANY.format(rows=rows)).bindparams(*binds)
        self.any_outage.update(session.execute(any_sql, params).scalars().all())
        if not self.any_outage or not self.coverage:
            return
        # Recorded rows: the guest's own stop (002 §6 (ii)) and the offer's excusable
        # causes; declared and reclassified rows (r = 0): the offer's causes only.
        declared = sorted(self.policy.excusable_causes - {NOT_EXCUSABLE}) or [NOT_EXCUSABLE]
        params |= {"excused": sorted(self.policy.excusable_causes | CLIENT_ACT_CAUSES)}
        params |= {"declared_excused": declared}
        binds += [
            bindparam("excused", expanding=True, type_=String()),
            bindparam("declared_excused", expanding=True, type_=String()),
        ]
        cast = "CAST({} AS TIMESTAMP WITH TIME ZONE)" if dialect == "postgresql" else "{}"
        values = []
        for k, (s, e) in enumerate(self.coverage):
            params[f"cs{k}"], params[f"ce{k}"] = s, e
            binds += [bindparam(f"cs{k}", type_=stamp), bindparam(f"ce{k}", type_=stamp)]
            values.append(f"({cast.format(f':cs{k}')}, {cast.format(f':ce{k}')})")
        greatest, least = ("GREATEST", "LEAST") if dialect == "postgresql" else ("MAX", "MIN")
        sql = _PIECES.format(values=", ".join(values), rows=rows, greatest=greatest, least=least)
        stmt = (
            text(sql).bindparams(*binds).columns(v=String(), s=stamp, e=stamp, ps=stamp, pe=stamp)
        )
        shortest = self.policy.minimum_outage
        for v, s, e, ps, pe in session.execute(stmt, params).all():
            if e - s >= shortest:  # judged on the whole incident (counted_unavailability)
                self.pieces[v].append((ps, pe))

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
        pieces: list[Interval] = self.pieces.get(vm_id, [])
        holes = [*excluded, *suspended]
        if holes and pieces:
            pieces = subtract_intervals(pieces, holes)
        covered = self.coverage_minutes
        if excluded:
            covered = interval_minutes(subtract_intervals(self.coverage, excluded))
        # The pieces are disjoint (islands are, coverage intervals are): their lengths
        # add up without the merge ``interval_minutes`` does, to the same microsecond.
        total = sum((e - s for s, e in pieces), dt.timedelta(0))
        return Decimal(total // _MICRO) / _MICROS_PER_MINUTE, covered
