"""Pages in, one MERGE out: the staging, quarantine and watermark machinery of both CRMs.

A sync of one object appends every page it fetches (the raw JSON bodies, as an Arrow
batch) to a staging table, where DuckDB parses them into one varchar column per field.
When the object is done, one transaction quarantines the records that fail the checks
(found with SQL over the whole staged set), merges the rest into the raw table (latest
fetched copy of each id wins), runs the caller's extra statements (associations) and
moves the object's watermark. A run killed before that commit leaves the raw tables and
watermarks as they were; the next run wipes the staging table and fetches again.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from tasks.core.errors import ConfigError
from tasks.db.store import transaction

# a page is buffered until this many are waiting, then appended as one Arrow batch
PAGES_PER_APPEND = 20
# DuckDB's share of a sync's memory: merges of a million rows spill to disk beyond it,
# which keeps the whole process (Python, Arrow, DuckDB) within ~1.5 GiB
SYNC_MEMORY_LIMIT = "768MB"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
# NUL and the other C0 controls and DEL: no address has them, and one would reach the
# model as a person nobody can name (the \s of EMAIL_PATTERN covers only white space)
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Column:
    """One field of an object: its raw-table type and the check its staged text must pass.

    `check` is one of timestamp | double | date | boolean | email | None; a non-null value
    that fails it sends the record to quarantine ("a property of the wrong type").
    """

    name: str
    type: str = "varchar"
    check: str | None = None


@dataclass(frozen=True)
class ObjectSpec:
    """How one object's staged rows become raw-table rows."""

    crm: str
    object: str  # name in ops.sync_state and ops.quarantine: contacts, Contact, ...
    raw_table: str  # qualified and quoted: raw_hubspot.contacts, raw_salesforce."User"
    staging_table: str
    columns: tuple[Column, ...]  # every raw column but _synced_at, id first
    id_column: str
    cursor_column: str  # the modification time the watermark follows
    tombstone_column: str  # archived | IsDeleted


@dataclass
class ObjectCounts:
    """What the sync did to one object in one run."""

    fetched: int = 0
    merged: int = 0
    deleted: int = 0
    quarantined: int = 0
    requests: int = 0
    seconds: float = 0.0


@dataclass
class SyncResult:
    """Per-object counts of one CRM's sync run."""

    crm: str
    run_id: str
    full: bool
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    seconds: float = 0.0

    def total(self, name: str) -> int | float:
        """Sum of one counter (fetched, merged, ...) over every object."""
        return sum(getattr(c, name) for c in self.objects.values())

    def as_dict(self) -> dict:
        return {"crm": self.crm, "run_id": self.run_id, "full": self.full,
                "seconds": round(self.seconds, 3),
                "objects": {k: asdict(v) for k, v in self.objects.items()}}


def quote(name: str) -> str:
    """A column or table name as a quoted SQL identifier, refusing anything odd.

    Field names come from seqguard.yml and the CRM's metadata; they are spliced into
    generated SQL, so only plain identifiers pass.
    """
    if not IDENTIFIER.match(name):
        raise ConfigError(
            f"'{name}': not a valid property/field name; use the API name "
            "(letters, digits and underscores) in seqguard.yml"
        )
    return f'"{name}"'


# ---- tables ------------------------------------------------------------------------

def ensure_raw_table(con: duckdb.DuckDBPyConnection, spec: ObjectSpec) -> list[str]:
    """Create the raw table on first load and add any column it lacks; returns the added."""
    schema, _, table = spec.raw_table.partition(".")
    table = table.strip('"')
    existing = {
        r[0].lower()
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }
    if not existing:
        cols = ", ".join(
            f"{quote(c.name)} {c.type}" + (" primary key" if c.name == spec.id_column else "")
            for c in spec.columns
        )
        con.execute(f"create table {spec.raw_table} ({cols}, _synced_at timestamp)")
        return [c.name for c in spec.columns]
    added = [c for c in spec.columns if c.name.lower() not in existing]
    for c in added:
        con.execute(f"alter table {spec.raw_table} add column {quote(c.name)} {c.type}")
    return [c.name for c in added]


def reset_staging(con: duckdb.DuckDBPyConnection, spec: ObjectSpec) -> None:
    """An empty staging table for the object: page number plus every field as text."""
    cols = ", ".join(f"{quote(c.name)} varchar" for c in spec.columns)
    con.execute(f"create or replace table {spec.staging_table} (page_no integer, {cols})")


def drop_staging(con: duckdb.DuckDBPyConnection, spec: ObjectSpec) -> None:
    con.execute(f"drop table if exists {spec.staging_table}")


def limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Bound DuckDB's memory for a sync run; order of inserted rows does not matter."""
    con.execute(f"set memory_limit = '{SYNC_MEMORY_LIMIT}'")
    con.execute("set preserve_insertion_order = false")


def read_watermark(con: duckdb.DuckDBPyConnection, crm: str, obj: str) -> datetime | None:
    row = con.execute(
        "select watermark from ops.sync_state where crm = ? and object = ?", [crm, obj]
    ).fetchone()
    return row[0] if row else None


# ---- staging -----------------------------------------------------------------------

class PageStager:
    """Buffers raw page bodies and appends them, parsed by DuckDB, to a staging table.

    `select_sql` reads a relation `pages(page_no, body)` and yields staging rows by name;
    it is where each CRM's JSON shape is unpacked (`from_json` into a struct, in C++).
    One stager per thread: it owns a cursor of its own.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, select_sql: str,
                 pages_per_append: int = PAGES_PER_APPEND) -> None:
        self.con = con
        self.table = table
        self.select_sql = select_sql
        self.pages_per_append = pages_per_append
        self.page_no = 0
        self._buffer: list[str] = []
        self._first: int = 0

    def add(self, body: str) -> int:
        """Queue one page body; returns its page number."""
        if not self._buffer:
            self._first = self.page_no
        self._buffer.append(body)
        self.page_no += 1
        if len(self._buffer) >= self.pages_per_append:
            self.flush()
        return self.page_no - 1

    def flush(self) -> None:
        if not self._buffer:
            return
        pages = pa.table({
            "page_no": pa.array(range(self._first, self._first + len(self._buffer)), pa.int32()),
            "body": pa.array(self._buffer, pa.large_string()),
        })
        self.con.register("pages", pages)
        try:
            self.con.execute(f"insert into {self.table} by name {self.select_sql}")
        finally:
            self.con.unregister("pages")
        self._buffer = []


# ---- checks and merge --------------------------------------------------------------

def parse_expr(column: str, check: str | None) -> str:
    """SQL turning the staged text of a field into its checked value (null if it fails)."""
    c = quote(column)
    if check == "timestamp":
        # ISO 8601 with or without offset, or HubSpot's epoch milliseconds
        return (f"coalesce(timezone('UTC', try_cast({c} as timestamptz)), "
                f"case when regexp_full_match({c}, '-?[0-9]{{1,16}}') "
                f"then make_timestamp(try_cast({c} as bigint) * 1000) end)")
    if check == "date":
        return f"coalesce(try_cast({c} as date), {parse_expr(column, 'timestamp')}::date)"
    if check == "double":
        return f"try_cast({c} as double)"
    if check == "boolean":
        return f"try_cast({c} as boolean)"
    if check == "email":
        return f"case when regexp_full_match(trim({c}), '{EMAIL_PATTERN}') then {c} end"
    return c


def typed_expr(col: Column) -> str:
    """The value written to the raw table: typed columns cast, varchar kept verbatim."""
    if col.type == "varchar":
        return quote(col.name)
    check = {"timestamp": "timestamp", "date": "date", "double": "double",
             "boolean": "boolean"}.get(col.type, col.check)
    return f"cast({parse_expr(col.name, check)} as {col.type})"


def reason_expr(spec: ObjectSpec) -> str:
    """A CASE naming the first thing wrong with a staged record, null when it is clean."""
    idc = quote(spec.id_column)
    cases = [
        f"when {idc} is null or trim({idc}) = '' then 'missing id'",
        f"when count(*) over (partition by page_no, {idc}) > 1 then 'duplicate id within a page'",
        f"when {quote(spec.cursor_column)} is null then 'missing {spec.cursor_column}'",
    ]
    for col in spec.columns:
        check = col.check or (col.type if col.type != "varchar" else None)
        if check is None:
            continue
        what = {
            "timestamp": "unparsable time", "date": "unparsable date",
            "double": "not a number", "boolean": "not a boolean", "email": "not an email",
        }[check]
        cases.append(
            f"when {quote(col.name)} is not null and {parse_expr(col.name, check)} is null "
            f"then '{what}: {col.name}'"
        )
        if check == "email":
            cases.append(f"when regexp_matches({quote(col.name)}, '{CONTROL_CHARACTERS}') "
                         f"then 'control character in an email: {col.name}'")
    return "case " + " ".join(cases) + " end"


@dataclass
class MergeOutcome:
    merged: int
    deleted: int
    quarantined: int
    watermark: datetime | None


_MERGE_LOCK = threading.Lock()


def merge_object(
    con: duckdb.DuckDBPyConnection,
    spec: ObjectSpec,
    *,
    run_id: str,
    synced_at: datetime,
    full: bool,
    watermark_cap: datetime | None = None,
    empty_watermark: datetime | None = None,
    extra: Iterable[tuple[str, list]] = (),
) -> MergeOutcome:
    """Quarantine, merge and move the watermark of one object, in one transaction.

    The watermark becomes the newest modification time staged, but never more than
    `watermark_cap` (the newest the CRM had when the run started: anything changed while
    we paged is read again next run); with nothing staged it becomes `empty_watermark`
    if there was none yet (a full run of an empty object: later runs are incremental).

    Merges are serialized across threads (one writer at a time keeps DuckDB's memory
    and conflict checks simple); fetching, the slow part, stays parallel.
    """
    staged = spec.staging_table
    cols = [quote(c.name) for c in spec.columns]
    idc = quote(spec.id_column)
    tomb = quote(spec.tombstone_column)
    payload = "to_json(struct_pack(" + ", ".join(f"{c} := {c}" for c in cols) + "))"
    with _MERGE_LOCK, transaction(con):
        con.execute(
            f"""create or replace temp table _checked as
                select *, {reason_expr(spec)} as _reason,
                       {parse_expr(spec.cursor_column, 'timestamp')} as _cursor
                from {staged}"""
        )
        quarantined = con.execute(
            f"""insert into ops.quarantine
                select ?, ?, nullif(trim({idc}), ''), _reason, {payload}, ?, ?
                from _checked where _reason is not null""",
            [spec.crm, spec.object, run_id, synced_at],
        ).fetchone()[0]
        # the latest fetched copy of each id is the truth (pages are numbered in fetch order)
        typed = ", ".join(f"{typed_expr(c)} as {quote(c.name)}" for c in spec.columns)
        con.execute(
            f"""create or replace temp table _clean as
                select {typed}, ?::timestamp as _synced_at from _checked
                where _reason is null
                qualify row_number() over (partition by {idc} order by page_no desc) = 1""",
            [synced_at],
        )
        deleted = con.execute(
            f"""select count(*) from _clean c left join {spec.raw_table} r on r.{idc} = c.{idc}
                where c.{tomb} and not coalesce(r.{tomb}, false)"""
        ).fetchone()[0]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:] + ['"_synced_at"'])
        merged = con.execute(
            f"""insert into {spec.raw_table} by name select * from _clean
                on conflict ({idc}) do update set {updates}"""
        ).fetchone()[0]
        for sql, params in extra:
            con.execute(sql, params)
        watermark = con.execute(
            "select coalesce(least(max(_cursor), ?::timestamp), ?::timestamp) from _checked",
            [watermark_cap, empty_watermark],
        ).fetchone()[0]
        con.execute(
            """insert into ops.sync_state as s values (?, ?, ?, ?, ?, ?)
               on conflict (crm, object) do update set
                 watermark = coalesce(greatest(s.watermark, excluded.watermark), s.watermark),
                 last_full_sync_at = coalesce(excluded.last_full_sync_at, s.last_full_sync_at),
                 last_sync_at = excluded.last_sync_at, last_run_id = excluded.last_run_id""",
            [spec.crm, spec.object, watermark, synced_at if full else None, synced_at, run_id],
        )
        con.execute("drop table _checked; drop table _clean")
        con.execute(f"delete from {staged}")
    return MergeOutcome(merged=int(merged), deleted=int(deleted),
                        quarantined=int(quarantined), watermark=watermark)


class Stopwatch:
    """Seconds since creation; for the per-object `seconds` count."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.started
