"""The model step: rebuild the unified crm.* tables from the raw CRM snapshots.

Every crm table has one file in sql/model/ (`NNN_<table>.sql`, a single SELECT ending in
`final`), run in file order so later tables read earlier ones: companies, their domains,
people (who reads companies), engagements (who read people to tell whose an address
is), opportunities and their contacts, property options. `000_macros.sql` (the shared
normalizations) runs first. The whole rebuild is one transaction, so rules never see a
half-built model, and it is set-based: DuckDB does every join; Python only walks the
model files, the small aliases CSV and the configured property names.

A keyed table is merged, so each cycle writes only the rows that changed (re-inserting a
million people costs ~4x the merge, and deleting and re-inserting the same keys in one
transaction ~50x); a table with list columns is re-created from its DDL instead, since
DuckDB updates list columns as delete + insert.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.core.columns import SOURCES, CustomColumn
from tasks.core.config import Config
from tasks.core.errors import ConfigError, RuleFileError, StoreError
from tasks.core.user_files import display_path, read_text
from tasks.db import sql, store
from tasks.db.arrow import load_table

MACROS = "model/000_macros"
COMMENTS = "model/column_comments"
DOMAIN_ALIASES = Path("sql") / "domain_aliases.csv"
ALIAS_SCHEMA = pa.schema([("line", pa.int64()), ("domain", pa.string()), ("alias", pa.string())])
# the model files read each source of a configurable table through a view that adds the
# configured columns as `custom:<name>` (plus a null `custom:`, so a COLUMNS('^custom:')
# list is never empty): view name -> (crm table, crm, raw schema, raw object)
SOURCE_VIEWS = {
    f"model_{crm}_{obj.lower()}": (table, crm, f"raw_{crm}", obj)
    for table, crms in SOURCES.items() for crm, objects in crms.items() for obj in objects
}
CUSTOM = "custom:"


@dataclass(frozen=True)
class ModelResult:
    """What a rebuild produced: rows per crm table, the configured columns (crm.people's
    in `custom_columns`), its duration."""

    rows: dict[str, int] = field(default_factory=dict)
    custom_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    table_seconds: dict[str, float] = field(default_factory=dict)


def build_model(db_path: str | Path, project_dir: str | Path,
                config: Config | None) -> ModelResult:
    """Rebuild every crm.* table from raw_* in one transaction, set-based in DuckDB.

    `project_dir` holds sql/domain_aliases.csv (optional); `config` names the configured
    columns (`columns:`, `people_properties`) that become extra crm.* columns.
    """
    started = time.perf_counter()
    columns = config.custom_columns if config else ()
    with store.connect(db_path) as con, store.transaction(con):
        rows, timings = rebuild(con, Path(project_dir), columns)
    return ModelResult(rows=rows, custom_columns=[c.name for c in columns if c.table == "people"],
                       seconds=round(time.perf_counter() - started, 3), table_seconds=timings)


def rebuild(con: duckdb.DuckDBPyConnection, project_dir: Path,
            columns: tuple[CustomColumn, ...] = ()) -> tuple[dict[str, int], dict[str, float]]:
    """The rebuild on an open connection (inside the caller's transaction): rows and
    seconds per crm table."""
    sql.run(con, MACROS)
    sql.run(con, store.RULE_MACROS)
    load_domain_aliases(con, project_dir / DOMAIN_ALIASES)
    add_custom_columns(con, columns)
    rows, timings = {}, {}
    for table, select in model_files():
        started = time.perf_counter()
        rows[table] = replace_table(con, table, select)
        timings[table] = round(time.perf_counter() - started, 3)
    describe_columns(con, columns)
    return rows, timings


def model_files() -> list[tuple[str, str]]:
    """(crm table, SELECT) for every model file, in build order."""
    return [(name.removesuffix(".sql").split("_", 1)[1], text)
            for name, text in sql.numbered("model") if name != "000_macros.sql"]


def replace_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> int:
    """Make crm.<table> hold exactly the SELECT's rows; returns its row count.

    A keyed table without list columns is merged (only new, changed and gone rows are
    written: a cycle changes ~1% of them); any other is re-created from its own DDL and
    filled with one insert (DuckDB updates list columns as delete + insert, which a
    primary key makes very slow).
    """
    name = f"crm.{_quote(table)}"
    ddl, columns, types, keys, indexes = sql.fetch(con, "model/crm_table", table=table)[0]
    if ddl is None:
        raise StoreError(f"sql/model/*_{table}.sql: crm.{table} does not exist; "
                         "add it to a migration in sql/schema/ first")
    con.execute(f"create or replace temp view model_next as {select_sql}")
    produced = {d[0].lower(): d[0]
                for d in con.execute("select * from model_next limit 0").description}
    clash = [name.removeprefix(CUSTOM) for name in produced if name.startswith(CUSTOM)
             and name.removeprefix(CUSTOM) in produced]
    if clash:
        where = "columns.people or people_properties" if table == "people" else f"columns.{table}"
        raise ConfigError(f"seqguard.yml {where}: '{clash[0]}' is already a crm.{table} column; "
                          "give the configured column another name")
    # a column the model does not produce (a custom property no longer configured) is null
    values = {c: _source_column(c, produced) for c in columns}
    listed = {"columns": ", ".join(map(_quote, values)), "values": ", ".join(values.values())}
    if keys and not any(t.endswith("[]") for t in types):
        rest = [c for c in values if c not in keys]
        sql.run(con, sql.query(
            "model/merge", table=name, **listed,
            on=" and ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys),
            old=", ".join(f"t.{_quote(c)}" for c in rest),
            new=", ".join(values[c] for c in rest),
            updates=", ".join(f"{_quote(c)} = {values[c]}" for c in rest)))
    else:
        con.execute(f"drop table {name}")
        con.execute(ddl)
        for index in indexes:
            con.execute(index)
        sql.run(con, sql.query("model/refill", table=name, **listed))
    con.execute("drop view model_next")
    return int(con.execute(f"select count(*) from {name}").fetchall()[0][0])


def _source_column(column: str, produced: dict[str, str]) -> str:
    """model_next's column for a crm table's column: its own, or a configured `custom:` one."""
    for name in (column.lower(), CUSTOM + column.lower()):
        if name in produced:
            return f"s.{_quote(produced[name])}"
    return "null"


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def load_domain_aliases(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Load the project's domain aliases (`domain,alias` rows) as temp table
    model_domain_aliases; a missing file means none. Bad rows fail with their line."""
    rows: list[tuple[int, str, str]] = []
    if path.exists() or path.is_symlink():
        # a user file: read inside the project only, and never quoted back (user_files)
        root = path.parent.parent
        display = display_path(path, root)
        reader = csv.DictReader(io.StringIO(read_text(path, display, [root], None), newline=""))
        try:
            header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
            if not {"domain", "alias"} <= header.keys():
                raise RuleFileError(f"{display}:1: expected the columns domain,alias; name "
                                    "them in the first line")
            for record in reader:
                domain, alias = record[header["domain"]], record[header["alias"]]
                if (domain or "").strip().startswith("#") or not (domain or alias):
                    continue
                rows.append((reader.line_num, domain or "", alias or ""))
        except csv.Error:
            raise RuleFileError(f"{display}:{reader.line_num}: not a readable CSV row; save "
                                "the file as UTF-8 comma-separated text") from None
    load_table(con, "model_domain_aliases", pa.table({
        "line": pa.array([r[0] for r in rows], pa.int64()),
        "domain": pa.array([r[1] for r in rows], pa.string()),
        "alias": pa.array([r[2] for r in rows], pa.string()),
    }), ALIAS_SCHEMA)
    bad = sql.fetch(con, "model/bad_domain_alias")
    if bad:
        raise RuleFileError(f"{display_path(path, path.parent.parent)}:{bad[0][0]}: not a "
                            "company domain (empty, malformed or a free-mail provider); write "
                            "e.g. acme.com")
    return len(rows)


def add_custom_columns(con: duckdb.DuckDBPyConnection,
                       columns: tuple[CustomColumn, ...]) -> None:
    """Give each configurable crm table a varchar column per configured column, and create
    the source views (SOURCE_VIEWS) that carry the values as `custom:<name>`.

    A column's value comes from the CRM property configured for it, where the raw table
    has that column (the sync adds it; start-up checked that the CRM has it). A
    `people_properties` name must be a column of at least one of crm.people's sources.
    """
    raw = {view: _columns(con, schema, obj)
           for view, (_, _, schema, obj) in SOURCE_VIEWS.items()}
    for column in columns:
        if not column.required and not any(
                column.name in raw[view] for view, (table, *_) in SOURCE_VIEWS.items()
                if table == "people"):
            raise ConfigError(
                f"seqguard.yml people_properties: '{column.hubspot}' is not a synced contact "
                "property (no such column in raw_hubspot.contacts, raw_salesforce.Contact or "
                "Lead); add it under crms.hubspot.properties.contacts and sync again")
    for view, (table, crm, schema, obj) in SOURCE_VIEWS.items():
        exprs = []
        for column in (c for c in columns if c.table == table):
            source = column.field_of(crm)
            found = raw[view].get(source.lower()) if source else None
            value = f"{_quote(found)}::varchar" if found else "null::varchar"
            exprs.append(f"{value} as {_quote(CUSTOM + column.name)}")
        sql.run(con, sql.query("model/source_view", view=view,
                               raw=f"{schema}.{_quote(obj)}",
                               columns=", ".join([*exprs, f"null::varchar as {_quote(CUSTOM)}"])))
    for column in columns:
        add_text_column(con, f"crm.{_quote(column.table)}", column.name)


def add_text_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    """`column` (a name, quoted here) on `table` (already quoted) unless it has it: a
    configured column, as a cycle adds it and lint's dry-run database copies it."""
    sql.run(con, sql.query("model/add_text_column", table=table, column=_quote(column)))


def describe_columns(con: duckdb.DuckDBPyConnection, columns: tuple[CustomColumn, ...]) -> None:
    """Say where every crm.* column comes from, as column comments `seqguard schema` and
    a plain DuckDB session (duckdb_columns()) read. Re-created tables lose their comments,
    so every rebuild writes them again."""
    sql.run(con, COMMENTS)
    for column in columns:
        # names are checked identifiers; the text is quoted as a literal all the same
        origin = column.origin().replace("'", "''")
        con.execute(f"comment on column crm.{column.table}.{_quote(column.name)} "
                    f"is '{origin}'")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """A raw table's columns, lower case (DuckDB matches names in any case): name -> name."""
    return {r[0]: r[0] for r in sql.fetch(con, "sync/raw_columns", schema=schema, table=table)}
