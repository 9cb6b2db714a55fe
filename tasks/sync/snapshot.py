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
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from tasks.core.errors import ConfigError
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import connect, transaction

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
    # a column first pulled after the object's last sync makes the next run read the
    # object in full once, so unchanged records get its value too (False: seqguard's own
    # properties, which only seqguard writes, and every write is an incremental change)
    backfill: bool = True


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

    def merged_as(self, outcome: MergeOutcome) -> ObjectCounts:
        """These counts with what the object's merge did."""
        self.merged, self.deleted = outcome.merged, outcome.deleted
        self.quarantined = outcome.quarantined
        return self


@dataclass
class SyncResult:
    """Per-object counts of one CRM's sync run."""

    crm: str
    run_id: str
    full: bool
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    seconds: float = 0.0
    # objects read in full this run because their sync pulls new columns
    backfilled: dict[str, list[str]] = field(default_factory=dict)

    def total(self, name: str) -> int | float:
        """Sum of one counter (fetched, merged, ...) over every object."""
        return sum(getattr(c, name) for c in self.objects.values())

    def as_dict(self) -> dict:
        return {"crm": self.crm, "run_id": self.run_id, "full": self.full,
                "seconds": round(self.seconds, 3), "backfilled": self.backfilled,
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
    existing = {r[0] for r in sql.fetch(con, "sync/raw_columns", schema=schema,
                                        table=table.strip('"'))}
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
    rows = sql.fetch(con, "sync/read_sync_state", crm=crm, object=obj)
    return rows[0][0] if rows else None


def unfilled_columns(con: duckdb.DuckDBPyConnection, spec: ObjectSpec,
                     added: list[str]) -> list[str]:
    """The spec's columns the object's last sync did not cover (backfill ones only):
    unchanged records lack their values until the object is read in full."""
    rows = sql.fetch(con, "sync/read_sync_state", crm=spec.crm, object=spec.object)
    if not rows or rows[0][0] is None:
        return []  # no watermark: this run reads the object in full anyway
    covered = rows[0][1]
    if covered is None:  # synced before columns were recorded: the raw table's stand in
        covered = [c.name for c in spec.columns if c.name not in added]
    known = {c.lower() for c in covered}
    return [c.name for c in spec.columns if c.backfill and c.name.lower() not in known]


# ---- staging -----------------------------------------------------------------------

class PageStager:
    """Buffers raw page bodies and appends them, parsed by DuckDB, to a staging table.

    `select` (with its `params`) reads a relation `pages(page_no, body)` and yields
    staging rows by name; it is where each CRM's JSON shape is unpacked (`from_json` into
    a struct, in C++). One stager per thread: it owns a cursor of its own.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, select: sql.Query,
                 params: dict[str, Any] | None = None,
                 pages_per_append: int = PAGES_PER_APPEND) -> None:
        self.con = con
        self.table = table
        self.select = select
        self.params = params or {}
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
        with registered(self.con, pages=pages):
            sql.insert(self.con, self.table, self.select, **self.params)
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
    extra: Iterable[tuple[sql.Query, dict[str, Any]]] = (),
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
    typed = ", ".join(f"{typed_expr(c)} as {quote(c.name)}" for c in spec.columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:] + ['"_synced_at"'])
    with _MERGE_LOCK, transaction(con):
        sql.run(con, sql.query("sync/checked", staging=staged, reason=reason_expr(spec),
                                   cursor=parse_expr(spec.cursor_column, "timestamp")))
        quarantined = sql.scalar(con, sql.query("sync/quarantine", id=idc, payload=payload),
                                 crm=spec.crm, object=spec.object, run_id=run_id,
                                 synced_at=synced_at)
        sql.run(con, sql.query("sync/clean", typed=typed, id=idc), synced_at=synced_at)
        deleted = sql.scalar(con, sql.query("sync/newly_deleted", raw=spec.raw_table, id=idc,
                                            tombstone=tomb))
        merged = sql.scalar(con, sql.query("sync/merge", raw=spec.raw_table, id=idc,
                                           updates=updates))
        for statement, params in extra:
            sql.run(con, statement, **params)
        watermark = sql.scalar(con, "sync/watermark", cap=watermark_cap, empty=empty_watermark)
        sql.run(con, "sync/sync_state", crm=spec.crm, object=spec.object,
                    watermark=watermark, full_at=synced_at if full else None,
                    synced_at=synced_at, run_id=run_id, columns=[c.name for c in spec.columns])
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


class Client(Protocol):
    """What the driver needs of a CRM client: its count of calls made on this thread."""

    def requests_made(self) -> int: ...


def sync_objects(db_path: str | Path, crm: str, specs: dict[str, ObjectSpec], client: Client,
                 sync_object: Callable[..., ObjectCounts], synced_at: datetime, *,
                 full_resync: bool, max_concurrency: int, progress: Progress | None,
                 before: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
                 after: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
                 ) -> SyncResult:
    """Sync every object of one CRM, each on a thread and a cursor of its own:
    `sync_object(cursor, client, spec, since=, run_id=, synced_at=, progress=)` fetches,
    stages and merges one object from its watermark (None: everything), and this counts
    its seconds and the requests the client made on that thread. `before` and `after` run on the
    connection around them (metadata, extra staging tables). Every object finishes before
    the first error is raised, so the others' progress is kept."""
    clock = Stopwatch()
    result = SyncResult(crm=crm, run_id=uuid.uuid4().hex, full=full_resync)

    def counted(cursor: duckdb.DuckDBPyConnection, spec: ObjectSpec,
                since: datetime | None) -> ObjectCounts:
        started, first = Stopwatch(), client.requests_made()
        counts = sync_object(cursor, client, spec, since=since, run_id=result.run_id,
                             synced_at=synced_at, progress=progress)
        counts.requests = client.requests_made() - first
        counts.seconds = started.seconds()
        if progress:
            progress(spec.object, counts.fetched)
        return counts

    with connect(db_path) as con:
        limit_memory(con)
        for obj, spec in specs.items():
            unfilled = unfilled_columns(con, spec, ensure_raw_table(con, spec))
            if unfilled:
                result.backfilled[obj] = unfilled
            reset_staging(con, spec)
        if before is not None:
            before(con)
        marks = {obj: None if obj in result.backfilled else read_watermark(con, crm, obj)
                 for obj in specs}
        result.full = full_resync or any(m is None for m in marks.values())
        errors: list[Exception] = []
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            futures = {obj: pool.submit(counted, con.cursor(), spec,
                                        None if full_resync else marks[obj])
                       for obj, spec in specs.items()}
            for obj, future in futures.items():
                try:
                    result.objects[obj] = future.result()
                except Exception as exc:  # noqa: BLE001 - let the others finish first
                    errors.append(exc)
        for spec in specs.values():
            drop_staging(con, spec)
        if after is not None:
            after(con)
        if errors:
            raise errors[0]
    result.seconds = clock.seconds()
    return result
