"""The one SQL runner: every statement seqguard runs lives in a `.sql` file of its own
`sql` package, named by its path without `.sql` (`decide/scope`), with what it reads in
a header comment (`-- inputs:` tables, `-- params:` values).

Values are bound as DuckDB named parameters (`$run_id`), never formatted into the text.
A file may hold several statements; each is bound with the parameters DuckDB's parser
finds in it, and a call that passes one the file never uses is refused, naming the file.
A few files are templates: identifiers only the caller knows (a raw table's columns, the
tables a match store uses) fill `{placeholders}`, and the caller has checked or quoted
each one (tasks/sync/snapshot.py `quote`); a literal brace is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import duckdb
import pyarrow as pa

from tasks.core.resources import OWN_SQL


@dataclass(frozen=True)
class Query:
    """The statements of a named file, its template filled."""

    name: str
    text: str

    @property
    def statements(self) -> list[tuple[str, frozenset[str]]]:
        """Each statement and the parameters it names, as DuckDB parses them."""
        return _statements(self.text)


@lru_cache(maxsize=512)
def _statements(text: str) -> list[tuple[str, frozenset[str]]]:
    return [(s.query, frozenset(s.named_parameters)) for s in duckdb.extract_statements(text)]


@cache
def text(name: str) -> str:
    """The statements of `sql/<name>.sql` without the file's header comment, so a
    template's first line is the statement's line 1."""
    lines = (OWN_SQL / f"{name}.sql").read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines)
                  if line.strip() and not line.lstrip().startswith("--")), len(lines))
    return "".join(lines[start:])


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


def _execute(con: duckdb.DuckDBPyConnection, statement: str | Query,
             params: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """Each statement of a file (by name) or a filled template, bound with the parameters
    it names; the cursor holds the last one's result."""
    found = _query(statement)
    parts = found.statements
    unused = set(params).difference(*(names for _, names in parts))
    if unused:
        raise TypeError(f"sql/{found.name}.sql uses no parameter {', '.join(sorted(unused))}")
    cursor = con
    for text_, names in parts:
        cursor = con.execute(text_, {k: params[k] for k in names if k in params} or None)
    return cursor


def run(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> None:
    """Run a file's statements for their effect (writes, temp tables), reading what they
    answer to the end: DuckDB refuses some work (registering an Arrow table) on a
    connection with an unfinished result."""
    _execute(con, statement, params).fetchall()


def run_many(con: duckdb.DuckDBPyConnection, statement: str | Query,
                 rows: list[dict[str, Any]]) -> None:
    """Run a one-statement file once per row of named parameters (a handful of rows;
    bulk data goes through Arrow, tasks/db/arrow.py)."""
    if rows:
        con.executemany(_query(statement).text, rows)


def fetch(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> list[tuple]:
    """Every row, read to the end (DuckDB refuses some work, such as registering an Arrow
    table, on a connection with an unfinished result)."""
    return _execute(con, statement, params).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> Any:
    """The first column of the first row, or None."""
    found = fetch(con, statement, **params)
    return found[0][0] if found else None


def dicts(con: duckdb.DuckDBPyConnection, statement: str | Query,
          **params: Any) -> list[dict[str, Any]]:
    """A small result as dicts (reports and messages, never bulk data)."""
    return as_dicts(_execute(con, statement, params))


def as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """A cursor's rows as dicts, by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def arrow(con: duckdb.DuckDBPyConnection, statement: str | Query, **params: Any) -> pa.Table:
    """The result as an Arrow table."""
    return con.sql(_query(statement).text, params=params or None).to_arrow_table()


def insert(con: duckdb.DuckDBPyConnection, table: str, statement: str | Query,
           **params: Any) -> None:
    """`insert into <table> by name <statement>`. `table` is a name of the caller's."""
    found = _query(statement)
    run(con, Query(found.name, f"insert into {table} by name {found.text}"), **params)


def materialize(con: duckdb.DuckDBPyConnection, table: str, statement: str | Query,
                **params: Any) -> None:
    """`create or replace temp table <table> as <statement>`: later statements read it.
    `table` is a name of the caller's, never user input."""
    found = _query(statement)
    run(con, Query(found.name, f"create or replace temp table {table} as {found.text}"), **params)
