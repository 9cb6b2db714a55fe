"""`seqguard preview [--play P]`: per rule, how many people (of a play's audience, or of
everyone) it excludes, and how many only it excludes; pending versions beside the
version in force. The rules run as explain runs them (tasks/rules/explain.py), on the
whole model, their results kept in temp stores of the cycle's shape."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.core.clock import naive_utc
from tasks.core.config import DEFAULT_PROPAGATION_DELAY, DEFAULT_RULE_TIMEOUT
from tasks.core.errors import RuleFileError
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.rules.budget import BudgetExceeded, within_budget
from tasks.rules.engine import rule_connection, run_version, versions_to_run
from tasks.rules.matches import MatchTables, apply_changes, result_changes
from tasks.rules.play_files import Play
from tasks.rules.project import Project, load_project
from tasks.rules.propagation import preview_state
from tasks.rules.scopes import Scope, pending_scopes, play_views, scopes_in_force
from tasks.rules.statements import first_line

PREVIEW_MATCH_TABLES = MatchTables("preview_run_sets", "preview_match_rows", None)


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
    with rule_connection(db_path, now, reader=True) as con:
        state = preview_state(con, project, now, propagation_delay)
        sql.run(con, "rules/preview_tables")
        runs, results = [], []
        for obs, is_pending in versions_to_run(state):
            run, output = run_version(con, obs, is_pending, rule_timeout)
            runs.append(run)
            if output is not None:
                results.append((run, output))
        apply_changes(con, "preview", result_changes(con, results, PREVIEW_MATCH_TABLES),
                      tables=PREVIEW_MATCH_TABLES)
        sql.run(con, "rules/preview_matches")
        audience = _load_audience(con, target, rule_timeout) if target else None
        scopes, missing = scopes_in_force(state, runs, project)
        applying = _applying_rules(scopes, target)
        pending_applying = {
            run.rule for run in runs if run.is_pending and (obs := state.version(run.rule, True))
            and _applying_rules(pending_scopes(obs, state, plays), target)}
        counts = sql.fetch(con, "rules/preview_counts",
                           rules=sorted(applying | pending_applying) if target else
                           sorted({r.rule for r in runs}),
                           applying=sorted(applying), audience_only=target is not None)
        totals = _totals(con, applying, target is not None)
    by_rule = {(r[0], r[1]): (r[2], r[3]) for r in counts}
    rows = []
    for run in [*runs, *missing]:
        people, only = by_rule.get((run.rule, run.is_pending), (0, 0))
        obs = state.version(run.rule, run.is_pending)
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
    with registered(con, audience_rows=emails):
        sql.run(con, "rules/preview_audience")
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
    return int(sql.scalar(con, "rules/preview_total", rules=sorted(applying),
                          audience_only=audience_only))
