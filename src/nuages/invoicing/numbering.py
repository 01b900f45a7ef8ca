"""Gapless, sequential numbering of invoices and credit notes, per series and year.

A number is taken in the same transaction that writes the document: the sequence row
is incremented with ``UPDATE … RETURNING``, which holds the row lock (PostgreSQL) or
the database write lock (SQLite, ``BEGIN IMMEDIATE``) until commit. Two concurrent runs
therefore queue on the row; a transaction that rolls back (or a process killed
mid-run) gives its number back with everything else, so numbers never skip nor repeat.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nuages.invoicing.models import InvoiceSequence


def format_number(series: str, year: int, seq_no: int) -> str:
    """The printed number: ``F-2026-000042`` (series, year of issue, six digits)."""
    return f"{series}-{year}-{seq_no:06d}"


def take_number(session: Session, series: str, year: int) -> int:
    """The next number of ``series`` in ``year``, reserved until the caller's
    transaction ends (committed: used; rolled back: free again)."""
    # The year's row exists for every document but its year's first: increment it at
    # once, and create it only when the UPDATE found none (one statement per document
    # instead of two). A concurrent creator wins harmlessly (ON CONFLICT DO NOTHING),
    # then both queue on the UPDATE.
    number = _increment(session, series, year)
    if number is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(InvoiceSequence)
            .values(series=series, year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["series", "year"])
        )
        number = _increment(session, series, year)
        assert number is not None
    return number


# Built once: every document of a run takes a number. Core, on the transaction's
# connection: no ORM object is kept in step with it (the row is never loaded as one in
# the act taking a number), and the ORM's execution path cost as much as the UPDATE.
_SEQUENCES: Table = InvoiceSequence.__table__  # type: ignore[assignment]
_INCREMENT = (
    update(_SEQUENCES)
    .where(_SEQUENCES.c.series == bindparam("b_series"), _SEQUENCES.c.year == bindparam("b_year"))
    .values(last_number=_SEQUENCES.c.last_number + 1)
    .returning(_SEQUENCES.c.last_number)
)


def _increment(session: Session, series: str, year: int) -> int | None:
    found = session.connection().execute(_INCREMENT, {"b_series": series, "b_year": year})
    number = found.scalar_one_or_none()
    return None if number is None else int(number)
