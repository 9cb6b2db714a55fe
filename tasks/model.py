"""The model step: rebuild the unified crm.* tables from the raw CRM snapshots.

Every crm table has one file in sql/model/ (`NNN_<table>.sql`, a single SELECT ending in
`final`), run in file order so later tables can read earlier ones (people read
companies and engagements). The whole rebuild is one transaction: rules never see a
half-built model. `000_macros.sql` (the shared normalizations) runs first.

Each table is dropped and re-created from its own stored DDL, then filled with one
INSERT: in DuckDB, deleting a million keyed rows and inserting them again in one
transaction is ~50x slower than building a fresh table (index churn), and the stored
DDL keeps every constraint and custom column the migrations and config gave it.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks import store
from tasks.config import Config
from tasks.errors import ConfigError, RuleFileError
from tasks.paths import SQL_DIR

MODEL_DIR = SQL_DIR / "model"
MACROS_FILE = "000_macros.sql"
DOMAIN_ALIASES = Path("sql") / "domain_aliases.csv"
# raw tables and columns a custom person property may come from, in order of preference
PROPERTY_SOURCES = (
    ("raw_hubspot", "contacts", "email", "updated_at", "coalesce(archived, false)"),
    ("raw_salesforce", "Contact", "Email", "LastModifiedDate", "coalesce(IsDeleted, false)"),
    ("raw_salesforce", "Lead", "Email", "LastModifiedDate",
     "coalesce(IsDeleted, false) or coalesce(IsConverted, false)"),
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ModelResult:
    """What a rebuild produced: rows per crm table, the custom columns, its duration."""

    rows: dict[str, int] = field(default_factory=dict)
    custom_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build_model(db_path: str | Path, project_dir: str | Path,
                config: Config | None) -> ModelResult:
    """Rebuild every crm.* table from raw_* in one transaction, set-based in DuckDB.

    `project_dir` holds sql/domain_aliases.csv (optional); `config` names the custom
    person properties (`people_properties`) that become extra crm.people columns.
    """
    started = time.perf_counter()
    properties = list(config.people_properties) if config else []
    with store.connect(db_path) as con, store.transaction(con):
        rows = rebuild(con, Path(project_dir), properties)
    return ModelResult(rows=rows, custom_columns=properties,
                       seconds=round(time.perf_counter() - started, 3))


def rebuild(con: duckdb.DuckDBPyConnection, project_dir: Path,
            properties: list[str]) -> dict[str, int]:
    """The rebuild on an open connection (inside the caller's transaction)."""
    con.execute((MODEL_DIR / MACROS_FILE).read_text())
    load_domain_aliases(con, project_dir / DOMAIN_ALIASES)
    add_people_properties(con, properties)
    rows = {}
    for table, sql in model_files():
        rows[table] = replace_table(con, table, sql)
    return rows


def model_files() -> list[tuple[str, str]]:
    """(crm table, SELECT) for every model file, in build order."""
    files = sorted(p for p in MODEL_DIR.glob("[0-9][0-9][0-9]_*.sql") if p.name != MACROS_FILE)
    return [(p.stem.split("_", 1)[1], p.read_text()) for p in files]


def replace_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> int:
    """Swap crm.<table>'s rows for the SELECT's: re-create it from its DDL, insert once."""
    ddl = con.execute(
        "select sql from duckdb_tables() where schema_name = 'crm' and table_name = ?", [table]
    ).fetchone()
    if ddl is None:
        raise ConfigError(f"sql/model/*_{table}.sql: crm.{table} does not exist; "
                          "add it to a migration in sql/schema/ first")
    indexes = [r[0] for r in con.execute(
        "select sql from duckdb_indexes() where schema_name = 'crm' and table_name = ? "
        "and sql is not null", [table]).fetchall()]
    con.execute(f'drop table crm."{table}"')
    con.execute(ddl[0])
    for index in indexes:
        con.execute(index)
    con.execute(f'insert into crm."{table}" by name {select_sql}')
    return int(con.execute(f'select count(*) from crm."{table}"').fetchone()[0])


def load_domain_aliases(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Load the project's domain aliases (`domain,alias` rows) as temp table
    model_domain_aliases; a missing file means none. Bad rows fail with their line."""
    rows: list[tuple[int, str, str]] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
            if not {"domain", "alias"} <= header.keys():
                raise RuleFileError(f"{path}:1: expected the columns domain,alias; "
                                    f"found {','.join(reader.fieldnames or [])}")
            for record in reader:
                domain, alias = record[header["domain"]], record[header["alias"]]
                if (domain or "").strip().startswith("#") or not (domain or alias):
                    continue
                rows.append((reader.line_num, domain or "", alias or ""))
    con.register("model_domain_aliases_csv", pa.table({
        "line": pa.array([r[0] for r in rows], pa.int64()),
        "domain": pa.array([r[1] for r in rows], pa.string()),
        "alias": pa.array([r[2] for r in rows], pa.string()),
    }))
    try:
        con.execute("create or replace temp table model_domain_aliases as "
                    "select * from model_domain_aliases_csv")
    finally:
        con.unregister("model_domain_aliases_csv")
    bad = con.execute(
        """select line, value from (
               select line, domain as value from model_domain_aliases
               union all select line, alias from model_domain_aliases)
           where crm.normalize_domain(value) is null
              or crm.is_free_mail_domain(crm.normalize_domain(value))
           order by line limit 1""").fetchone()
    if bad:
        raise RuleFileError(f"{path}:{bad[0]}: '{bad[1]}' is not a company domain (empty, "
                            "malformed or a free-mail provider); write e.g. acme.com")
    return len(rows)


def add_people_properties(con: duckdb.DuckDBPyConnection, properties: list[str]) -> None:
    """Give crm.people a varchar column per custom property and stage their values as
    temp view model_people_properties(email, <property>...) for 040_people.sql.

    A property's value comes from the first raw source that has the column (HubSpot
    contact, Salesforce Contact, Salesforce Lead), most recently updated record first.
    """
    sources = {(s, t): _columns(con, s, t) for s, t, *_ in PROPERTY_SOURCES}
    for name in properties:
        if not IDENTIFIER.fullmatch(name):
            raise ConfigError(f"seqguard.yml people_properties: '{name}' is not a property API "
                              "name; use the internal name, e.g. product_interest")
        if name.lower() in _MODEL_COLUMNS:
            raise ConfigError(f"seqguard.yml people_properties: '{name}' is already a "
                              "crm.people column; remove it from people_properties")
        if not any(name.lower() in cols for cols in sources.values()):
            raise ConfigError(
                f"seqguard.yml people_properties: '{name}' is not a synced contact property "
                "(no such column in raw_hubspot.contacts, raw_salesforce.Contact or Lead); "
                "add it under crms.hubspot.properties.contacts and sync again")
    for name in properties:
        con.execute(f'alter table crm.people add column if not exists "{name}" varchar')
    con.execute(people_properties_sql(properties, sources))


# crm.people's own columns (002_crm.sql); a custom property may not reuse one
_MODEL_COLUMNS = frozenset({
    "email", "first_name", "last_name", "company_domain", "owner_email", "lifecycle_stage",
    "is_unsubscribed", "is_bounced", "hubspot_id", "salesforce_contact_id",
    "salesforce_lead_id", "created_at", "updated_at",
})


def people_properties_sql(properties: list[str],
                          sources: dict[tuple[str, str], set[str]]) -> str:
    """The temp view of custom property values per normalized email (only identifiers
    checked by add_people_properties are spliced in)."""
    if not properties:
        return ("create or replace temp view model_people_properties as "
                "select null::varchar as email where false")
    selects = []
    for rank, (schema, table, email, updated, deleted) in enumerate(PROPERTY_SOURCES, 1):
        have = sources[(schema, table)]
        values = ", ".join(
            (f'"{p}"::varchar' if p.lower() in have else "null::varchar") + f' as "{p}"'
            for p in properties)
        selects.append(
            f"select crm.normalize_email({email}) as email, "
            f"{{rank: {rank}, staleness: -coalesce(epoch_us({updated}), 0)}} as preference, "
            f'{values} from {schema}."{table}" where not ({deleted})')
    picks = ", ".join(f'arg_min("{p}", preference) filter (where "{p}" is not null) as "{p}"'
                      for p in properties)
    return (f"create or replace temp view model_people_properties as "
            f"select email, {picks} from ({' union all '.join(selects)}) "
            f"where email is not null group by email")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {r[0].lower() for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? "
        "and lower(table_name) = lower(?)", [schema, table]).fetchall()}
