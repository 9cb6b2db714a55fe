"""`seqguard explain EMAIL`: every rule that matches a person now (and every pending
version), why, and what each does per sequence.

The rules run live on a read-only, locked-down connection at `now`, with the versions in
force then and the pending ones (edits on disk that no cycle has seen yet count as
pending too, effective one propagation delay from now), each filtered to the person and
within the cycle's time budget, so it answers "what would the cycle do" without writing
anything."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tasks.core.clock import naive_utc
from tasks.core.config import DEFAULT_PROPAGATION_DELAY, DEFAULT_RULE_TIMEOUT
from tasks.db import sql
from tasks.rules.engine import (
    RuleRun,
    query_version,
    rule_connection,
    version_problem,
    versions_to_run,
)
from tasks.rules.files import LEVEL_COLUMN
from tasks.rules.project import load_project
from tasks.rules.propagation import VersionState, preview_state
from tasks.rules.scopes import Scope, pending_scopes, play_views, scopes_in_force, sequence_label


def _per_sequence(scopes: list[Scope], rule: str) -> list[dict[str, Any]]:
    """One rule's effect in every named sequence (and any other), plus play rows."""
    rows = []
    for scope in scopes:
        if scope.rule != rule:
            continue
        rows.append({
            "sequence": sequence_label(scope.sequence),
            "play": scope.play,
            "blocks_new": scope.blocks_new,
            "removes_enrolled": scope.removes_enrolled,
            "why": list(scope.why),
            "failed": scope.failed,
        })
    return rows


def explain(db_path: str | Path, project_dir: str | Path, email: str, now: datetime,
            propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
            rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT) -> dict[str, Any]:
    """Every rule that matches the person now (and every pending version), why, and what
    each does per sequence: blocks new enrollment, removes if enrolled, which scope."""
    now = naive_utc(now)
    email = email.strip().lower()
    project = load_project(project_dir)
    plays = play_views(project.plays)
    with rule_connection(db_path, now, reader=True) as con:
        state = preview_state(con, project, now, propagation_delay)
        person = _person(con, email)
        runs, hits = _run_for_person(con, state, email, person, rule_timeout)
    scopes, missing = scopes_in_force(state, runs, project)
    matched, pending, failed = [], [], []
    for run in [*runs, *missing]:
        obs = state.version(run.rule, run.is_pending)
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
                "per_sequence": _per_sequence(pending_scopes(obs, state, plays), run.rule)
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


def _person(con: duckdb.DuckDBPyConnection, email: str) -> dict[str, Any] | None:
    found = sql.dicts(con, "rules/person", email=email)
    return found[0] if found else None


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
        entry = summary.setdefault((sequence_label(scope.sequence), scope.play), {
            "sequence": sequence_label(scope.sequence), "play": scope.play,
            "blocked_by": [], "removed_by": [], "failed_closed_by": []})
        if scope.rule in rules and scope.blocks_new:
            entry["blocked_by"].append(scope.rule)
        if scope.rule in rules and scope.removes_enrolled:
            entry["removed_by"].append(scope.rule)
        if scope.rule in failing and scope.blocks_new:
            entry["failed_closed_by"].append(scope.rule)
    return list(summary.values())
