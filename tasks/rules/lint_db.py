"""The database `seqguard lint` binds rules against: an in-memory copy of the real one's
*structure* (every table's columns, no rows beyond the property options), with the
project's CSV lists loaded, so lint sees lists the cycle has not loaded yet and never
touches the real file's data. It is locked down like the cycle's rule connections (no
file or network access) from the start: lists load into it and rules are bound against
it. What it knows (columns, HubSpot enumeration options) is its `Catalog`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from tasks.core.clock import utcnow
from tasks.core.errors import StoreError
from tasks.db import sql, store
from tasks.db.arrow import registered
from tasks.rules.engine import RULE_CONNECTION_CONFIG, define_macros
from tasks.rules.files import Problem
from tasks.rules.lists import load_lists, quote_identifier
from tasks.rules.project import Project
from tasks.rules.statements import first_line


@dataclass
class PropertyOptions:
    """One HubSpot enumeration property's options."""

    values: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # label -> internal value
    multi: bool = False


@dataclass
class Catalog:
    """What the dry run knows: table columns and HubSpot enumeration options."""

    columns: dict[str, set[str]]
    base_columns: dict[str, set[str]]  # the columns the migrations define (not custom)
    options: dict[tuple[str, str], PropertyOptions]
    salesforce_stages: set[str]


@contextmanager
def dry_run_database(db_path: str | Path | None, project: Project, now: datetime | None = None
                     ) -> Iterator[tuple[duckdb.DuckDBPyConnection, Catalog, list[Problem],
                                         list[str]]]:
    """An in-memory database with the real one's structure and the project's lists."""
    notes: list[str] = []
    con = duckdb.connect(":memory:", config=RULE_CONNECTION_CONFIG)
    try:
        store.migrate(con)
        base = _columns(con)
        if db_path is not None and Path(db_path).exists():
            try:
                _copy_structure(con, Path(db_path))
            except (duckdb.Error, StoreError) as exc:
                notes.append(f"{db_path}: could not read the database ({first_line(exc)}); "
                             "checked against seqguard's own schema only")
        list_problems = load_lists(con, project)
        define_macros(con, now or utcnow())
        yield con, _catalog(con, base), list_problems, notes
    finally:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection, catalog: str = "memory") -> dict[str, set[str]]:
    rows = sql.fetch(con, "rules/lint_columns", catalog=catalog)
    return {name.lower(): {c.lower() for c in cols} for name, cols in rows}


def _copy_structure(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """Create every table and column of the real database (empty) in the memory one.

    The real file is read on a connection of its own, so the memory one never needs file
    access; its names are quoted, whatever they hold.
    """
    with store.connect(db_path, read_only=True) as src:
        rows = sql.fetch(src, "rules/lint_structure")
        has_options = any(r[:2] == ("crm", "property_options") for r in rows)
        options = (src.sql("select * from crm.property_options").to_arrow_table()
                   if has_options else None)
    have = _columns(con)
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault((schema, table), []).append((column, data_type))
    for (schema, table), columns in tables.items():
        name = f"{quote_identifier(schema)}.{quote_identifier(table)}"
        existing = have.get(f"{schema}.{table}".lower())
        if existing is None:
            con.execute(f"create schema if not exists {quote_identifier(schema)}")
            cols = ", ".join(f"{quote_identifier(c)} {t}" for c, t in columns)
            con.execute(f"create table {name} ({cols})")
        else:
            for column, data_type in columns:
                added = f"{quote_identifier(column)} {data_type}"
                if column.lower() not in existing:
                    con.execute(f"alter table {name} add column {added}")
    if options is not None:
        with registered(con, source_property_options=options):
            sql.run(con, "rules/lint_copy_options")


def _catalog(con: duckdb.DuckDBPyConnection, base: dict[str, set[str]]) -> Catalog:
    options: dict[tuple[str, str], PropertyOptions] = {}
    rows = sql.fetch(con, "rules/lint_options")
    for obj, prop, label, value, multi in rows:
        entry = options.setdefault((obj, prop), PropertyOptions())
        entry.values.append(value)
        entry.labels.setdefault(label, value)
        entry.multi = entry.multi or bool(multi)
    stages = {r[0] for r in sql.fetch(con, "rules/lint_stages")}
    return Catalog(_columns(con), base, options, stages)
