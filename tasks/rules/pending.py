"""What each pending version (a rule or ruleset edit not in force yet) will change once
it takes effect: people it newly excludes, people it lets go, and the enrolled people it
would remove per sequence, with one report line each (`rules.pending_changes`)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from tasks.core.redact import redact
from tasks.db import sql
from tasks.db.arrow import load_table
from tasks.rules.engine import RuleRun
from tasks.rules.project import Project
from tasks.rules.propagation import Observation, VersionState
from tasks.rules.scopes import (
    PlayView,
    RulesetView,
    RuleToggles,
    Scope,
    compute_scopes,
    play_views,
    ruleset_view,
)

KEYS_SCHEMA = pa.schema([("key", pa.string())])
REMOVES_SCHEMA = pa.schema([("key", pa.string()), ("removes_new", pa.bool_()),
                            ("removes_old", pa.bool_())])


def save_pending_changes(con: duckdb.DuckDBPyConnection, run_id: str, state: VersionState,
                         runs: list[RuleRun], scopes: list[Scope], project: Project
                         ) -> list[dict]:
    """Per pending version: effective_from, +excluded, -excluded, removals per sequence."""
    if not state.pending():
        return []
    view = ruleset_view(state)
    plays = play_views(project.plays)
    named = sorted(set(view.sequences) | {p.sequence for p in plays})
    has_enrollments = bool(sql.scalar(con, "rules/has_enrollments"))
    if has_enrollments:
        load_table(con, "pending_keys", pa.table({"key": pa.array(named, pa.string())}),
                   KEYS_SCHEMA)
        sql.run(con, "rules/pending_open")
    changes = []
    by_rule = {(r.rule, r.is_pending): r for r in runs}
    for name, resolved in sorted(state.rules.items()):
        new = resolved.pending
        if new is None:
            continue
        old = resolved.in_force
        run = by_rule.get((name, True))
        old_version = old.version if old is not None and not old.is_deleted else ""
        newly, gone = sql.fetch(con, "rules/pending_diff", run_id=run_id, rule=name,
                                new_version=new.version, old_version=old_version)[0]
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
    sql.run_many(con, "rules/save_pending_changes", [{
        "run_id": run_id, "kind": c["kind"], "name": c["name"], "version": c["version"],
        "effective_from": c["effective_from"], "status": c["status"],
        "error": redact(c["error"] or "") or None, "newly_excluded": c["newly_excluded"],
        "no_longer_excluded": c["no_longer_excluded"], "would_remove": c["would_remove"],
        "summary": redact(c["summary"])} for c in changes])
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
    keys = [*named, None]
    load_table(con, "pending_removes", pa.table({
        "key": pa.array(keys, pa.string()),
        "removes_new": pa.array([new_removes.get(k, False) for k in keys], pa.bool_()),
        "removes_old": pa.array([old_removes.get(k, False) for k in keys], pa.bool_()),
    }), REMOVES_SCHEMA)
    found = sql.fetch(con, "rules/would_remove", run_id=run_id, rule=name,
                      new_version=new.version,
                      old_version=old.version if old is not None else "")
    return [{"sequence": s, "people": int(n)} for s, n in found]


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
        newly, gone = sql.fetch(con, "rules/ruleset_diff", run_id=run_id, added=added,
                                kept=sorted(before | global_rules), dropped=dropped,
                                kept_after=sorted(after | global_rules))[0]
        would_remove: list[dict] = []
        if has_enrollments and added:
            found = sql.fetch(con, "rules/ruleset_would_remove", run_id=run_id,
                              removing=sorted(set(added) & removing), key=name,
                              is_default=is_default,
                              removing_before=sorted((before | global_rules) & removing))
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
