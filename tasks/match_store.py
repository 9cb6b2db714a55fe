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
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from tasks.db import sql
from tasks.db.arrow import insert_rows

if TYPE_CHECKING:
    from tasks.rules import RuleRun


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


# per version and bucket, the new fingerprint where it differs from the stored one (a
# bucket the result no longer fills gets row_count 0)
CHANGED_BUCKETS_SQL = """
create or replace temp table changed_buckets as
with
current as (
    select slot, rules.bucket_of(row_hash) as bucket, count(*) as row_count,
        sum(row_hash)::hugeint as hash_sum
    from result_rows
    group by all
),
stored as (
    select v.slot, f.bucket, f.row_count, f.hash_sum
    from {fingerprints} as f
    join result_versions as v using (rule, version, is_pending)
),
changed as (
    select coalesce(c.slot, s.slot) as slot, coalesce(c.bucket, s.bucket) as bucket,
        coalesce(c.row_count, 0) as row_count, coalesce(c.hash_sum, 0) as hash_sum
    from current as c
    full join stored as s on s.slot = c.slot and s.bucket = c.bucket
    where c.row_count is distinct from s.row_count or c.hash_sum is distinct from s.hash_sum
)
select c.slot, v.rule, v.version, v.is_pending, c.bucket, c.row_count, c.hash_sum
from changed as c
join result_versions as v using (slot)
"""
CHANGED_ROWS_SQL = """
select b.rule, b.version, b.is_pending, b.bucket, r.email, r.company_domain, r.reason
from result_rows as r
join changed_buckets as b on b.slot = r.slot and b.bucket = rules.bucket_of(r.row_hash)
"""
# company results in the shapes of run_sets and match_rows, for rules.people_of
COMPANY_RESULT_VIEWS = (
    """
    create or replace temp view company_run_sets as
    select '' as run_id, 0::bigint as seq, rule, version, is_pending
    from result_versions
    """,
    """
    create or replace temp view company_match_rows as
    select v.rule, v.version, v.is_pending, r.email, r.company_domain, r.reason,
        0::bigint as from_seq, null::bigint as to_seq
    from result_rows as r join result_versions as v using (slot)
    """,
)
PEOPLE_SQL = """
select rule, version, is_pending, count(*)  -- people_of reaches a person once per version
from rules.people_of({run_sets}, {match_rows})
{where}
group by all
"""


def result_changes(con: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]],
                   tables: MatchTables = CYCLE_MATCH_TABLES) -> ResultChanges:
    """The changed buckets of `results` (each normalized by tasks.rules.normalized_sql)
    against the fingerprints stored in `tables`."""
    runs = [run for run, _ in results]
    fingerprints = tables.fingerprints or "(select * from rules.match_fingerprints where false)"
    with _registered(con, results):
        con.execute(CHANGED_BUCKETS_SQL.format(fingerprints=fingerprints))
        rows = con.sql(CHANGED_ROWS_SQL).to_arrow_table()
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
        for view in COMPANY_RESULT_VIEWS:
            con.execute(view)
        found = con.execute(PEOPLE_SQL.format(
            run_sets="'company_run_sets'", match_rows="'company_match_rows'", where=""
        )).fetchall()
        con.execute("drop view company_match_rows")
        con.execute("drop view company_run_sets")
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
    con.register("result_rows", _slotted_rows(results))
    con.register("result_versions", _versions_table(run for run, _ in results))
    try:
        yield
    finally:
        con.unregister("result_rows")
        con.unregister("result_versions")


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


# one pass over the stored open rows of the changed buckets and those buckets' new rows:
# what the results gained (stored_at null) and what they lost (rule null)
DIFF_ROWS_SQL = """
create or replace temp table match_diff as
with
open_rows as (
    select m.rowid as stored_at, m.rule, m.version, m.is_pending, m.bucket, m.email,
        m.company_domain, m.reason
    from {rows} as m
    semi join changed_buckets as b using (rule, version, is_pending, bucket)
    -- a filter on the bucket number alone as well: it halved the time of this scan
    where m.to_seq is null and m.bucket in (select bucket from changed_buckets)
),
new as (
    select distinct * from changed_rows
),
final as (
    select o.stored_at, n.*
    from new as n
    full join open_rows as o
        on n.rule = o.rule and n.version = o.version and n.is_pending = o.is_pending
        and n.bucket = o.bucket
        and n.email is not distinct from o.email
        and n.company_domain is not distinct from o.company_domain
        and n.reason is not distinct from o.reason
    where o.stored_at is null or n.rule is null
)
select * from final
"""
CLOSE_ROWS_SQL = """
update {rows} set to_seq = $seq
where rowid in (select stored_at from match_diff where rule is null)
"""
OPEN_ROWS_SQL = """
insert into {rows} by name
select rule, version, is_pending, bucket, email, company_domain, reason, $seq as from_seq
from match_diff
where stored_at is null
"""
NEXT_SEQ_SQL = """
select greatest((select coalesce(max(seq), 0) from {run_sets}),
    (select coalesce(greatest(max(from_seq), max(to_seq)), 0) from {rows})) + 1
"""


def apply_changes(con: duckdb.DuckDBPyConnection, run_id: str, changes: ResultChanges,
                  carried: Iterable[RuleRun] = (), tables: MatchTables = CYCLE_MATCH_TABLES
                  ) -> None:
    """Record a run: open and close rows where its results changed, store the changed
    buckets' fingerprints, and note every version it stored or carried forward."""
    # after every range stored so far, even when pruning emptied the run table
    seq = con.execute(NEXT_SEQ_SQL.format(run_sets=tables.run_sets, rows=tables.match_rows)
                      ).fetchall()[0][0]
    con.register("changed_rows", changes.rows)
    con.register("changed_buckets", changes.buckets)
    try:
        con.execute(DIFF_ROWS_SQL.format(rows=tables.match_rows))
        if tables.fingerprints:
            _store_fingerprints(con, tables.fingerprints)
    finally:
        con.unregister("changed_rows")
        con.unregister("changed_buckets")
    con.execute(CLOSE_ROWS_SQL.format(rows=tables.match_rows), {"seq": seq})
    con.execute(OPEN_ROWS_SQL.format(rows=tables.match_rows), {"seq": seq})
    con.execute("drop table match_diff")
    pointers = [[run_id, seq, *version] for version in changes.versions]
    pointers += [[run_id, seq, r.rule, r.version, r.is_pending] for r in carried]
    insert_rows(con, tables.run_sets, ("run_id", "seq", "rule", "version", "is_pending"),
                      pointers)


def _store_fingerprints(con: duckdb.DuckDBPyConnection, fingerprints: str) -> None:
    con.execute(f"delete from {fingerprints} where (rule, version, is_pending, bucket) in "
                "(select (rule, version, is_pending, bucket) from changed_buckets)")
    con.execute(f"insert into {fingerprints} by name "
                "select rule, version, is_pending, bucket, row_count, hash_sum "
                "from changed_buckets where row_count > 0")


def carried_people(con: duckdb.DuckDBPyConnection, run_id: str, carried: list[RuleRun]
                   ) -> dict[tuple[str, str, bool], int]:
    """The people each carried-forward version reaches in this run (from its stored rows)."""
    if not carried:
        return {}
    found = con.execute(PEOPLE_SQL.format(
        run_sets=f"'{CYCLE_MATCH_TABLES.run_sets}'",
        match_rows=f"'{CYCLE_MATCH_TABLES.match_rows}'", where="where run_id = ?"),
        [run_id]).fetchall()
    wanted = {(r.rule, r.version, r.is_pending) for r in carried}
    return {(rule, version, is_pending): people for rule, version, is_pending, people in found
            if (rule, version, is_pending) in wanted}


def prune(con: duckdb.DuckDBPyConnection, keep_runs: int) -> None:
    """Keep matches and scopes of the last `keep_runs` evaluations (runs stay forever)."""
    con.execute(
        """
        create or replace temp table old_runs as
        select run_id from rules.evaluations
        order by now desc, started_at desc offset ?
        """,
        [keep_runs],
    )
    if con.execute("select count(*) from old_runs").fetchall()[0][0]:
        for table in ("run_sets", "scopes"):
            con.execute(f"delete from rules.{table} where run_id in (select run_id from old_runs)")
        con.execute("delete from rules.match_rows "
                    "where to_seq <= (select min(seq) from rules.run_sets)")
        _drop_unseen_versions(con)
    con.execute("drop table old_runs")


# versions with open rows (exactly those with fingerprints) that no kept run stored: a
# replaced version, a rule failing since, or what a crashed attempt of a run left
UNSEEN_VERSIONS_SQL = """
create or replace temp table unseen_versions as
select distinct rule, version, is_pending from rules.match_fingerprints
except
select rule, version, is_pending from rules.run_sets
"""


def _drop_unseen_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Rows and fingerprints of the versions no kept run sees. Most cycles there are none,
    and the check reads the small fingerprint table, not every stored row."""
    con.execute(UNSEEN_VERSIONS_SQL)
    if con.execute("select count(*) from unseen_versions").fetchall()[0][0]:
        for table in ("match_rows", "match_fingerprints"):
            con.execute(f"delete from rules.{table} where (rule, version, is_pending) in "
                        "(select (rule, version, is_pending) from unseen_versions)")
    con.execute("drop table unseen_versions")
