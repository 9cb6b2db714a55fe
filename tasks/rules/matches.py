"""Where a run's matches are kept: ranges of runs, diffed bucket by bucket.

From one cycle to the next most rules name nearly the same people: a sliding activity
window changes a few hundred rows of a million. Storing every result again, or even
comparing every row with the stored ones, cost as much as running the rules. So a run is
stored in two steps, in the writer's transaction:

1. `result_changes`: every row's hash puts it in one of `rules.bucket_of`'s buckets, and
   each version's fingerprint per bucket (row count, sum of row hashes) is compared with
   the stored one. Only the rows of buckets that differ go on.
2. `apply_changes`: those rows are compared exactly with the stored open rows of the same
   buckets; what a result gained is opened at the run's sequence, what it lost is closed
   there, the changed buckets' fingerprints are stored, and the run records which
   versions it stored (`run_sets`). `rules.matches` reads the ranges back.

`company_people` counts the people company rows reach, and `unmatched_rows` the rows of
each result that reach no one, for the run report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from tasks.db import sql
from tasks.db.arrow import insert_rows, registered
from tasks.rules.engine import RuleRun


@dataclass(frozen=True)
class MatchTables:
    """The tables one set of runs is stored in (008/009 schema files): the cycle's, or
    temp tables of the same shape for preview, which keeps no fingerprints."""

    run_sets: str
    match_rows: str
    fingerprints: str | None


CYCLE_MATCH_TABLES = MatchTables("rules.run_sets", "rules.match_rows",
                                 "rules.match_fingerprints")

# every result in one shape: the key of its level in its column, the other null
RESULT_SCHEMA = pa.schema([("email", pa.string()), ("company_domain", pa.string()),
                           ("reason", pa.string()), ("row_hash", pa.uint64()),
                           ("slot", pa.int32())])


@dataclass
class ResultChanges:
    """What `apply_changes` needs of a run's results: the rows of the buckets that changed,
    the new fingerprints of those buckets, and every version stored."""

    rows: pa.Table
    buckets: pa.Table
    versions: list[tuple[str, str, bool]]


def result_changes(con: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]],
                   tables: MatchTables = CYCLE_MATCH_TABLES) -> ResultChanges:
    """The changed buckets of `results` (each normalized by tasks.rules.engine.normalized_sql)
    against the fingerprints stored in `tables`."""
    runs = [run for run, _ in results]
    fingerprints = tables.fingerprints or "(select * from rules.match_fingerprints where false)"
    with _registered(con, results):
        sql.run(con, sql.query("rules/changed_buckets", fingerprints=fingerprints))
        rows = sql.arrow(con, "rules/changed_rows")
        buckets = con.sql("select * exclude (slot) from changed_buckets").to_arrow_table()
        con.execute("drop table changed_buckets")
    return ResultChanges(rows, buckets, [(r.rule, r.version, r.is_pending) for r in runs])


def company_people(con: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]]
                   ) -> dict[tuple[str, str, bool], int]:
    """The people the company-level results reach, per version (reads crm.* only, so the
    cycle runs it on a cursor of its own beside the store)."""
    company = [(run, output) for run, output in results if run.level == "company"]
    if not company:
        return {}
    with _registered(con, company):
        sql.run(con, "rules/company_results")
        found = sql.fetch(con, "rules/people")
        con.execute("drop view company_match_rows; drop view company_run_sets")
    return {(rule, version, is_pending): people for rule, version, is_pending, people in found}


def unmatched_rows(con: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]]
                   ) -> dict[tuple[str, str, bool], int]:
    """Per version, the rows of its result that reach no one (reads crm.* only)."""
    if not results:
        return {}
    with _registered(con, results):
        found = sql.fetch(con, "rules/unmatched_rows")
    runs = [run for run, _ in results]
    return {(runs[slot].rule, runs[slot].version, runs[slot].is_pending): count
            for slot, count in found}


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]]
                ) -> Iterator[None]:
    """The results as `result_rows` and their versions as `result_versions`."""
    with registered(con, result_rows=_slotted_rows(results),
                    result_versions=_versions_table(run for run, _ in results)):
        yield


def _slotted_rows(results: list[tuple[RuleRun, pa.Table]]) -> pa.Table:
    """Every result in one RESULT_SCHEMA table, each row tagged with its result's slot
    (its index in `results`)."""
    parts = []
    for slot, (run, output) in enumerate(results):
        size = output.num_rows
        key = output.column(0)
        empty = pa.nulls(size, pa.string())
        is_company = run.level == "company"
        parts.append(pa.table([empty if is_company else key, key if is_company else empty,
                               output.column("reason"), output.column("row_hash"),
                               pa.repeat(pa.scalar(slot, pa.int32()), size)],
                              schema=RESULT_SCHEMA))
    return pa.concat_tables(parts) if parts else RESULT_SCHEMA.empty_table()


def _versions_table(runs: Iterable[RuleRun]) -> pa.Table:
    runs = list(runs)
    return pa.table({
        "slot": pa.array(range(len(runs)), pa.int32()),
        "rule": pa.array([r.rule for r in runs], pa.string()),
        "version": pa.array([r.version for r in runs], pa.string()),
        "is_pending": pa.array([r.is_pending for r in runs], pa.bool_()),
    })


def apply_changes(con: duckdb.DuckDBPyConnection, run_id: str, changes: ResultChanges,
                  carried: Iterable[RuleRun] = (), tables: MatchTables = CYCLE_MATCH_TABLES
                  ) -> None:
    """Record a run: open and close rows where its results changed, store the changed
    buckets' fingerprints, and note every version it stored or carried forward."""
    # after every range stored so far, even when pruning emptied the run table
    seq = sql.scalar(con, sql.query("rules/next_seq", run_sets=tables.run_sets,
                                    rows=tables.match_rows))
    with registered(con, changed_rows=changes.rows, changed_buckets=changes.buckets):
        sql.run(con, sql.query("rules/diff_rows", rows=tables.match_rows))
        if tables.fingerprints:
            sql.run(con, sql.query("rules/store_fingerprints",
                                       fingerprints=tables.fingerprints))
    sql.run(con, sql.query("rules/close_and_open_rows", rows=tables.match_rows), seq=seq)
    pointers = [[run_id, seq, *version] for version in changes.versions]
    pointers += [[run_id, seq, r.rule, r.version, r.is_pending] for r in carried]
    insert_rows(con, tables.run_sets, ("run_id", "seq", "rule", "version", "is_pending"),
                      pointers)


def carried_people(con: duckdb.DuckDBPyConnection, run_id: str, carried: list[RuleRun]
                   ) -> dict[tuple[str, str, bool], int]:
    """The people each carried-forward version reaches in this run (from its stored rows)."""
    if not carried:
        return {}
    found = sql.fetch(con, "rules/people_of_run", run_id=run_id)
    wanted = {(r.rule, r.version, r.is_pending) for r in carried}
    return {(rule, version, is_pending): people for rule, version, is_pending, people in found
            if (rule, version, is_pending) in wanted}


def prune(con: duckdb.DuckDBPyConnection, keep_runs: int) -> None:
    """Keep matches and scopes of the last `keep_runs` evaluations (runs stay forever)."""
    sql.run(con, "rules/old_runs", keep_runs=keep_runs)
    if con.execute("select count(*) from old_runs").fetchall()[0][0]:
        sql.run(con, "rules/prune")
        _drop_unseen_versions(con)
    con.execute("drop table old_runs")


def _drop_unseen_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Rows and fingerprints of the versions no kept run sees. Most cycles there are none,
    and the check reads the small fingerprint table, not every stored row."""
    sql.run(con, "rules/unseen_versions")
    if con.execute("select count(*) from unseen_versions").fetchall()[0][0]:
        sql.run(con, "rules/drop_unseen_versions")
    con.execute("drop table unseen_versions")
