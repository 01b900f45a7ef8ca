"""Writing a monthly run's batch of rows (issue 22 benchmark): 10,000 reports in one
statement, in the session's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nuages.kernel.db import Base

_PG_TYPES = {"VARCHAR": "text", "TEXT": "text", "INTEGER": "int4", "NUMERIC": "numeric"}
_PG_TYPES |= {"BOOLEAN": "bool", "TIMESTAMP WITH TIME ZONE": "timestamptz"}


def insert_many(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert a batch's rows (each with every column) in the session's transaction: on
    PostgreSQL by ``COPY`` with the columns' types stated once (10,000 reports in one
    stream; the driver's executemany sends one statement per row), elsewhere by the
    driver's executemany of values each column's type converted (a Core executemany
    spends more on each row's parameters than SQLite on the insert)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    raw: Any = connection.connection.driver_connection  # the same transaction
    found = Base.metadata.tables[table]
    if dialect.name == "postgresql":
        types = [_PG_TYPES[found.c[c].type.compile(dialect).split("(")[0]] for c in columns]
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return
    convert = [found.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    values = []
    for row in rows:
        given = [row[c] for c in columns]
        values.append(tuple(v if f is None else f(v) for f, v in zip(convert, given, strict=True)))
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608
