"""Run the exclusion rules of a cycle: the entry points the flow calls.

`evaluate_rules` does one cycle's rule step in three phases, because DuckDB cannot open
a file read-only while the same process holds a read-write connection to it:

1. writer: reload the CSV lists, record new versions of rules and rulesets;
2. reader (read-only, external access off, configuration locked): run every version in
   force and every pending one, each timed, each result kept as Arrow;
3. writer: in one transaction, store what ran (`rules.runs`), whom it names
   (`rules.matches`, company rows expanded to every person at the company), what each
   rule does per sequence (`rules.scopes`) and what each pending version will change
   (`rules.pending_changes`).

A rule that cannot run is recorded with its error and *fails closed*: its scope rows say
`failed`, so the decision step blocks new enrollments where it applies and removes no
one on its account. The other rules still run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks import store
from tasks.errors import StoreError
from tasks.propagation import (
    DEFAULT_PROPAGATION_DELAY,
    Observation,
    VersionState,
    observe,
)
from tasks.rule_files import (
    LEVEL_COLUMN,
    Play,
    Project,
    first_line,
    load_lists,
    load_project,
    statement_problem,
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


def naive_utc(moment: datetime) -> datetime:
    """Cycle times are naive UTC, like every timestamp seqguard stores."""
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


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


def run_version(con: duckdb.DuckDBPyConnection, obs: Observation,
                is_pending: bool) -> tuple[RuleRun, pa.Table | None]:
    """Run one version's SELECT; the result is normalized to (key column, reason)."""
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
    try:
        table = con.sql(obs.sql).to_arrow_table()
    except duckdb.Error as exc:
        run.seconds = time.perf_counter() - started
        run.status = "error"
        run.error = f"{obs.path}:{obs.sql_line + _error_line(exc) - 1}: {first_line(exc)}; " \
                    "fix the rule (seqguard lint shows the same)"
        return run, None
    run.seconds = time.perf_counter() - started
    output, error = normalize_output(table, obs.level or "contact")
    if error:
        run.status, run.error = "error", f"{obs.path}:{obs.sql_line}: {error}"
        return run, None
    run.output_rows = output.num_rows
    return run, output


def _error_line(exc: BaseException) -> int:
    match = re.search(r"LINE (\d+):", str(exc))
    return int(match.group(1)) if match else 1


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


def normalize_output(table: pa.Table, level: str) -> tuple[pa.Table, str | None]:
    """(key, reason) as strings, keys trimmed and lower case, rows without a key dropped;
    or the reason the output does not fit the level. Vectorized (Arrow compute)."""
    problem = output_column_problem(table.column_names, level)
    if problem:
        return table, problem
    names = [c.lower() for c in table.column_names]
    key = LEVEL_COLUMN[level]
    key_col = pc.utf8_lower(pc.ascii_trim_whitespace(table.column(names.index(key))
                                                     .cast(pa.string())))
    reason = (table.column(names.index("reason")).cast(pa.string()) if "reason" in names
              else pa.nulls(table.num_rows, pa.string()))
    output = pa.table({key: key_col, "reason": reason})
    return output.filter(pc.fill_null(pc.not_equal(key_col, ""), False)), None


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
    phases: dict[str, float] = field(default_factory=dict)  # seconds: prepare, run, store


def evaluate_rules(
    db_path: str | Path,
    project_dir: str | Path,
    run_id: str,
    now: datetime,
    propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
    only: list[str] | None = None,
    keep_runs: int = KEEP_RUNS,
) -> Evaluation:
    """Evaluate every in-force and pending rule version for one run (see the module doc).

    `only` narrows the run to some rules; the others keep their matches from the last
    run of the same version (or fail closed when there is none).
    """
    started_at = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    now = naive_utc(now)
    project = load_project(project_dir)
    with store.connect(db_path) as con, store.transaction(con):
        list_problems = load_lists(con, project)
        state = observe(con, project, now, propagation_delay)
    phases = {"prepare": time.perf_counter() - started}
    jobs = versions_to_run(state)
    runs: list[RuleRun] = []
    outputs: dict[tuple[str, str, bool], pa.Table] = {}
    with rule_connection(db_path, now) as ro:
        for obs, is_pending in jobs:
            if only is not None and obs.name not in only:
                runs.append(RuleRun(obs.name, obs.version, is_pending, "carried", obs.level,
                                    obs.seq, effective_from=obs.effective_from))
                continue
            run, output = run_version(ro, obs, is_pending)
            runs.append(run)
            if output is not None:
                outputs[(run.rule, run.version, is_pending)] = output
    phases["run"] = time.perf_counter() - started - phases["prepare"]
    with store.connect(db_path) as con, store.transaction(con):
        forget_run(con, run_id)  # a re-run of the same run replaces it, never doubles it
        carried = _carry_forward(con, runs)
        results = [(run, output) for run in runs
                   if (output := outputs.get((run.rule, run.version, run.is_pending)))
                   is not None]
        store_matches(con, run_id, results, carried)
        count_people(con, run_id, runs)
        toggles, missing = in_force_toggles(state, runs, project)
        runs += missing
        scopes = compute_scopes(toggles, ruleset_view(state), play_views(project.plays))
        problems = [str(p) for p in list_problems]
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
    phases["store"] = time.perf_counter() - started - phases["prepare"] - phases["run"]
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


# where a cycle keeps its matches (008_match_rows.sql); preview and explain use temp
# tables of the same shape
CYCLE_MATCH_TABLES = ("rules.run_sets", "rules.match_rows")

# one pass over the stored rows still open of the versions being stored and their new
# results: what a result gained (stored_at null) and what it lost (rule null)
DIFF_ROWS_SQL = """
create or replace temp table match_diff as
with
open_rows as (
    select m.rowid as stored_at, m.*
    from {rows} as m
    semi join stored_versions as v using (rule, version, is_pending)
    where m.to_seq is null
),
new as (
    select distinct n.*
    from new_rows as n
    semi join stored_versions as v using (rule, version, is_pending)
),
final as (
    select o.stored_at, n.*
    from new as n
    full join open_rows as o
        on n.rule = o.rule and n.version = o.version and n.is_pending = o.is_pending
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
insert into {rows}
select rule, version, is_pending, email, company_domain, reason, $seq, null
from match_diff
where stored_at is null
"""


def store_matches(con: duckdb.DuckDBPyConnection, run_id: str,
                  results: list[tuple[RuleRun, pa.Table]], carried: Iterable[RuleRun] = (),
                  tables: tuple[str, str] = CYCLE_MATCH_TABLES) -> None:
    """Record a run's results (normalized outputs, see normalize_output) and the versions it
    carries forward unchanged.

    Stored rows are ranges of runs: only the rows a version's result gained since it was
    last stored are written, and the ones it lost are closed; from one cycle to the next
    that is a few rows, not the whole result again. A result whose fingerprint equals the
    stored one is not compared at all.
    """
    runs_table, rows_table = tables
    # after every range stored so far, even when pruning emptied the run table
    seq = con.execute(
        f"select greatest((select coalesce(max(seq), 0) from {runs_table}), "
        f"(select coalesce(greatest(max(from_seq), max(to_seq)), 0) from {rows_table})) + 1"
    ).fetchall()[0][0]
    stored = [run for run, _ in results]
    con.register("new_rows", _result_rows(results))
    con.register("result_versions", _versions_table(stored))
    try:
        changed = _changed_versions(con, rows_table)
        con.register("stored_versions", changed)
        con.execute(DIFF_ROWS_SQL.format(rows=rows_table))
    finally:
        for name in ("new_rows", "result_versions", "stored_versions"):
            con.unregister(name)
    con.execute(CLOSE_ROWS_SQL.format(rows=rows_table), {"seq": seq})
    con.execute(OPEN_ROWS_SQL.format(rows=rows_table), {"seq": seq})
    con.execute("drop table match_diff")
    pointers = [[run_id, seq, r.rule, r.version, r.is_pending] for r in [*stored, *carried]]
    if pointers:
        con.executemany(f"insert into {runs_table} (run_id, seq, rule, version, is_pending) "
                        "values (?, ?, ?, ?, ?)", pointers)


def _changed_versions(con: duckdb.DuckDBPyConnection, rows_table: str) -> pa.Table:
    """The versions in `new_rows` whose result differs from their stored rows, by
    fingerprint (row count and the sum of the rows' hashes); the cycle's fingerprints are
    updated to the new results. Preview tables keep none: every version is new there."""
    current = con.sql(
        """
        with hashed as (
            select rule, version, is_pending,
                count(*) || ':' || sum(hash(email, company_domain, reason)) as fingerprint
            from new_rows
            group by all
        )
        select v.rule, v.version, v.is_pending, coalesce(h.fingerprint, '0:0') as fingerprint
        from result_versions as v
        left join hashed as h using (rule, version, is_pending)
        """
    ).to_arrow_table()
    if rows_table != CYCLE_MATCH_TABLES[1]:
        return current
    con.register("current_fingerprints", current)
    try:
        changed = con.sql(
            "select c.* from current_fingerprints as c "
            "anti join rules.match_fingerprints using (rule, version, is_pending, fingerprint)"
        ).to_arrow_table()
        con.execute("insert or replace into rules.match_fingerprints "
                    "select * from current_fingerprints")
    finally:
        con.unregister("current_fingerprints")
    return changed


def _versions_table(runs: Iterable[RuleRun]) -> pa.Table:
    runs = list(runs)
    return pa.table({"rule": pa.array([r.rule for r in runs], pa.string()),
                     "version": pa.array([r.version for r in runs], pa.string()),
                     "is_pending": pa.array([r.is_pending for r in runs], pa.bool_())})


RESULT_COLUMNS = (("rule", pa.string()), ("version", pa.string()), ("is_pending", pa.bool_()),
                  ("email", pa.string()), ("company_domain", pa.string()),
                  ("reason", pa.string()))


def _result_rows(results: list[tuple[RuleRun, pa.Table]]) -> pa.Table:
    """Every result as one table of (rule, version, is_pending, email, company_domain,
    reason): one column per level's key, the other null."""
    parts = []
    for run, output in results:
        key = LEVEL_COLUMN[run.level or "contact"]
        size = output.num_rows
        parts.append(pa.table({
            "rule": pa.repeat(pa.scalar(run.rule, pa.string()), size),
            "version": pa.repeat(pa.scalar(run.version, pa.string()), size),
            "is_pending": pa.repeat(pa.scalar(run.is_pending, pa.bool_()), size),
            "email": output.column(key) if key == "email" else pa.nulls(size, pa.string()),
            "company_domain": (output.column(key) if key == "company_domain"
                               else pa.nulls(size, pa.string())),
            "reason": output.column("reason"),
        }))
    if not parts:
        return pa.table({name: pa.array([], kind) for name, kind in RESULT_COLUMNS})
    return pa.concat_tables(parts)


def count_people(con: duckdb.DuckDBPyConnection, run_id: str, runs: list[RuleRun],
                 tables: tuple[str, str] = CYCLE_MATCH_TABLES) -> None:
    """Set `people` of each stored version: the people its rows reach in this run. Contact
    rows are people already (a person named twice counts twice, as it costs less than
    deduplicating); company rows, and versions carried forward, are counted in the view."""
    counted = []
    for run in runs:
        if run.status == "ok" and run.level != "company":
            run.people = run.output_rows
        elif run.status in ("ok", "carried"):
            counted.append(run)
    if not counted:
        return
    con.register("counted_versions", _versions_table(counted))
    try:
        counts = {
            (rule, version, is_pending): people
            for rule, version, is_pending, people in con.execute(
                "select rule, version, is_pending, count(distinct email) "
                "from rules.people_of(?, ?) semi join counted_versions "
                "using (rule, version, is_pending) where run_id = ? group by all",
                [*tables, run_id]).fetchall()
        }
    finally:
        con.unregister("counted_versions")
    for run in counted:
        run.people = counts.get((run.rule, run.version, run.is_pending), 0)


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


def _save_runs(con: duckdb.DuckDBPyConnection, run_id: str, runs: list[RuleRun],
               project: Project, list_problems: list) -> None:
    rows = [[run_id, "rule", r.rule, r.seq, r.version, r.is_pending, r.status, r.error,
             r.seconds, r.output_rows, r.people, r.effective_from] for r in runs]
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
    if rows:
        con.executemany(
            "insert into rules.runs (run_id, kind, rule, seq, version, is_pending, status, "
            "error, seconds, output_rows, people, effective_from) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


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
        con.execute(DROP_UNSEEN_ROWS_SQL)
        con.execute("delete from rules.match_fingerprints where (rule, version, is_pending) "
                    "not in (select rule, version, is_pending from rules.run_sets)")
    con.execute("drop table old_runs")


# rows no kept run sees: closed before the oldest kept run, or of a version no kept run
# stored (a replaced version, or a rule failing since)
DROP_UNSEEN_ROWS_SQL = """
delete from rules.match_rows
where rowid in (
    select m.rowid
    from rules.match_rows as m
    anti join rules.run_sets as r using (rule, version, is_pending)
    union all
    select rowid
    from rules.match_rows
    where to_seq <= (select min(seq) from rules.run_sets)
)
"""


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
              c["error"], c["newly_excluded"], c["no_longer_excluded"], c["would_remove"],
              c["summary"]] for c in changes],
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
