"""The cycle's rule step (`evaluate_rules`), in three phases, because DuckDB cannot open
a file read-only while the same process holds a read-write connection to it:

1. writer: reload the CSV lists, record new versions of rules and rulesets;
2. reader (read-only, external access off, configuration locked; tasks/rules/engine.py):
   run every version in force and every pending one, each timed, each result normalized
   and kept as Arrow;
3. writer: in one transaction, store what ran (`rules.runs`), whom it names (compared
   with the stored matches, only what changed is written, tasks/rules/matches.py;
   `rules.matches` reads them, company rows reaching every person at the company), what
   each rule does per sequence (`rules.scopes`, tasks/rules/scopes.py) and what each
   pending version will change (`rules.pending_changes`, tasks/rules/pending.py).

A rule that cannot run, or runs past its time budget, is recorded with its error and
*fails closed*: its scope rows say `failed`, so the decision step blocks new enrollments
where it applies and removes no one on its account. The other rules still run. The rows
that reach no one are counted per rule (`unmatched_rows`), so a rule that names nobody
says so instead of reporting ok."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.core.clock import naive_utc, utcnow
from tasks.core.config import DEFAULT_PROPAGATION_DELAY, DEFAULT_RULE_TIMEOUT
from tasks.core.redact import redact
from tasks.db import sql, store
from tasks.db.arrow import insert_rows, registered
from tasks.rules.engine import (
    RULE_CONNECTION_CONFIG,
    RuleRun,
    rule_connection,
    run_version,
    versions_to_run,
)
from tasks.rules.lists import load_lists
from tasks.rules.matches import (
    apply_changes,
    carried_people,
    company_people,
    prune,
    result_changes,
    unmatched_rows,
)
from tasks.rules.pending import save_pending_changes
from tasks.rules.project import Project, load_project
from tasks.rules.propagation import observe
from tasks.rules.scopes import RULESETS_PSEUDO_RULE, Scope, scopes_in_force, scopes_table

KEEP_RUNS = 3  # matches and scopes are kept for the last few evaluations only


@dataclass
class Evaluation:
    """The rule step's summary for the run report."""

    run_id: str
    now: datetime
    seconds: float
    rules_run: int
    rules_failed: list[str]
    matches: int
    runs: list[RuleRun]
    problems: list[str]  # broken lists, rulesets.yml, plays: file:line messages
    pending: list[dict]
    # seconds: prepare, run, compare (results against the stored ones), store (the rest)
    phases: dict[str, float] = field(default_factory=dict)


def evaluate_rules(
    db_path: str | Path,
    project_dir: str | Path,
    run_id: str,
    now: datetime,
    propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
    only: list[str] | None = None,
    keep_runs: int = KEEP_RUNS,
    rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT,
) -> Evaluation:
    """Evaluate every in-force and pending rule version for one run (see the module doc).

    `only` narrows the run to some rules; the others keep their matches from the last
    run of the same version (or fail closed when there is none). Each version runs
    within `rule_timeout`.
    """
    started_at = utcnow()
    started = time.perf_counter()
    now = naive_utc(now)
    project = load_project(project_dir)
    # user files load with file and network access off, like the rules that read them
    with store.connect(db_path, config=RULE_CONNECTION_CONFIG) as con, store.transaction(con):
        list_problems = load_lists(con, project)
        state = observe(con, project, now, propagation_delay)
    phases = {"prepare": time.perf_counter() - started}
    jobs = versions_to_run(state)
    runs: list[RuleRun] = []
    results: list[tuple[RuleRun, pa.Table]] = []
    with rule_connection(db_path, now) as ro:
        for obs, is_pending in jobs:
            if only is not None and obs.name not in only:
                runs.append(RuleRun(obs.name, obs.version, is_pending, "carried", obs.level,
                                    obs.seq, effective_from=obs.effective_from))
                continue
            run, output = run_version(ro, obs, is_pending, rule_timeout)
            runs.append(run)
            if output is not None:
                results.append((run, output))
    phases["run"] = time.perf_counter() - started - phases["prepare"]
    with (store.connect(db_path) as con, store.transaction(con),
          ThreadPoolExecutor(max_workers=1) as beside):
        # counting the people company rows reach only reads crm.*: it runs on a cursor of
        # its own while this connection stores, on the core the store leaves idle
        counting = beside.submit(_count_reach, con.cursor(), results)
        forget_run(con, run_id)  # a re-run of the same run replaces it, never doubles it
        carried = _carry_forward(con, runs)
        changes = result_changes(con, results)
        phases["compare"] = time.perf_counter() - started - sum(phases.values())
        apply_changes(con, run_id, changes, carried)
        people, unmatched = counting.result()
        _set_people(runs, people | carried_people(con, run_id, carried))
        for run in runs:
            run.unmatched_rows += unmatched.get((run.rule, run.version, run.is_pending), 0)
        scopes, missing = scopes_in_force(state, runs, project)
        runs += missing
        problems = [str(p) for p in list_problems + project.unread]
        problems += [str(p) for p in project.rulesets.problems]
        problems += [str(p) for play in project.plays for p in play.problems]
        _save_runs(con, run_id, runs, project, list_problems)
        _save_scopes(con, run_id, scopes)
        pending = save_pending_changes(con, run_id, state, runs, scopes, project)
        matches = sum(r.people for r in runs if r.status in ("ok", "carried"))
        failed = sorted({r.rule for r in runs if r.status == "error" and not r.is_pending}
                        | ({RULESETS_PSEUDO_RULE} if project.rulesets.broken else set()))
        seconds = time.perf_counter() - started
        sql.run(con, "rules/record_evaluation", run_id=run_id, now=now,
                    started_at=started_at, seconds=seconds,
                    rules_run=len([r for r in runs if r.status == "ok"]),
                    rules_failed=len(failed), matches=matches)
        prune(con, keep_runs)
    phases["store"] = time.perf_counter() - started - sum(phases.values())
    seconds = time.perf_counter() - started
    return Evaluation(run_id, now, seconds, len([r for r in runs if r.status == "ok"]), failed,
                      matches, runs, problems, pending, phases)


def _count_reach(cursor: duckdb.DuckDBPyConnection, results: list[tuple[RuleRun, pa.Table]]
                 ) -> tuple[dict[tuple[str, str, bool], int], dict[tuple[str, str, bool], int]]:
    """The people company results reach, and the rows of each result that reach no one."""
    with cursor:
        return company_people(cursor, results), unmatched_rows(cursor, results)


def _set_people(runs: list[RuleRun], counted: dict[tuple[str, str, bool], int]) -> None:
    """`people` of each stored version: a contact result's rows (a person named twice
    counts twice, as that costs less than deduplicating), else what rules.people_of
    counted (company rows expanded, versions carried forward)."""
    for run in runs:
        if run.status == "ok" and run.level != "company":
            run.people = run.output_rows
        elif run.status in ("ok", "carried"):
            run.people = counted.get((run.rule, run.version, run.is_pending), 0)


def _carry_forward(con: duckdb.DuckDBPyConnection, runs: list[RuleRun]) -> list[RuleRun]:
    """Rules left out by `only` keep their stored rows (their last result of the same
    version); returns those that can, marks the others failed."""
    kept = []
    for run in runs:
        if run.status != "carried":
            continue
        if sql.scalar(con, "rules/carried", rule=run.rule, version=run.version,
                      is_pending=run.is_pending):
            kept.append(run)
            continue
        run.status = "error"
        run.error = (f"rule '{run.rule}' was left out of this run and has no earlier result "
                     "for its version; run the cycle without --rules")
    return kept


RUNS_COLUMNS = ("run_id", "kind", "rule", "seq", "version", "is_pending", "status", "error",
                "seconds", "output_rows", "people", "effective_from")


def _save_runs(con: duckdb.DuckDBPyConnection, run_id: str, runs: list[RuleRun],
               project: Project, list_problems: list) -> None:
    insert_rows(con, "rules.runs", (*RUNS_COLUMNS, "unmatched_rows"), [
        [run_id, "rule", r.rule, r.seq, r.version, r.is_pending, r.status,
         redact(r.error) if r.error else None, r.seconds, r.output_rows, r.people, r.effective_from,
         r.unmatched_rows if r.status == "ok" else None] for r in runs])
    rows: list[list] = []
    failed_lists = {p.path: str(p) for p in list_problems}
    for list_file in project.lists:
        error = failed_lists.get(list_file.display)
        rows.append([run_id, "list", list_file.display, None, None, False,
                     "error" if error else "ok", error, None, None, None, None])
    if project.rulesets.broken:
        error = str(project.rulesets.problems[0])
        rows.append([run_id, "rulesets", RULESETS_PSEUDO_RULE, None, None, False, "error",
                     error + " (every sequence is blocked until it is fixed)", None, None, None,
                     None])
    for play in project.plays:
        if play.problems:
            rows.append([run_id, "play", play.name, None, None, False, "error",
                         str(play.problems[0]), None, None, None, None])
    error = RUNS_COLUMNS.index("error")  # a file's problem may quote what it read
    insert_rows(con, "rules.runs", RUNS_COLUMNS,
                      [[*r[:error], r[error] and redact(r[error]), *r[error + 1:]] for r in rows])


def _save_scopes(con: duckdb.DuckDBPyConnection, run_id: str, scopes: list[Scope]) -> None:
    with registered(con, scope_rows=scopes_table(run_id, scopes)):
        con.execute("insert into rules.scopes by name select * from scope_rows")


def forget_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove what an earlier attempt of this run stored (a retry after a crash). Its
    match rows stay: they are the latest result of each version, which the retry diffs
    against."""
    for table in ("runs", "run_sets", "scopes", "pending_changes"):
        con.execute(f"delete from rules.{table} where run_id = ?", [run_id])


def failed_rules(db_path: str | Path, run_id: str) -> list[dict]:
    """The rules that failed closed in a run, with their error and the sequences they block."""
    with store.connect(db_path, read_only=True) as con:
        rows = sql.fetch(con, "rules/failed_rules", run_id=run_id)
    return [{"rule": r[0], "error": r[1], "blocks": sorted(r[2] or [])} for r in rows]
