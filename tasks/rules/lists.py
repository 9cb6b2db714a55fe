"""CSV lists (`sql/exclusions/lists/<name>.csv`), loaded as tables `lists.<name>`.

A list is hostile input like every user file. Its name must be a plain lower-case name
before it comes near SQL (and it is quoted even then); its bytes are read by Python
(tasks/core/user_files.py: inside the project, a regular file, UTF-8) and reach DuckDB only as
an Arrow table, on a connection with file and network access off, so no cell and no name
can become a statement. A broken list fails alone: its table is dropped, so only the rules
that read it fail (closed). An error names the file, line and column, never a cell.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv

from tasks.core.user_files import UserFileError, read_text
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.rules.files import EMAIL_PATTERN, NAME_PATTERN, Problem, user_roots
from tasks.rules.project import ListFile, Project

LIST_COLUMNS = ("email", "company_domain", "company_name", "reason")
KEY_COLUMNS = ("email", "company_domain")


def quote_identifier(name: str) -> str:
    """A name as a DuckDB identifier that stays one name whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def read_list(list_file: ListFile, root: Path) -> tuple[pa.Table, str]:
    """The list's rows as text columns (all four, absent ones null) plus each row's index,
    and the file's text (for line numbers); raises UserFileError when it cannot be used."""
    display = list_file.display
    text = read_text(list_file.path, display, user_roots(root), max_bytes=None)
    columns = _header(text, display)
    bad: list[Any] = []

    def on_bad_row(row: Any) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text.encode()),
            read_options=pa_csv.ReadOptions(use_threads=False, column_names=columns,
                                            skip_rows=1),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_bad_row),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in columns}, strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        # pyarrow's message quotes the row; only say what to do
        raise UserFileError(display, 1, "is not a readable CSV (a quote left open, or a row "
                                        "over 1 MB?); save it as UTF-8 comma-separated text "
                                        "with a header row") from None
    if bad:
        row = bad[0]
        raise UserFileError(display, row.number or 1,
                            f"the row has {row.actual_columns} fields and the header "
                            f"{row.expected_columns}; quote values that contain commas")
    n = table.num_rows
    full = pa.table({c: table.column(c) if c in columns else pa.nulls(n, pa.string())
                     for c in LIST_COLUMNS})
    return full.append_column("row_index", pa.array(range(n), pa.int64())), text


def _header(text: str, display: str) -> list[str]:
    """The header's column names, each one of LIST_COLUMNS and none twice."""
    try:
        columns = [c.strip() for c in next(csv.reader(io.StringIO(text)), [])]
    except csv.Error:
        columns = []
    if not columns:
        raise UserFileError(display, 1, "has no header row; the first line names the columns: "
                                        "email and/or company_domain, optionally company_name "
                                        "and reason")
    for i, column in enumerate(columns, start=1):
        if column not in LIST_COLUMNS:
            raise UserFileError(display, 1, f"column {i} of the header is not a list column; "
                                            "name the columns email and/or company_domain, "
                                            "optionally company_name and reason")
        if columns.index(column) + 1 != i:
            raise UserFileError(display, 1, f"columns {columns.index(column) + 1} and {i} of "
                                            "the header have the same name; keep one")
    if not set(KEY_COLUMNS) & set(columns):
        raise UserFileError(display, 1, "the header has neither email nor company_domain; a "
                                        "list names people (email) or companies "
                                        "(company_domain)")
    return columns


def _row_line(text: str, row_index: int) -> int:
    """The file line of the row_index-th data row (blank lines skipped, as the reader does).

    Only called on the error path, so the scan never runs for a good list.
    """
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if number == 1 or not line.strip():
            continue
        seen += 1
        if seen == row_index:
            return number
    return 1


def load_list(con: duckdb.DuckDBPyConnection, list_file: ListFile, root: Path) -> int:
    """Replace table lists.<name> with the CSV's normalized rows; returns the row count."""
    if not NAME_PATTERN.match(list_file.name):
        raise UserFileError(list_file.display, 1, "the file name cannot be a table name; "
                                                  "rename it to lower-case letters, digits and "
                                                  "_ (e.g. do_not_contact.csv)")
    batch, text = read_list(list_file, root)
    try:
        with registered(con, list_batch=batch):
            sql.materialize(con, "list_rows", "lists/normalize")
        bad = sql.fetch(con, "lists/first_bad_row", email=EMAIL_PATTERN.pattern[1:-1])
        if bad:
            raise UserFileError(list_file.display, _row_line(text, bad[0][0]), bad[0][1])
        sql.run(con, sql.query("lists/replace",
                                   table=f"lists.{quote_identifier(list_file.name)}"))
        return con.execute("select count(*) from list_rows").fetchall()[0][0]
    finally:
        con.execute("drop table if exists list_rows")


def load_lists(con: duckdb.DuckDBPyConnection, project: Project) -> list[Problem]:
    """Load every list CSV (and drop tables whose file is gone); returns the broken ones.

    `con` must have external access off (engine.RULE_CONNECTION_CONFIG). A broken list's
    table is dropped rather than left stale, so the rules that read it fail (closed)
    instead of running on yesterday's list.
    """
    if con.execute("select current_setting('enable_external_access')").fetchall()[0][0]:
        raise RuntimeError("lists load only on a connection with external access off; open "
                           "it with engine.RULE_CONNECTION_CONFIG")
    problems: list[Problem] = []
    current = {f.name for f in project.lists}
    existing = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'lists' and not temporary"
    ).fetchall()}
    for stale in sorted(existing - current):
        con.execute(f"drop table lists.{quote_identifier(stale)}")
    for list_file in project.lists:
        try:
            load_list(con, list_file, project.root)
        except UserFileError as exc:
            con.execute(f"drop table if exists lists.{quote_identifier(list_file.name)}")
            problems.append(Problem(exc.display, exc.line, exc.message))
    return problems
