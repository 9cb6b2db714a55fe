"""The database `seqguard lint` binds rules against: an in-memory copy of the real one's
*structure* (every table's columns, no rows beyond the property options), with the
project's CSV lists loaded, so lint sees lists the cycle has not loaded yet and never
touches the real file's data. It is locked down like the cycle's rule connections (no
file or network access) from the start: lists load into it and rules are bound against
it. What it knows (columns, every enumeration's options) is its `Catalog`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from tasks.core.clock import utcnow
from tasks.core.columns import SOURCES, CustomColumn, pulled
from tasks.core.config import Config
from tasks.core.errors import StoreError
from tasks.db import sql, store
from tasks.db.arrow import registered
from tasks.model import add_text_column
from tasks.rules.engine import RULE_CONNECTION_CONFIG, define_macros
from tasks.rules.files import Problem
from tasks.rules.lists import load_lists, quote_identifier
from tasks.rules.project import Project
from tasks.rules.statements import first_line

# a property of one CRM object: (crm, object, property), as crm.property_options names it
Property = tuple[str, str, str]

# the crm.* columns that hold an enumeration property's internal value, and which
CRM_ENUM_COLUMNS: dict[tuple[str, str], tuple[Property, ...]] = {
    ("crm.people", "lifecycle_stage"): (("hubspot", "contacts", "lifecyclestage"),),
    ("crm.companies", "lifecycle_stage"): (("hubspot", "companies", "lifecyclestage"),),
    ("crm.opportunities", "stage"): (("hubspot", "deals", "dealstage"),
                                     ("salesforce", "Opportunity", "StageName")),
}


@dataclass
class PropertyOptions:
    """One enumeration property's (HubSpot) or picklist's (Salesforce) options."""

    name: str = ""  # object.property as the CRM spells it: contacts.lifecyclestage
    values: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # label -> internal value
    multi: bool = False


@dataclass
class Catalog:
    """What the dry run knows: table columns, every enumeration's options, and which CRM
    properties feed each column a rule may read (raw_* tables and crm.*)."""

    columns: dict[str, set[str]]
    base_columns: dict[str, set[str]]  # the columns the migrations define (not custom)
    options: dict[tuple[str, str, str], PropertyOptions]  # lower-case (crm, object, property)
    configured: dict[tuple[str, str], tuple[Property, ...]] = field(default_factory=dict)

    def enumerations(self, table: str, column: str) -> list[PropertyOptions]:
        """The enumerations whose values `table.column` holds (lower-case names): a raw
        table's own property, a crm.* column's sources, a configured column's feeds."""
        schema, _, name = table.partition(".")
        if schema in ("raw_hubspot", "raw_salesforce"):
            sources: tuple[Property, ...] = ((schema.removeprefix("raw_"), name, column),)
        elif (table, column) in CRM_ENUM_COLUMNS:
            sources = CRM_ENUM_COLUMNS[(table, column)]
        elif (table, column) in self.configured:
            sources = self.configured[(table, column)]
        elif column not in self.base_columns.get(table, set()) and name in SOURCES:
            # an extra column nobody configured here: named after its property
            sources = tuple((crm, obj, column) for crm, objects in SOURCES[name].items()
                            for obj in objects)
        else:
            return []
        found = (self.options.get(tuple(part.lower() for part in source)) for source in sources)
        return [options for options in found if options is not None]


@contextmanager
def dry_run_database(db_path: str | Path | None, project: Project, now: datetime | None = None,
                     config: Config | None = None,
                     ) -> Iterator[tuple[duckdb.DuckDBPyConnection, Catalog, list[Problem],
                                         list[str]]]:
    """An in-memory database with the real one's structure (or, while a cycle holds it,
    the copy the last cycle published), the columns seqguard.yml configures (so a column
    no cycle has built yet is known) and the project's lists."""
    notes: list[str] = []
    con = duckdb.connect(":memory:", config=RULE_CONNECTION_CONFIG)
    try:
        store.migrate(con)
        base = _columns(con)
        _add_configured(con, config)
        if db_path is not None and Path(db_path).exists():
            try:
                _copy_structure(con, Path(db_path))
            except (duckdb.Error, StoreError) as exc:
                notes.append(f"{db_path}: could not read the database ({first_line(exc)}); "
                             "checked against seqguard's schema and seqguard.yml's columns")
        list_problems = load_lists(con, project)
        define_macros(con, now or utcnow())
        yield (con, _catalog(con, base, config.custom_columns if config else ()),
               list_problems, notes)
    finally:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection, catalog: str = "memory") -> dict[str, set[str]]:
    rows = sql.fetch(con, "rules/lint_columns", catalog=catalog)
    return {name.lower(): {c.lower() for c in cols} for name, cols in rows}


def _add_configured(con: duckdb.DuckDBPyConnection, config: Config | None) -> None:
    """The crm.* columns seqguard.yml configures, and the raw columns its property lists
    make the sync add, as a cycle would create them."""
    if config is None:
        return
    for column in config.custom_columns:
        add_text_column(con, f"crm.{quote_identifier(column.table)}", column.name)
    have = _columns(con)
    for crm, lists in (("hubspot", config.hubspot.properties if config.hubspot else {}),
                       ("salesforce", config.salesforce.fields if config.salesforce else {})):
        for pulled_names in pulled(config.custom_columns, crm, lists):
            for obj, names in pulled_names.items():
                if f"raw_{crm}.{obj}".lower() not in have:
                    continue  # not an object seqguard syncs: the cycle's start-up says so
                for name in names:
                    add_text_column(con, f"{quote_identifier('raw_' + crm)}."
                                         f"{quote_identifier(obj)}", name)


def _copy_structure(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """Create every table and column of the real database (empty) in the memory one.

    The real file is read on a connection of its own, so the memory one never needs file
    access; its names are quoted, whatever they hold.
    """
    with store.connect_reader(db_path) as src:
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


def _catalog(con: duckdb.DuckDBPyConnection, base: dict[str, set[str]],
             columns: tuple[CustomColumn, ...]) -> Catalog:
    options: dict[tuple[str, str, str], PropertyOptions] = {}
    for crm, obj, prop, label, value, multi in sql.fetch(con, "rules/lint_options"):
        entry = options.setdefault((crm, obj.lower(), prop.lower()),
                                   PropertyOptions(name=f"{obj}.{prop}"))
        entry.values.append(value)
        entry.labels.setdefault(label, value)
        entry.multi = entry.multi or bool(multi)
    configured = {(f"crm.{c.table}", c.name): tuple(
        (crm, obj, c.field_of(crm) or "") for crm, objects in SOURCES[c.table].items()
        if c.field_of(crm) for obj in objects) for c in columns}
    return Catalog(_columns(con), base, options, configured)
