"""Running one rule version (or a play's audience) the way the cycle does: on a read-only
connection with external access off and the configuration locked, with `cycle_time()`
and `has_option()` defined, within the time budget (tasks/rules/budget.py), its output
checked against its level and normalized as the model keys people and companies
(crm.normalize_email, crm.normalize_domain). A version that cannot run returns its
problem as one file:line line; the caller fails it closed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.clock import naive_utc
from tasks.core.config import DEFAULT_RULE_TIMEOUT
from tasks.core.errors import StoreError
from tasks.db import sql, store
from tasks.rules.budget import BudgetExceeded, within_budget
from tasks.rules.files import LEVEL_COLUMN
from tasks.rules.propagation import Observation, VersionState
from tasks.rules.statements import duckdb_line, first_line, statement_problem, strip_semicolon

# the settings every rule connection is opened with; locked so a rule cannot undo them
RULE_CONNECTION_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "lock_configuration": True,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


def define_macros(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """cycle_time() as the run's now, shadowing the stored one (sql/rules/macros.sql, which
    also holds has_option()) for this connection."""
    stamp = naive_utc(now).isoformat(sep=" ")
    con.execute(f"create or replace temp macro cycle_time() as timestamp '{stamp}'")


@contextmanager
def rule_connection(db_path: str | Path, now: datetime,
                    reader: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection with external access off and the configuration locked.
    `reader`: for explain and preview, which read the copy the last cycle published while
    a cycle holds the database (store.connect_reader); the cycle itself never does."""
    if not Path(db_path).exists():
        raise StoreError(f"{db_path}: no database yet; run `seqguard cycle` first or pass --db")
    opened = store.connect_reader if reader else partial(store.connect, read_only=True)
    with opened(db_path, config=RULE_CONNECTION_CONFIG) as con:
        define_macros(con, now)
        yield con


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


def normalized_sql(rule: str, columns: Iterable[str], level: str) -> str:
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
    return sql.query("rules/normalized", key=key, value=value, reason=reason,
                     rule=strip_semicolon(rule)).text


def _drop_keyless(table: pa.Table, key: str) -> pa.Table:
    keep = pc.fill_null(pc.not_equal(table.column(key), ""), False)
    return table if pc.all(keep).as_py() else table.filter(keep)


def versions_to_run(state: VersionState) -> list[tuple[Observation, bool]]:
    """Every version to run: the one in force (if any) and the pending one (if any)."""
    jobs = []
    for _name, resolved in sorted(state.rules.items()):
        if resolved.in_force is not None and not resolved.in_force.is_deleted:
            jobs.append((resolved.in_force, False))
        if resolved.pending is not None:
            jobs.append((resolved.pending, True))
    return jobs
