"""Checks of a SELECT before it runs, with DuckDB's own parser: exactly one SELECT (no
second statement, write, COPY or setting), where its problems are (file lines), and the
statement without its final `;` so it can be nested. Rules, play audiences, lint, explain
and preview all go through here."""

from __future__ import annotations

import re
from functools import lru_cache

import duckdb
import sqlglot
from sqlglot.tokens import TokenType


@lru_cache(maxsize=1024)
def statement_problem(sql: str) -> tuple[int, str] | None:
    """(line, message) when `sql` is not exactly one SELECT, using DuckDB's own parser.

    This is the check the cycle relies on before running a file: a second statement, a
    write or a COPY never reaches the database, whatever lint said.
    """
    if not sql.strip():
        return None
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return duckdb_line(str(exc)), f"does not parse: {first_line(exc)}; fix the SQL syntax"
    statements = [s for s in statements if s.query.strip().rstrip(";").strip()]
    if not statements:
        return 1, "no SELECT; write the query that returns the people or companies to exclude"
    if len(statements) > 1:
        return (_line_of(sql, statements[1].query, after=statements[0].query),
                "a second statement; a rule is exactly one SELECT, remove everything after "
                "the first `;`")
    kind = statements[0].type.name
    if kind != "SELECT":
        return 1, (f"is a {kind} statement, not a SELECT; rules only read "
                   "(no insert, update, create, copy or settings)")
    if re.match(r"^\s*(describe|show|summarize)\b", _strip_comments(sql), re.IGNORECASE):
        return 1, "is not a SELECT; start the query with select, with or from"
    return None


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _line_of(sql: str, fragment: str, after: str = "") -> int:
    """The 1-based line where `fragment` (a statement DuckDB split off) starts in `sql`,
    looking past the statement `after` it (the two may read the same)."""
    start = sql.find(after.strip()) + len(after.strip()) if after.strip() else 0
    stripped = fragment.lstrip()
    pos = sql.find(stripped, max(start, 0)) if stripped else -1
    return sql.count("\n", 0, pos) + 1 if pos >= 0 else 1


def duckdb_line(message: str) -> int:
    match = re.search(r"LINE (\d+):", message)
    return int(match.group(1)) if match else 1


@lru_cache(maxsize=1024)
def strip_semicolon(sql: str) -> str:
    """The SELECT without its final `;` (and anything after it), so it can be nested."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return sql
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        return sql[: tokens[-1].start]
    return sql


def first_line(exc: BaseException | str) -> str:
    """The first line of an error message (DuckDB adds context lines below it)."""
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if isinstance(exc, BaseException) else ""
