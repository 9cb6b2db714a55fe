"""Turn rule matches into enrollment changes: unenroll, block, skip, enroll.

The decisions are sets computed by the SQL in sql/decide/ over the rules step's tables
(rules.matches and rules.scopes of a run) and temp tables this module fills. Decisions,
outbox rows and enrollment events are written in one transaction, so a crash leaves
either all of a decision or none of it; the poster (tasks/outbox.py) sends the outbox
rows afterwards.

Temp tables the SQL reads (per connection): d_matches and d_scope (from the run's
rules.* rows), d_requests (the enrollments asked for, REQUEST_SCHEMA); it writes
d_unenroll, d_exclusions and d_enroll, then the ops.* rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.db import sql
from tasks.db.store import connect, transaction

# one requested enrollment: a released play item, a manual enroll or a recovery
REQUEST_SCHEMA = pa.schema([
    ("request_id", pa.int64()),
    ("source", pa.string()),             # play | manual | recover
    ("play", pa.string()),
    ("email", pa.string()),
    ("sequence_id", pa.string()),        # resolved id at the sequencer
    ("crm", pa.string()),                # which sequencer: hubspot | salesforce
    ("sender", pa.string()),             # 'owner' or an address
    ("allow_reenrollment", pa.bool_()),
    ("max_per_company", pa.int64()),
    ("rank_at", pa.timestamp("us")),     # earlier wins ties (release time)
    ("start_step", pa.int64()),          # recover: the step to start at
    ("release_at", pa.timestamp("us")),  # play items: part of the queue key
    ("actor", pa.string()),
    ("request_rule", pa.string()),       # recover: the rule whose removal is undone
    ("note", pa.string()),               # why it is asked for, kept as the reason
])


@dataclass
class DecideResult:
    """Counts of one decision, for the run summary and the report."""

    run_id: str
    dry_run: bool = False
    unenroll: int = 0
    enroll: int = 0
    skip: int = 0
    block: int = 0
    refused: int = 0
    held: int = 0          # play items kept queued because a covering rule failed
    new_changes: int = 0   # outbox rows written now (0 on a re-run or a dry run)
    warnings: list[str] = field(default_factory=list)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def sql_text(name: str) -> str:
    """One of the decision SQL files, by name without `.sql`."""
    return sql.text(f"decide/{name}")


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Execute a decision SQL file with named parameters."""
    return con.execute(sql_text(name), params)


def materialize(con: duckdb.DuckDBPyConnection, table: str, name: str, **params: Any) -> None:
    """`create temp table <table> as <sql/decide/name.sql>`: later steps read it."""
    con.execute(f"create or replace temp table {table} as {sql_text(name)}", params)


def load_table(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table,
               schema: pa.Schema) -> None:
    """Put an Arrow table in a temp table of the expected shape (columns cast, missing
    columns null), so the SQL always sees the same types."""
    columns = []
    for f in schema:
        if f.name in data.column_names:
            columns.append(data.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(data.num_rows, f.type))
    con.register("d_load", pa.Table.from_arrays(columns, schema=schema))
    try:
        con.execute(f"create or replace temp table {table} as select * from d_load")
    finally:
        con.unregister("d_load")


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple | None:
    """`fetchone`, reading the result to its end: DuckDB refuses some work (registering
    an Arrow table) on a connection that has an unfinished result."""
    found = cursor.fetchall()
    return found[0] if found else None


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    """The single value of a small query."""
    row = first_row(con.execute(query, params or []))
    return row[0] if row else None


def latest_evaluated_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run whose rule results stand now (manual actions decide on them)."""
    return scalar(
        con, "select run_id from rules.evaluations order by now desc, started_at desc limit 1")


def was_evaluated(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return bool(scalar(con, "select count(*) from rules.evaluations where run_id = ?", [run_id]))


def prepare(con: duckdb.DuckDBPyConnection, match_run: str, requests: pa.Table,
            crm: str) -> None:
    """Fill the temp tables every decision SQL file reads."""
    load_table(con, "d_requests", requests, REQUEST_SCHEMA)
    materialize(con, "d_scope", "scope", run_id=match_run, crm=crm)
    materialize(con, "d_matches", "matches", run_id=match_run)


def compute(con: duckdb.DuckDBPyConnection, *, with_unenrolls: bool) -> None:
    """Run the decision SQL: d_unenroll, d_exclusions, d_enroll."""
    if with_unenrolls:
        materialize(con, "d_unenroll", "unenroll")
    else:
        con.execute("create or replace temp table d_unenroll as "
                    "select * from (" + sql_text("unenroll") + ") limit 0")
    materialize(con, "d_exclusions", "exclusions")
    materialize(con, "d_enroll", "enroll")


def record(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, *,
           dry_run: bool) -> int:
    """Write decisions and, unless a dry run, outbox rows, events and play-queue
    outcomes; returns how many outbox rows are new."""
    run_sql(con, "write_decisions", run_id=run_id, now=now)
    if dry_run:
        return 0
    materialize(con, "d_changes", "changes", run_id=run_id)
    con.execute("create or replace temp table d_new_changes as "
                "select * from d_changes anti join ops.outbox using (change_id)")
    run_sql(con, "write_outbox", run_id=run_id, now=now)
    run_sql(con, "write_events", run_id=run_id, now=now)
    run_sql(con, "write_queue", run_id=run_id)
    return int(scalar(con, "select count(*) from d_new_changes"))


def summarize(con: duckdb.DuckDBPyConnection, result: DecideResult) -> DecideResult:
    """Fill the counts from the temp tables of this decision."""
    row = first_row(con.execute(
        """
        with held as (
            -- play items only a failed rule stops: they stay queued
            select request_id from d_enroll e
            where outcome = 'excluded' and source = 'play' and not exists (
                select 1 from d_exclusions x
                where x.request_id = e.request_id and x.scope <> 'failed')
        )
        select
            (select count(distinct (crm, enrollment_id)) from d_unenroll),
            (select count(*) from d_enroll where outcome = 'enroll'),
            (select count(*) from d_enroll where outcome = 'excluded' and source = 'play'
                and request_id not in (select request_id from held)),
            (select count(*) from d_enroll where outcome = 'excluded' and source <> 'play'),
            (select count(*) from d_enroll where outcome = 'refused'),
            (select count(*) from held)
        """
    ))
    result.unenroll, result.enroll, result.skip, result.block, result.refused, result.held = row
    return result


def decide_on(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, requests: pa.Table,
              *, match_run: str, crm: str, dry_run: bool = False,
              with_unenrolls: bool = True) -> DecideResult:
    """One decision on an open writer connection, in one transaction: the unenrolls
    `match_run`'s matches call for (when `with_unenrolls`) and each request's outcome.

    Change ids are deterministic, so re-running the same decision writes no second
    outbox row or event; the cycle's decision of a run is written once.
    """
    with transaction(con):
        result = DecideResult(run_id=run_id, dry_run=dry_run)
        if with_unenrolls and scalar(
                con, "select count(*) from ops.decisions where run_id = ?", [run_id]):
            # the flow was retried after this run's decision was committed
            result.warnings.append(f"run {run_id} was decided before; nothing written again")
            return result
        prepare(con, match_run, requests, crm)
        compute(con, with_unenrolls=with_unenrolls)
        summarize(con, result)
        result.new_changes = record(con, run_id, now, dry_run=dry_run)
    return result


def exclusions_of(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The blocking rules of the last decision on this connection, one row per rule."""
    return rows(con, "select * from d_exclusions order by request_id, rule")


def outcomes_of(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each request's outcome in the last decision on this connection."""
    return rows(con, "select * from d_enroll order by request_id")


def rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None
         ) -> list[dict[str, Any]]:
    """A small query's rows as dicts (reports and messages, never bulk data)."""
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def decide(db_path: str | Path, project_dir: str | Path, run_id: str, now: datetime, *,
           crm: str = "hubspot", dry_run: bool = False) -> DecideResult:
    """The cycle's decision step, after evaluate_rules and plays.queue_plays: unenroll
    whom the run's matches remove, and decide each play item released by `now`.

    Fail closed: a run whose rules were not evaluated decides nothing.
    """
    from tasks import plays

    loaded = plays.load_plays(project_dir)
    with connect(db_path) as con:
        if not was_evaluated(con, run_id):
            return DecideResult(run_id=run_id, dry_run=dry_run, warnings=[
                f"rules were not evaluated in run {run_id}: nothing unenrolled, no play "
                "item released (fail closed)"])
        requests, warnings = plays.due_requests(con, loaded, now, crm)
        result = decide_on(con, run_id, now, requests, match_run=run_id, crm=crm,
                           dry_run=dry_run)
    result.warnings.extend(warnings)
    return result
