"""Run the exclusion rules of a cycle: the entry points the flow calls.

`evaluate_rules` does one cycle's rule step in three phases, because DuckDB cannot open
a file read-only while the same process holds a read-write connection to it:

1. writer: reload the CSV lists, record new versions of rules and rulesets;
2. reader (read-only, external access off, configuration locked): run every version in
   force and every pending one, each timed, each result normalized and kept as Arrow;
3. writer: in one transaction, store what ran (`rules.runs`), whom it names (compared
   with the stored matches, only what changed is written, tasks/match_store.py;
   `rules.matches` reads them, company rows reaching every person at the company), what
   each rule does per sequence (`rules.scopes`) and what each pending version will
   change (`rules.pending_changes`).

A rule that cannot run, or runs past its time budget (tasks/rule_budget.py), is recorded
with its error and *fails closed*: its scope rows say `failed`, so the decision step
blocks new enrollments where it applies and removes no one on its account. The other
rules still run. Each rule's keys go through the model's own normalizations
(crm.normalize_email, crm.normalize_domain), and the rows that reach no one are counted
per rule (`unmatched_rows`), so a rule that names nobody says so instead of reporting ok.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.clock import naive_utc, utcnow
from tasks.core.config import DEFAULT_RULE_TIMEOUT
from tasks.core.errors import StoreError
from tasks.core.redact import redact
from tasks.db import store
from tasks.db.arrow import insert_rows
from tasks.list_files import load_lists
from tasks.match_store import (
    apply_changes,
    carried_people,
    company_people,
    prune,
    result_changes,
    unmatched_rows,
)
from tasks.propagation import (
    DEFAULT_PROPAGATION_DELAY,
    Observation,
    VersionState,
    observe,
)
from tasks.rule_budget import BudgetExceeded, within_budget
from tasks.rule_files import (
    LEVEL_COLUMN,
    Play,
    Project,
    duckdb_line,
    first_line,
    load_project,
    statement_problem,
    strip_semicolon,
)

# the settings every rule connection is opened with; locked so a rule cannot undo them
RULE_CONNECTION_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "lock_configuration": True,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}
HAS_OPTION_MACRO = (
    "create or replace temp macro has_option(value, option) as list_contains("
    "list_transform(string_split(coalesce(value, ''), ';'), lambda x: trim(x)), option)"
)
KEEP_RUNS = 3  # matches and scopes are kept for the last few evaluations only
RULESETS_PSEUDO_RULE = "rulesets.yml"


def define_macros(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """The helpers every rule may call: cycle_time() (the run's now) and has_option()."""
    stamp = naive_utc(now).isoformat(sep=" ")
    con.execute(f"create or replace temp macro cycle_time() as timestamp '{stamp}'")
    con.execute(HAS_OPTION_MACRO)


@contextmanager
def rule_connection(db_path: str | Path, now: datetime) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection with external access off and the configuration locked."""
    if not Path(db_path).exists():
        raise StoreError(f"{db_path}: no database yet; run `seqguard cycle` first or pass --db")
    with store.connect(db_path, read_only=True, config=RULE_CONNECTION_CONFIG) as con:
        define_macros(con, now)
        yield con


# --- running one version -----------------------------------------------------------------

@dataclass
class RuleRun:
    """What happened when one version of one rule was run."""

    rule: str
    version: str
    is_pending: bool
    status: str  # ok | error | disabled | deleted | carried
    level: str | None = None
    seq: int | None = None
    error: str | None = None
    seconds: float = 0.0
    output_rows: int = 0
    people: int = 0  # rows stored: company rows expanded to the people they reach
    # rows that reach no one: no key (or none that normalizes), or a key no person or
    # staffed company in crm.* has
    unmatched_rows: int = 0
    effective_from: datetime | None = None


def version_problem(obs: Observation) -> str | None:
    """Why a version cannot run at all (a broken file), as one line."""
    if obs.problem:
        problems = obs.problem.split("; sql/")
        more = f" (+{len(problems) - 1} more; run seqguard lint)" if len(problems) > 1 else ""
        return problems[0] + more
    problem = statement_problem(obs.sql)
    if problem:
        return f"{obs.path}:{obs.sql_line + problem[0] - 1}: {problem[1]}"
    return None


def run_version(con: duckdb.DuckDBPyConnection, obs: Observation, is_pending: bool,
                budget: timedelta = DEFAULT_RULE_TIMEOUT) -> tuple[RuleRun, pa.Table | None]:
    """Run one version's SELECT within `budget`; the result is normalized
    (normalized_sql) and rows without a key are dropped (counted as unmatched)."""
    run = RuleRun(rule=obs.name, version=obs.version, is_pending=is_pending, status="ok",
                  level=obs.level, seq=obs.seq, effective_from=obs.effective_from)
    if obs.is_deleted:
        run.status = "deleted"
        return run, None
    if not obs.enabled:
        run.status = "disabled"
        return run, None
    problem = version_problem(obs)
    if problem:
        run.status, run.error = "error", problem
        return run, None
    started = time.perf_counter()
    table, error = query_version(con, obs, budget=budget)
    run.seconds = time.perf_counter() - started
    if table is None:
        run.status, run.error = "error", error
        return run, None
    output = _drop_keyless(table, LEVEL_COLUMN[obs.level or "contact"])
    run.output_rows = output.num_rows
    run.unmatched_rows = table.num_rows - output.num_rows
    return run, output


def query_version(con: duckdb.DuckDBPyConnection, obs: Observation, where: str | None = None,
                  params: dict | None = None, budget: timedelta = DEFAULT_RULE_TIMEOUT,
                  ) -> tuple[pa.Table | None, str | None]:
    """A version's result, normalized (normalized_sql) and filtered by `where` if given;
    or None and the file:line problem when it cannot run, returns the wrong columns or
    runs past `budget`."""
    level = obs.level or "contact"
    try:
        with within_budget(con, budget):
            columns = con.sql(obs.sql).columns
            problem = output_column_problem(columns, level)
            if problem:
                return None, f"{obs.path}:{obs.sql_line}: {problem}"
            sql = normalized_sql(obs.sql, columns, level)
            if where:
                sql = f"select * from ({sql}) where {where}"
            return con.sql(sql, params=params).to_arrow_table(), None
    except BudgetExceeded as exc:
        return None, (f"{obs.path}: rule '{obs.name}' was {exc} and fails closed; make the "
                      "query cheaper, or raise rule_timeout in seqguard.yml")
    except duckdb.Error as exc:
        return None, (f"{obs.path}:{obs.sql_line + duckdb_line(str(exc)) - 1}: "
                      f"{first_line(exc)}; fix the rule (seqguard lint shows the same)")


def output_column_problem(columns: Iterable[str], level: str) -> str | None:
    """Whether a rule's output columns fit its level: `email` or `company_domain`, + reason."""
    names = [c.lower() for c in columns]
    need = LEVEL_COLUMN[level]
    other = LEVEL_COLUMN["company" if level == "contact" else "contact"]
    if need not in names:
        if other in names:
            return (f"returns {other} but the header says level: {level}; return {need} or "
                    f"change the level")
        return (f"returns no {need} column; a {level} rule returns {need} (and optionally "
                f"reason): alias the column `as {need}`")
    extra = [c for c in names if c not in (need, "reason")]
    if extra:
        return (f"returns column '{extra[0]}', which a {level} rule does not use; return only "
                f"{need} and optionally reason")
    if len(set(names)) != len(names):
        return f"returns a column twice ({', '.join(names)}); return each once"
    return None


def normalized_sql(sql: str, columns: Iterable[str], level: str) -> str:
    """The rule's SELECT (with these output columns, checked by output_column_problem) as
    its level's key normalized as the model keys people and companies (crm.normalize_email:
    lower case, no surrounding white space of any kind; crm.normalize_domain: no scheme,
    `www.` or path), its reason as text, and the row's hash (which rules.bucket_of buckets).

    The rule starts on the query's first line, so DuckDB's line numbers stay the rule's.
    Rows without a key are dropped afterwards: a filter here would be pushed into the
    rule's own plan, and that made some rules several times slower.
    """
    names = {c.lower(): '"' + c.replace('"', '""') + '"' for c in columns}
    key = LEVEL_COLUMN[level]
    normalize = "crm.normalize_email" if level == "contact" else "crm.normalize_domain"
    value = f"{normalize}({names[key]}::varchar)"
    reason = names.get("reason", "null")
    return (f"select *, hash({key}, reason) as row_hash from (select {value} as {key}, "
            f"{reason}::varchar as reason from ({strip_semicolon(sql)}\n) as rule_output"
            ") as normalized")


def _drop_keyless(table: pa.Table, key: str) -> pa.Table:
    keep = pc.fill_null(pc.not_equal(table.column(key), ""), False)
    return table if pc.all(keep).as_py() else table.filter(keep)


# --- scopes --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleToggles:
    """What a rule's header (or its failure) says about where it applies."""

    name: str
    version: str | None
    exclude_from_sequences: bool
    remove_enrolled: bool
    failed: bool = False


@dataclass(frozen=True)
class RulesetView:
    """The rulesets in force: the default's rules and each named sequence's."""

    default: tuple[str, ...] = ()
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rules_of(self, sequence: str | None) -> tuple[tuple[str, ...], bool]:
        """(rules, is_default) for a sequence; unnamed sequences use the default."""
        if sequence is not None and sequence in self.sequences:
            return self.sequences[sequence], False
        return self.default, True


@dataclass(frozen=True)
class PlayView:
    """What scopes need of a play: its sequence and its own exclusions."""

    name: str
    sequence: str
    exclusions: tuple[str, ...]


@dataclass(frozen=True)
class Scope:
    """What one rule does in one sequence (None = any sequence not named), or for a play."""

    rule: str
    version: str | None
    sequence: str | None
    play: str | None
    blocks_new: bool
    removes_enrolled: bool
    why: tuple[str, ...]
    failed: bool = False


def compute_scopes(rules: Iterable[RuleToggles], rulesets: RulesetView,
                   plays: Iterable[PlayView]) -> list[Scope]:
    """Per rule and sequence: blocks new enrollments? removes enrolled people? why?

    DESIGN "Semantics": a new enrollment into S is blocked by a matching rule with
    exclude_from_sequences on (global), in ruleset(S) (ruleset, or default_ruleset for a
    sequence without its own), or in the play's exclusions (play). An enrolled person is
    removed by a matching rule with remove_enrolled on and global or ruleset scope. A
    failed rule blocks where it applies and removes no one. Every named sequence gets a
    row for every rule (blocks false where it does nothing), so a sequence with its own
    ruleset is never mistaken for one that follows the default.
    """
    plays = list(plays)
    named = sorted(set(rulesets.sequences) | {p.sequence for p in plays if p.sequence})
    scopes: list[Scope] = []
    for rule in rules:
        by_sequence: dict[str | None, Scope] = {}
        for sequence in [*named, None]:
            ruleset, is_default = rulesets.rules_of(sequence)
            why: list[str] = ["global"] if rule.exclude_from_sequences else []
            if rule.name in ruleset:
                why.append("default_ruleset" if is_default else "ruleset")
            blocks = bool(why)
            scope = Scope(rule.name, rule.version, sequence, None, blocks,
                          blocks and rule.remove_enrolled and not rule.failed, tuple(why),
                          rule.failed)
            by_sequence[sequence] = scope
            scopes.append(scope)
        for play in plays:
            if rule.name in play.exclusions:
                base = by_sequence[play.sequence]
                scopes.append(Scope(rule.name, rule.version, play.sequence, play.name, True,
                                    base.removes_enrolled, (*base.why, "play"), rule.failed))
    return scopes


def ruleset_view(state: VersionState) -> RulesetView:
    """The rulesets in force, as scopes read them."""
    default: tuple[str, ...] = ()
    sequences: dict[str, tuple[str, ...]] = {}
    for obs in state.rulesets_in_force():
        if obs.is_default:
            default = tuple(obs.effective_rules)
        else:
            sequences[obs.name] = tuple(obs.effective_rules)
    return RulesetView(default, sequences)


def play_views(plays: Iterable[Play]) -> list[PlayView]:
    """Enabled plays that name a sequence (a disabled play enrolls no one)."""
    return [PlayView(p.name, p.sequence, tuple(p.exclusions))
            for p in plays if p.enabled and p.sequence]


def in_force_toggles(state: VersionState, runs: Iterable[RuleRun], project: Project,
                     ) -> tuple[list[RuleToggles], list[RuleRun]]:
    """Toggles of every in-force rule (failed ones fail closed) + runs for missing rules.

    A rule named by a ruleset or play that has no version in force is missing: it fails
    closed where it is named. A rulesets.yml that cannot be read fails closed everywhere.
    """
    failed = {r.rule for r in runs if not r.is_pending and r.status == "error"}
    toggles: list[RuleToggles] = []
    for name, resolved in sorted(state.rules.items()):
        obs = resolved.in_force
        if obs is None or obs.is_deleted or not obs.enabled:
            continue
        is_failed = name in failed
        exclude = obs.exclude_from_sequences
        toggles.append(RuleToggles(
            name, obs.version,
            # a header too broken to say where it applies blocks everywhere
            exclude if exclude is not None else True,
            bool(obs.remove_enrolled) and not is_failed,
            is_failed,
        ))
    known = {t.name for t in toggles} | {
        name for name, r in state.rules.items()
        if r.in_force is not None and not r.in_force.is_deleted}
    named: dict[str, str] = {}
    view = ruleset_view(state)
    for rule in view.default:
        named.setdefault(rule, "sql/rulesets.yml: the default ruleset")
    for sequence, rules in view.sequences.items():
        for rule in rules:
            named.setdefault(rule, f"sql/rulesets.yml: ruleset '{sequence}'")
    for play in play_views(project.plays):
        for rule in play.exclusions:
            named.setdefault(rule, f"sql/plays/{play.name}.yml")
    missing_runs = []
    for rule, where in sorted(named.items()):
        if rule in known:
            continue
        toggles.append(RuleToggles(rule, None, False, False, failed=True))
        missing_runs.append(RuleRun(
            rule=rule, version="missing", is_pending=False, status="error",
            error=f"{where} names rule '{rule}', which has no version in force; fix the name "
                  f"or add sql/exclusions/{rule}.sql"))
    if project.rulesets.broken:
        toggles.append(RuleToggles(RULESETS_PSEUDO_RULE, None, True, False, failed=True))
    return toggles, missing_runs


# --- the cycle's rule step ----------------------------------------------------------------

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
        toggles, missing = in_force_toggles(state, runs, project)
        runs += missing
        scopes = compute_scopes(toggles, ruleset_view(state), play_views(project.plays))
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
        con.execute(
            "insert or replace into rules.evaluations values (?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, started_at, seconds, len([r for r in runs if r.status == "ok"]),
             len(failed), matches],
        )
        prune(con, keep_runs)
    phases["store"] = time.perf_counter() - started - sum(phases.values())
    seconds = time.perf_counter() - started
    return Evaluation(run_id, now, seconds, len([r for r in runs if r.status == "ok"]), failed,
                      matches, runs, problems, pending, phases)


def versions_to_run(state: VersionState) -> list[tuple[Observation, bool]]:
    """Every version to run: the one in force (if any) and the pending one (if any)."""
    jobs = []
    for _name, resolved in sorted(state.rules.items()):
        if resolved.in_force is not None and not resolved.in_force.is_deleted:
            jobs.append((resolved.in_force, False))
        if resolved.pending is not None:
            jobs.append((resolved.pending, True))
    return jobs


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
        stored = con.execute(
            "select 1 from rules.run_sets where rule = ? and version = ? and is_pending = ? "
            "limit 1", [run.rule, run.version, run.is_pending]).fetchall()
        if stored:
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


SCOPE_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("rule", pa.string()), ("version", pa.string()),
    ("sequence", pa.string()), ("play", pa.string()), ("blocks_new", pa.bool_()),
    ("removes_enrolled", pa.bool_()), ("why", pa.list_(pa.string())), ("failed", pa.bool_()),
])


def scopes_table(run_id: str, scopes: list[Scope]) -> pa.Table:
    """Scopes as Arrow, in the column order of rules.scopes."""
    return pa.table({
        "run_id": [run_id] * len(scopes),
        "rule": [s.rule for s in scopes],
        "version": [s.version for s in scopes],
        "sequence": [s.sequence for s in scopes],
        "play": [s.play for s in scopes],
        "blocks_new": [s.blocks_new for s in scopes],
        "removes_enrolled": [s.removes_enrolled for s in scopes],
        "why": [list(s.why) for s in scopes],
        "failed": [s.failed for s in scopes],
    }, schema=SCOPE_SCHEMA)


def _save_scopes(con: duckdb.DuckDBPyConnection, run_id: str, scopes: list[Scope]) -> None:
    con.register("scope_rows", scopes_table(run_id, scopes))
    try:
        con.execute("insert into rules.scopes by name select * from scope_rows")
    finally:
        con.unregister("scope_rows")


def forget_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove what an earlier attempt of this run stored (a retry after a crash). Its
    match rows stay: they are the latest result of each version, which the retry diffs
    against."""
    for table in ("runs", "run_sets", "scopes", "pending_changes"):
        con.execute(f"delete from rules.{table} where run_id = ?", [run_id])


# --- what pending versions will change ---------------------------------------------------

def _enrollment_sequences(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the decision step's enrollment table is there to count against."""
    return bool(con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'ops' "
        "and table_name = 'enrollments'").fetchall()[0][0])


OPEN_ENROLLMENTS_SQL = """
create or replace temp table pending_open as
with open_enrollments as (
    select e.email, e.sequence_id, s.name
    from ops.enrollments as e
    left join ops.sequences as s on s.crm = e.crm and s.sequence_id = e.sequence_id
    where e.state in ('active', 'paused')
)
select o.email, coalesce(o.name, o.sequence_id) as label, k.key
from open_enrollments as o
left join pending_keys as k on k.key = o.sequence_id or k.key = o.name
"""

# people a pending rule version would remove, per sequence: matched by the pending version
# where it removes, and not already removed by the version in force
WOULD_REMOVE_SQL = """
select o.label as sequence, count(distinct o.email) as people
from pending_open as o
join pending_removes as r on r.key is not distinct from o.key
join rules.matches as m
    on m.run_id = $run_id and m.rule = $rule and m.version = $new_version
    and m.is_pending and m.email = o.email
where r.removes_new
    and not (r.removes_old and exists (
        select 1 from rules.matches as x
        where x.run_id = $run_id and x.rule = $rule and x.version = $old_version
            and not x.is_pending and x.email = o.email))
group by 1
order by 2 desc, 1
"""

DIFF_SQL = """
with new as (
    select distinct email from rules.matches
    where run_id = $run_id and rule = $rule and version = $new_version and is_pending
),
old as (
    select distinct email from rules.matches
    where run_id = $run_id and rule = $rule and version = $old_version and not is_pending
)
select
    (select count(*) from new anti join old using (email)),
    (select count(*) from old anti join new using (email))
"""


def save_pending_changes(con: duckdb.DuckDBPyConnection, run_id: str, state: VersionState,
                         runs: list[RuleRun], scopes: list[Scope], project: Project
                         ) -> list[dict]:
    """Per pending version: effective_from, +excluded, -excluded, removals per sequence."""
    if not state.pending():
        return []
    view = ruleset_view(state)
    plays = play_views(project.plays)
    named = sorted(set(view.sequences) | {p.sequence for p in plays})
    has_enrollments = _enrollment_sequences(con)
    if has_enrollments:
        con.execute("create or replace temp table pending_keys (key varchar)")
        if named:
            con.executemany("insert into pending_keys values (?)", [[k] for k in named])
        con.execute(OPEN_ENROLLMENTS_SQL)
    changes = []
    by_rule = {(r.rule, r.is_pending): r for r in runs}
    for name, resolved in sorted(state.rules.items()):
        new = resolved.pending
        if new is None:
            continue
        old = resolved.in_force
        run = by_rule.get((name, True))
        old_version = old.version if old is not None and not old.is_deleted else ""
        newly, gone = con.execute(DIFF_SQL, {"run_id": run_id, "rule": name,
                                             "new_version": new.version,
                                             "old_version": old_version}).fetchall()[0]
        would_remove = []
        if has_enrollments:
            would_remove = _would_remove(con, run_id, name, new, old, view, plays, named)
        change = {
            "kind": "rule", "name": name, "version": new.version,
            "effective_from": new.effective_from,
            "status": run.status if run else ("deleted" if new.is_deleted else "ok"),
            "error": run.error if run else None,
            "newly_excluded": int(newly), "no_longer_excluded": int(gone),
            "would_remove": would_remove,
        }
        change["summary"] = describe_change(change)
        changes.append(change)
    changes += _ruleset_changes(con, run_id, state, has_enrollments, named)
    if changes:
        con.executemany(
            "insert into rules.pending_changes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[run_id, c["kind"], c["name"], c["version"], c["effective_from"], c["status"],
              redact(c["error"] or "") or None, c["newly_excluded"], c["no_longer_excluded"],
              c["would_remove"], redact(c["summary"])] for c in changes],
        )
    return changes


def _would_remove(con: duckdb.DuckDBPyConnection, run_id: str, name: str, new: Observation,
                  old: Observation | None, view: RulesetView, plays: list[PlayView],
                  named: list[str]) -> list[dict]:
    """Enrolled people the pending version removes, per sequence, beyond the current one."""
    def removes(obs: Observation | None) -> dict[str | None, bool]:
        if obs is None or obs.is_deleted or not obs.enabled or obs.problem:
            return dict.fromkeys([*named, None], False)
        toggles = RuleToggles(name, obs.version, bool(obs.exclude_from_sequences),
                              bool(obs.remove_enrolled))
        return {s.sequence: s.removes_enrolled
                for s in compute_scopes([toggles], view, plays) if s.play is None}

    new_removes, old_removes = removes(new), removes(old)
    rows = [[k, new_removes.get(k, False), old_removes.get(k, False)] for k in [*named, None]]
    con.execute("create or replace temp table pending_removes "
                "(key varchar, removes_new boolean, removes_old boolean)")
    con.executemany("insert into pending_removes values (?, ?, ?)", rows)
    found = con.execute(WOULD_REMOVE_SQL, {
        "run_id": run_id, "rule": name, "new_version": new.version,
        "old_version": old.version if old is not None else ""}).fetchall()
    return [{"sequence": s, "people": int(n)} for s, n in found]


RULESET_DIFF_SQL = """
with matched as (
    select distinct rule, email from rules.matches where run_id = $run_id and not is_pending
),
gained as (
    select distinct email from matched where list_contains($added::varchar[], rule)
    except
    select distinct email from matched where list_contains($kept::varchar[], rule)
),
lost as (
    select distinct email from matched where list_contains($dropped::varchar[], rule)
    except
    select distinct email from matched where list_contains($kept_after::varchar[], rule)
)
select (select count(*) from gained), (select count(*) from lost)
"""

RULESET_REMOVE_SQL = """
select o.label as sequence, count(distinct o.email) as people
from pending_open as o
join rules.matches as m
    on m.run_id = $run_id and not m.is_pending and m.email = o.email
    and list_contains($removing::varchar[], m.rule)
where (o.key = $key or ($is_default and o.key is null))
    and o.email not in (
        select email from rules.matches
        where run_id = $run_id and not is_pending
            and list_contains($removing_before::varchar[], rule))
group by 1
order by 2 desc, 1
"""


def _ruleset_changes(con: duckdb.DuckDBPyConnection, run_id: str, state: VersionState,
                     has_enrollments: bool, named: list[str]) -> list[dict]:
    """Per pending ruleset version: who its added/dropped rules block or let go in S."""
    global_rules = {name for name, r in state.rules.items()
                    if r.in_force and not r.in_force.is_deleted and r.in_force.enabled
                    and r.in_force.exclude_from_sequences}
    removing = {name for name, r in state.rules.items()
                if r.in_force and not r.in_force.is_deleted and r.in_force.enabled
                and r.in_force.remove_enrolled}
    default = next((r.in_force for (is_default, _), r in state.rulesets.items()
                    if is_default and r.in_force), None)
    default_rules = set(default.effective_rules) if default else set()
    changes = []
    for (is_default, name), resolved in sorted(state.rulesets.items()):
        new = resolved.pending
        if new is None:
            continue
        old = resolved.in_force
        before = (set(old.effective_rules) if old and not old.is_deleted
                  else set() if is_default else default_rules)
        after = (set(new.effective_rules) if not new.is_deleted
                 else set() if is_default else default_rules)
        added = sorted(after - before - global_rules)
        dropped = sorted(before - after - global_rules)
        newly, gone = con.execute(RULESET_DIFF_SQL, {
            "run_id": run_id, "added": added, "kept": sorted(before | global_rules),
            "dropped": dropped, "kept_after": sorted(after | global_rules)}).fetchall()[0]
        would_remove: list[dict] = []
        if has_enrollments and added:
            found = con.execute(RULESET_REMOVE_SQL, {
                "run_id": run_id, "removing": sorted(set(added) & removing), "key": name,
                "is_default": is_default,
                "removing_before": sorted((before | global_rules) & removing)}).fetchall()
            would_remove = [{"sequence": s, "people": int(n)} for s, n in found]
        change = {
            "kind": "ruleset", "name": name, "version": new.version,
            "effective_from": new.effective_from, "status": "ok", "error": None,
            "newly_excluded": int(newly), "no_longer_excluded": int(gone),
            "would_remove": would_remove, "added": added, "dropped": dropped,
        }
        change["summary"] = describe_change(change)
        changes.append(change)
    return changes


def describe_change(change: dict) -> str:
    """One report line, e.g. "+120 excluded, 14 would be removed from 'X', effective 10:45"."""
    effective = change["effective_from"].strftime("%Y-%m-%d %H:%M")
    if change["kind"] == "ruleset":
        label = "default ruleset" if change["name"] == "default" else f"ruleset '{change['name']}'"
        edits = [f"+{r}" for r in change.get("added", [])] + \
                [f"-{r}" for r in change.get("dropped", [])]
        head = f"{label} ({', '.join(edits) or 'no rule change'})"
    else:
        head = f"rule {change['name']} {change['version'][:8]}"
        if change["status"] == "error":
            return f"{head}: will fail closed once effective ({change['error']}), " \
                   f"effective {effective}"
        if change["status"] in ("disabled", "deleted"):
            head += f" ({change['status']})"
    parts = [f"+{change['newly_excluded']} excluded"]
    if change["no_longer_excluded"]:
        parts.append(f"-{change['no_longer_excluded']} no longer excluded")
    parts += [f"{w['people']} would be removed from '{w['sequence']}'"
              for w in change["would_remove"]]
    return f"{head}: {', '.join(parts)}, effective {effective}"


def failed_rules(db_path: str | Path, run_id: str) -> list[dict]:
    """The rules that failed closed in a run, with their error and the sequences they block."""
    with store.connect(db_path, read_only=True) as con:
        rows = con.execute(
            """
            select s.rule, any_value(r.error) as error,
                list(distinct coalesce(s.sequence, '(any other sequence)')) filter (
                    where s.blocks_new) as blocks
            from rules.scopes as s
            left join rules.runs as r
                on r.run_id = s.run_id and r.rule = s.rule and r.status = 'error'
                and not r.is_pending
            where s.run_id = ? and s.failed
            group by s.rule
            order by s.rule
            """,
            [run_id],
        ).fetchall()
    return [{"rule": r[0], "error": r[1], "blocks": sorted(r[2] or [])} for r in rows]
