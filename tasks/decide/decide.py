"""Turn rule matches into enrollment changes: unenroll, block, skip, enroll.

The decisions are sets computed by the SQL in sql/decide/ over the rules step's tables
(rules.matches and rules.scopes of a run) and temp tables this module fills. Decisions,
outbox rows and enrollment events are written in one transaction, so a crash leaves
either all of a decision or none of it; the poster (tasks/post/poster.py) sends the
outbox rows afterwards.

Temp tables the SQL reads (per connection): d_matches and d_scope (from the run's
rules.* rows), d_rejected (unenrolls a person rejected), d_requests (the enrollments
asked for, REQUEST_SCHEMA); it writes
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
from tasks.db.arrow import load_table
from tasks.db.store import connect, transaction
from tasks.decide import plays
from tasks.decide.requests import REQUEST_SCHEMA


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
    rejected_before: int = 0  # enrollments left alone: their unenroll was rejected before
    new_changes: int = 0   # outbox rows written now (0 on a re-run or a dry run)
    warnings: list[str] = field(default_factory=list)
    # when nothing changed, why: no sequences, nobody enrolled, no play item due
    why_nothing: str | None = None


def latest_evaluated_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run whose rule results stand now (manual actions decide on them)."""
    return sql.scalar(con, "decide/latest_evaluation")


def was_evaluated(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return bool(con.execute("select count(*) from rules.evaluations where run_id = ?",
                            [run_id]).fetchall()[0][0])


def prepare(con: duckdb.DuckDBPyConnection, match_run: str, requests: pa.Table,
            sequencer: str) -> None:
    """Fill the temp tables every decision SQL file reads."""
    load_table(con, "d_requests", requests, REQUEST_SCHEMA)
    sql.materialize(con, "d_scope", "decide/scope", run_id=match_run, sequencer=sequencer)
    sql.materialize(con, "d_matches", "decide/matches", run_id=match_run)
    sql.materialize(con, "d_rejected", "decide/rejected")


def compute(con: duckdb.DuckDBPyConnection, *, with_unenrolls: bool) -> None:
    """Run the decision SQL: d_unenroll, d_exclusions, d_enroll."""
    sql.materialize(con, "d_unenroll", "decide/unenroll", with_unenrolls=with_unenrolls)
    sql.materialize(con, "d_exclusions", "decide/exclusions")
    sql.materialize(con, "d_enroll", "decide/enroll")


def record(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, *,
           dry_run: bool) -> int:
    """Write decisions and, unless a dry run, outbox rows, events and play-queue
    outcomes; returns how many outbox rows are new."""
    sql.run(con, "decide/write_decisions", run_id=run_id, now=now)
    if dry_run:
        return 0
    sql.materialize(con, "d_changes", "decide/changes", run_id=run_id)
    sql.run(con, "decide/new_changes")
    sql.run(con, "decide/write_outbox", run_id=run_id, now=now)
    sql.run(con, "decide/write_events", run_id=run_id, now=now)
    sql.run(con, "decide/write_queue", run_id=run_id)
    return int(con.execute("select count(*) from d_new_changes").fetchall()[0][0])


def summarize(con: duckdb.DuckDBPyConnection, result: DecideResult) -> DecideResult:
    """Fill the counts from the temp tables of this decision."""
    row = sql.fetch(con, "decide/counts")[0]
    result.unenroll, result.enroll, result.skip, result.block, result.refused, result.held = row
    result.rejected_before = int(sql.scalar(con, "decide/still_rejected"))
    return result


def decide_on(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, requests: pa.Table,
              *, match_run: str, sequencer: str, dry_run: bool = False,
              with_unenrolls: bool = True) -> DecideResult:
    """One decision on an open writer connection, in one transaction: the unenrolls
    `match_run`'s matches call for (when `with_unenrolls`) and each request's outcome.

    Change ids are deterministic, so re-running the same decision writes no second
    outbox row or event; the cycle's decision of a run is written once.
    """
    with transaction(con):
        result = DecideResult(run_id=run_id, dry_run=dry_run)
        decided = con.execute("select count(*) from ops.decisions where run_id = ?",
                              [run_id]).fetchall()[0][0]
        if with_unenrolls and decided:
            # the flow was retried after this run's decision was committed
            result.warnings.append(f"run {run_id} was decided before; nothing written again")
            return result
        prepare(con, match_run, requests, sequencer)
        compute(con, with_unenrolls=with_unenrolls)
        summarize(con, result)
        result.new_changes = record(con, run_id, now, dry_run=dry_run)
    return result


def exclusions_of(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The blocking rules of the last decision on this connection, one row per rule."""
    return sql.as_dicts(con.execute("select * from d_exclusions order by request_id, rule"))


def outcomes_of(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each request's outcome in the last decision on this connection."""
    return sql.as_dicts(con.execute("select * from d_enroll order by request_id"))


def decide(db_path: str | Path, project_dir: str | Path, run_id: str, now: datetime, *,
           sequencer: str = "hubspot", dry_run: bool = False) -> DecideResult:
    """The cycle's decision step, after evaluate_rules and plays.queue_plays: unenroll
    whom the run's matches remove, and decide each play item released by `now`.

    Fail closed: a run whose rules were not evaluated decides nothing.
    """
    loaded = plays.load_plays(project_dir)
    with connect(db_path) as con:
        if not was_evaluated(con, run_id):
            return DecideResult(run_id=run_id, dry_run=dry_run, warnings=[
                f"rules were not evaluated in run {run_id}: nothing unenrolled, no play "
                "item released (fail closed)"])
        requests, warnings = plays.due_requests(con, loaded, now, sequencer)
        result = decide_on(con, run_id, now, requests, match_run=run_id, sequencer=sequencer,
                           dry_run=dry_run)
        if not (result.unenroll or result.enroll or result.skip or result.block
                or result.refused or result.held or result.warnings):
            result.why_nothing = why_nothing(con, sequencer)
    result.warnings.extend(warnings)
    return result


def why_nothing(con: duckdb.DuckDBPyConnection, sequencer: str) -> str:
    """One line on why a decision changed nothing, so an empty first cycle is not a puzzle."""
    sequences, enrolled, queued = sql.fetch(con, "decide/why_nothing", sequencer=sequencer)[0]
    if not sequences:
        return (f"the {sequencer} sequencer has no sequences, so there is no one to unenroll "
                "or enroll (the sandbox has none unless started with --enrollments N)")
    waiting = f"; {queued:,} play items wait for their release time" if queued else ""
    if not enrolled:
        return (f"nobody is in any of the {sequences:,} {sequencer} sequences and no play "
                f"released anyone{waiting}")
    return (f"no rule matches any of the {enrolled:,} people enrolled in {sequences:,} "
            f"{sequencer} sequences, and no play released anyone{waiting}")
