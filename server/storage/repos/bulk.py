"""Many rows in one statement, with a statement text that does not depend on the count.

SQLite receives the rows as one JSON array expanded by ``json_each``; PostgreSQL as one
array per column expanded by ``unnest``. Either way a batch of five hundred rows costs
one round trip, and the statement is prepared once. Values must be JSON-representable
(text, integers, booleans, NULL); binary columns are filled by separate updates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from server.storage.database import Connection, Row

Column = tuple[str, str]  # (name, PostgreSQL array element type, e.g. "text", "bigint")


def _select_list(columns: Sequence[Column], postgres: bool) -> str:
    if postgres:
        arrays = ", ".join(f"${i + 1}::{pg_type}[]" for i, (_, pg_type) in enumerate(columns))
        return f"SELECT * FROM unnest({arrays})"
    extracts = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
    # "WHERE true" keeps SQLite from reading a following ON CONFLICT as a join clause.
    return f"SELECT {extracts} FROM json_each($1) WHERE true"


def rows_parameters(
    columns: Sequence[Column], rows: Sequence[Sequence[object]], postgres: bool
) -> list[object]:
    if postgres:
        return [[row[i] for row in rows] for i in range(len(columns))]
    return [json.dumps(rows, check_circular=False)]  # tuples encode as arrays


async def bulk_insert(
    conn: Connection,
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
    *,
    suffix: str = "",
) -> list[Row]:
    """Insert ``rows``; ``suffix`` may add ``ON CONFLICT ...`` and/or ``RETURNING ...``."""
    if not rows:
        return []
    postgres = conn.dialect.is_postgres
    names = ", ".join(name for name, _ in columns)
    sql = f"INSERT INTO {table} ({names}) {_select_list(columns, postgres)} {suffix}"
    return await conn.fetch(sql, *rows_parameters(columns, rows, postgres))


def values_table(columns: Sequence[Column], postgres: bool) -> str:
    """The parameter rows as a derived table ``v`` with the columns' names."""
    names = [name for name, _ in columns]
    if postgres:
        arrays = ", ".join(f"${i + 1}::{pg_type}[]" for i, (_, pg_type) in enumerate(columns))
        return f"(SELECT * FROM unnest({arrays}) AS x({', '.join(names)})) AS v"
    extracts = ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(names))
    return f"(SELECT {extracts} FROM json_each($1)) AS v"


async def bulk_update(
    conn: Connection,
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
    *,
    assignments: str,
    condition: str,
    returning: str,
) -> list[Row]:
    """``UPDATE table SET assignments FROM <rows as v> WHERE condition RETURNING ...``.

    With the compare-and-swap in ``condition`` (e.g. ``table.version = v.version``), the
    returned rows are exactly those that were changed.
    """
    if not rows:
        return []
    postgres = conn.dialect.is_postgres
    sql = (
        f"UPDATE {table} SET {assignments} FROM {values_table(columns, postgres)}"
        f" WHERE {condition} RETURNING {returning}"
    )
    return await conn.fetch(sql, *rows_parameters(columns, rows, postgres))
