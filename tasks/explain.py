"""`seqguard explain EMAIL` and `seqguard preview [--play P]`: answers for the data team.

Both run the rules live on a read-only, locked-down connection at `now`, with the
versions in force then and the pending ones (edits on disk that no cycle has seen yet
count as pending too, effective one propagation delay from now), so they answer "what
would the cycle do" without writing anything. Each rule (and a play's audience) runs
within the cycle's time budget; one past it shows as failed, as in the cycle.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.core.clock import naive_utc
from tasks.core.config import DEFAULT_RULE_TIMEOUT
from tasks.core.errors import RuleFileError
from tasks.match_store import CYCLE_MATCH_TABLES, MatchTables, apply_changes, result_changes
from tasks.propagation import (
    DEFAULT_PROPAGATION_DELAY,
    Observation,
    VersionState,
    preview_state,
)
from tasks.rule_budget import BudgetExceeded, within_budget
from tasks.rule_files import LEVEL_COLUMN, Play, Project, first_line, load_project
from tasks.rules import (
    PlayView,
    RuleRun,
    RuleToggles,
    Scope,
    compute_scopes,
    in_force_toggles,
    play_views,
    query_version,
    rule_connection,
    ruleset_view,
    run_version,
    version_problem,
    versions_to_run,
)

ANY_OTHER = "(any other sequence)"
MATCHES_TABLE = "preview_matches"
PREVIEW_MATCH_TABLES = MatchTables("preview_run_sets", "preview_match_rows", None)


def _label(sequence: str | None) -> str:
    return ANY_OTHER if sequence is None else sequence


def _pending_scopes(obs: Observation, state: VersionState, plays: list[PlayView]) -> list[Scope]:
    toggles = RuleToggles(obs.name, obs.version, bool(obs.exclude_from_sequences),
                          bool(obs.remove_enrolled), failed=bool(obs.problem))
    return compute_scopes([toggles], ruleset_view(state), plays)


def _per_sequence(scopes: list[Scope], rule: str) -> list[dict[str, Any]]:
    """One rule's effect in every named sequence (and any other), plus play rows."""
    rows = []
    for scope in scopes:
        if scope.rule != rule:
            continue
        rows.append({
            "sequence": _label(scope.sequence),
            "play": scope.play,
            "blocks_new": scope.blocks_new,
            "removes_enrolled": scope.removes_enrolled,
            "why": list(scope.why),
            "failed": scope.failed,
        })
    return rows


# --- explain -------------------------------------------------------------------------------

def explain(db_path: str | Path, project_dir: str | Path, email: str, now: datetime,
            propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
            rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT) -> dict[str, Any]:
    """Every rule that matches the person now (and every pending version), why, and what
    each does per sequence: blocks new enrollment, removes if enrolled, which scope."""
    now = naive_utc(now)
    email = email.strip().lower()
    project = load_project(project_dir)
    plays = play_views(project.plays)
    with rule_connection(db_path, now) as con:
        state = preview_state(con, project, now, propagation_delay)
        person = _person(con, email)
        runs, hits = _run_for_person(con, state, email, person, rule_timeout)
    toggles, missing = in_force_toggles(state, runs, project)
    scopes = compute_scopes(toggles, ruleset_view(state), plays)
    matched, pending, failed = [], [], []
    for run in [*runs, *missing]:
        obs = _version(state, run)
        if run.status == "error" and not run.is_pending:
            failed.append({"rule": run.rule, "error": run.error,
                           "per_sequence": _per_sequence(scopes, run.rule)})
            continue
        hit = hits.get((run.rule, run.is_pending))
        if run.is_pending:
            now_hit = hits.get((run.rule, False))
            if hit is None and now_hit is None:
                continue
            pending.append({
                "rule": run.rule, "version": run.version, "status": run.status,
                "error": run.error, "effective_from": obs.effective_from if obs else None,
                "matches": hit is not None, "matches_now": now_hit is not None,
                "reason": hit["reason"] if hit else None,
                "per_sequence": _per_sequence(_pending_scopes(obs, state, plays), run.rule)
                if obs and hit else [],
            })
        elif hit is not None:
            matched.append({
                "rule": run.rule, "version": run.version, "level": run.level,
                "reason": hit["reason"], "company_domain": hit["company_domain"],
                "per_sequence": _per_sequence(scopes, run.rule),
            })
    return {
        "email": email,
        "now": now,
        "person": person,
        "rules": matched,
        "pending": pending,
        "failed": failed,
        "sequences": _sequence_summary(scopes, matched, failed),
    }


def _version(state: VersionState, run: RuleRun) -> Observation | None:
    resolved = state.rules.get(run.rule)
    if resolved is None:
        return None
    return resolved.pending if run.is_pending else resolved.in_force


def _person(con: duckdb.DuckDBPyConnection, email: str) -> dict[str, Any] | None:
    result = con.execute(
        """
        select p.*, coalesce(d.company_domain, p.company_domain) as company
        from crm.people as p
        left join crm.company_domains as d on d.domain = p.company_domain
        where p.email = ?
        """,
        [email],
    )
    names = [c[0] for c in result.description]
    rows = result.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def _run_for_person(con: duckdb.DuckDBPyConnection, state: VersionState, email: str,
                    person: dict[str, Any] | None, budget: timedelta,
                    ) -> tuple[list[RuleRun], dict[tuple[str, bool], dict[str, Any]]]:
    """Run each version filtered to one person (DuckDB pushes the filter into the rule)."""
    company = person["company"] if person else None
    runs: list[RuleRun] = []
    hits: dict[tuple[str, bool], dict[str, Any]] = {}
    for obs, is_pending in versions_to_run(state):
        run = RuleRun(obs.name, obs.version, is_pending, "ok", obs.level, obs.seq,
                      effective_from=obs.effective_from)
        runs.append(run)
        if obs.is_deleted or not obs.enabled:
            run.status = "deleted" if obs.is_deleted else "disabled"
            continue
        problem = version_problem(obs)
        if problem:
            run.status, run.error = "error", problem
            continue
        if obs.level == "company" and company is None:
            continue
        level = obs.level or "contact"
        key = LEVEL_COLUMN[level]
        if level == "company":
            where = ("company_domain in (select domain from crm.company_domains "
                     "where company_domain = $key union all select $key)")
            value = company
        else:
            where = "email = $key"
            value = email
        output, error = query_version(con, obs, where, {"key": value}, budget)
        if output is None:
            run.status, run.error = "error", error
            continue
        if output.num_rows:
            row = output.slice(0, 1).to_pylist()[0]
            hits[(obs.name, is_pending)] = {
                "reason": row["reason"],
                "company_domain": company if obs.level == "company" else None,
                "key": row[key],
            }
    return runs, hits


def _sequence_summary(scopes: list[Scope], matched: list[dict], failed: list[dict]
                      ) -> list[dict[str, Any]]:
    """Per sequence: which matching rules block a new enrollment and which remove."""
    rules = {m["rule"] for m in matched}
    failing = {f["rule"] for f in failed}
    summary: dict[tuple[str, str | None], dict[str, Any]] = {}
    for scope in scopes:
        entry = summary.setdefault((_label(scope.sequence), scope.play), {
            "sequence": _label(scope.sequence), "play": scope.play,
            "blocked_by": [], "removed_by": [], "failed_closed_by": []})
        if scope.rule in rules and scope.blocks_new:
            entry["blocked_by"].append(scope.rule)
        if scope.rule in rules and scope.removes_enrolled:
            entry["removed_by"].append(scope.rule)
        if scope.rule in failing and scope.blocks_new:
            entry["failed_closed_by"].append(scope.rule)
    return list(summary.values())


# --- preview -------------------------------------------------------------------------------

PREVIEW_COUNTS_SQL = """
with relevant as (
    select distinct m.rule, m.is_pending, m.email
    from preview_matches as m
    where list_contains($rules::varchar[], m.rule)
        and ($audience_only = false or m.email in (select email from preview_audience))
),
current_rules as (
    select email, count(distinct rule) as rules, min(rule) as only_rule
    from relevant
    where not is_pending and list_contains($applying::varchar[], rule)
    group by email
),
final as (
    select
        r.rule,
        r.is_pending,
        count(*) as people,
        count(*) filter (where c.email is null or (c.rules = 1 and c.only_rule = r.rule))
            as only_this
    from relevant as r
    left join current_rules as c using (email)
    group by all
)
select * from final order by rule, is_pending
"""


def preview(db_path: str | Path, project_dir: str | Path, now: datetime,
            propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
            play: str | None = None,
            rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT) -> dict[str, Any]:
    """Per rule: how many people (of the play's audience, or of everyone) it excludes, and
    how many only it excludes. Pending versions are listed beside the version in force."""
    now = naive_utc(now)
    project = load_project(project_dir)
    target = _play(project, play) if play else None
    plays = play_views(project.plays)
    with rule_connection(db_path, now) as con:
        state = preview_state(con, project, now, propagation_delay)
        for temp, table in [(PREVIEW_MATCH_TABLES.run_sets, CYCLE_MATCH_TABLES.run_sets),
                            (PREVIEW_MATCH_TABLES.match_rows, CYCLE_MATCH_TABLES.match_rows)]:
            con.execute(f"create or replace temp table {temp} as select * from {table} limit 0")
        con.execute("create or replace temp table preview_audience (email varchar)")
        runs, results = [], []
        for obs, is_pending in versions_to_run(state):
            run, output = run_version(con, obs, is_pending, rule_timeout)
            runs.append(run)
            if output is not None:
                results.append((run, output))
        apply_changes(con, "preview", result_changes(con, results, PREVIEW_MATCH_TABLES),
                      tables=PREVIEW_MATCH_TABLES)
        con.execute(f"create or replace temp table {MATCHES_TABLE} as "
                    "select * from rules.people_of(?, ?)",
                    [PREVIEW_MATCH_TABLES.run_sets, PREVIEW_MATCH_TABLES.match_rows])
        audience = _load_audience(con, target, rule_timeout) if target else None
        toggles, missing = in_force_toggles(state, runs, project)
        scopes = compute_scopes(toggles, ruleset_view(state), plays)
        applying = _applying_rules(scopes, target)
        pending_applying = {
            run.rule for run in runs if run.is_pending and (obs := _version(state, run))
            and _applying_rules(_pending_scopes(obs, state, plays), target)}
        counts = con.execute(PREVIEW_COUNTS_SQL, {
            "rules": sorted(applying | pending_applying) if target else
            sorted({r.rule for r in runs}),
            "applying": sorted(applying),
            "audience_only": target is not None,
        }).fetchall()
        totals = _totals(con, applying, target is not None)
    by_rule = {(r[0], r[1]): (r[2], r[3]) for r in counts}
    rows = []
    for run in [*runs, *missing]:
        people, only = by_rule.get((run.rule, run.is_pending), (0, 0))
        obs = _version(state, run)
        rows.append({
            "rule": run.rule, "version": run.version, "pending": run.is_pending,
            "effective_from": obs.effective_from if obs else None, "status": run.status,
            "error": run.error, "applies": _applies(scopes, run.rule, target),
            "people": int(people), "only_this": int(only),
        })
    if target:
        rows = [r for r in rows if r["rule"] in applying | pending_applying or r["error"]]
    return {
        "now": now, "play": target.name if target else None,
        "sequence": target.sequence if target else None,
        "audience": audience, "excluded": totals, "rules": rows,
    }


def _play(project: Project, name: str) -> Play:
    play = next((p for p in project.plays if p.name == name), None)
    if play is None:
        known = ", ".join(p.name for p in project.plays) or "none"
        raise RuleFileError(f"sql/plays/{name}.yml: no such play (plays: {known}); "
                            "check the name")
    if play.problems:
        raise RuleFileError(f"{play.problems[0]} (run seqguard lint)")
    return play


def _load_audience(con: duckdb.DuckDBPyConnection, play: Play, budget: timedelta) -> int:
    try:
        with within_budget(con, budget):
            table = con.sql(play.audience_sql).to_arrow_table()
    except BudgetExceeded as exc:
        raise RuleFileError(f"{play.audience_display}: the audience was {exc}; make it "
                            "cheaper, or raise rule_timeout in seqguard.yml") from exc
    except duckdb.Error as exc:
        raise RuleFileError(f"{play.audience_display}:{play.audience_sql_line}: "
                            f"{first_line(exc)}; fix the audience SQL") from exc
    names = [c.lower() for c in table.column_names]
    if "email" not in names:
        raise RuleFileError(f"{play.audience_display}:{play.audience_sql_line}: returns no "
                            "email column; an audience returns email [, event_at]")
    emails = pa.table({"email": table.column(names.index("email")).cast(pa.string())})
    con.register("audience_rows", emails)
    try:
        con.execute("create or replace temp table preview_audience as "
                    "select distinct lower(trim(email)) as email from audience_rows "
                    "where email is not null")
    finally:
        con.unregister("audience_rows")
    return int(con.execute("select count(*) from preview_audience").fetchall()[0][0])


def _applying_rules(scopes: list[Scope], play: Play | None) -> set[str]:
    """Rules that exclude anyone: anywhere (no play), or from the play's enrollments."""
    if play is None:
        return {s.rule for s in scopes if s.blocks_new}
    return {s.rule for s in scopes if s.blocks_new and s.sequence == play.sequence
            and s.play in (None, play.name)}


def _applies(scopes: list[Scope], rule: str, play: Play | None) -> str:
    """Where a rule excludes, in words: global, rulesets S..., play P, or nowhere."""
    mine = [s for s in scopes if s.rule == rule and s.blocks_new]
    if play is not None:
        mine = [s for s in mine if s.sequence == play.sequence and s.play in (None, play.name)]
    why = sorted({w for s in mine for w in s.why})
    if not why:
        return "nowhere"
    if "global" in why:
        return "global"
    parts = []
    sequences = sorted({s.sequence for s in mine if "ruleset" in s.why and s.sequence})
    if sequences:
        parts.append("ruleset " + ", ".join(f"'{s}'" for s in sequences))
    if "default_ruleset" in why:
        parts.append("default ruleset")
    plays = sorted({s.play for s in mine if s.play})
    if plays:
        parts.append("play " + ", ".join(plays))
    return "; ".join(parts)


def _totals(con: duckdb.DuckDBPyConnection, applying: set[str], audience_only: bool) -> int:
    return int(con.execute(
        f"""
        select count(distinct email) from {MATCHES_TABLE}
        where not is_pending and list_contains($rules::varchar[], rule)
            and ($audience_only = false or email in (select email from preview_audience))
        """,
        {"rules": sorted(applying), "audience_only": audience_only},
    ).fetchall()[0][0])


def as_json(data: Any) -> Any:
    """Datetimes as ISO strings, dataclasses as dicts: for --json output."""
    if isinstance(data, datetime):
        return data.isoformat()
    if isinstance(data, dict):
        return {k: as_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [as_json(v) for v in data]
    if hasattr(data, "__dataclass_fields__"):
        return as_json(asdict(data))
    return data
