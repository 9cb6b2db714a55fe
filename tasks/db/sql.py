"""The one SQL runner: every statement seqguard runs lives in a `.sql` file of its own
`sql` package, named by its path without `.sql` (`decide/scope`), with what it reads in
a header comment (`-- inputs:` tables, `-- params:` values).

Values are bound as DuckDB named parameters (`$run_id`), never formatted into the text;
a call passes exactly the parameters its file uses (DuckDB refuses one more or one less).
A few files are templates: identifiers only the caller knows (a raw table's columns, the
tables a match store uses) fill `{placeholders}`, and the caller has checked or quoted
each one (tasks/sync/snapshot.py `quote`); a literal brace is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa

from tasks.core.resources import OWN_SQL


@dataclass(frozen=True)
class Query:
    """A statement of a named file, its template filled."""

    name: str
    text: str


@cache
def text(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (OWN_SQL / f"{name}.sql").read_text()


def query(name: str, **parts: str) -> Query:
    """The statement of `sql/<name>.sql`; `parts` fill a template's {placeholders}."""
    return Query(name, text(name).format(**parts) if parts else text(name))


def numbered(folder: str) -> list[tuple[str, str]]:
    """(file name, text) of every `NNN_*.sql` in `sql/<folder>/`, in number order: the
    migrations (schema/) and the model's tables (model/)."""
    return [(p.name, text(f"{folder}/{p.stem}"))
            for p in sorted((OWN_SQL / folder).glob("[0-9][0-9][0-9]_*.sql"))]


def _query(statement: str | Query) -> Query:
    return statement if isinstance(statement, Query) else query(statement)


def execute(con: duckdb.DuckDBPyConnection, statement: str | Query,
            **params: Any) -> duckdb.DuckDBPyConnection:
    """Run a file (by name) or a filled template with its named parameters."""
    return con.execute(_query(statement).text, params or None)


def fetch(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> list[tuple]:
    """Every row, read to the end (DuckDB refuses some work, such as registering an Arrow
    table, on a connection with an unfinished result)."""
    return execute(con, statement, **params).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> Any:
    """The first column of the first row, or None."""
    found = fetch(con, statement, **params)
    return found[0][0] if found else None


def dicts(con: duckdb.DuckDBPyConnection, statement: str | Query,
          **params: Any) -> list[dict[str, Any]]:
    """A small result as dicts (reports and messages, never bulk data)."""
    cursor = execute(con, statement, **params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def arrow(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> pa.Table:
    """The result as an Arrow table."""
    return con.sql(_query(statement).text, params=params or None).to_arrow_table()


def materialize(con: duckdb.DuckDBPyConnection, table: str, statement: str | Query,
                **params: Any) -> None:
    """`create or replace temp table <table> as <statement>`: later statements read it.
    `table` is a name of the caller's, never user input."""
    con.execute(f"create or replace temp table {table} as {_query(statement).text}",
                params or None)
