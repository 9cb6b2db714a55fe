"""Versions of rules and rulesets, and when each takes effect.

Every time seqguard first sees a new content of a rule file (its SQL, a toggle, being
disabled or deleted) or of a sequence's ruleset, it records an *observation* with
`effective_from = first_seen + propagation_delay`. At any time `now`:

- the version *in force* is the latest observation that has become effective without
  being replaced first: an edit that is itself edited again before its delay runs out
  never takes effect (a typo fixed five minutes later never hits anyone);
- the version *pending* is the latest observation when it is not effective yet; it is
  evaluated beside the one in force so the report can say what it will change.

Observations take effect at once when there is nothing to propagate from: at the
database's very first cycle, with a zero delay, or when the new content is the one
already in force (an edit reverted). Time is always the cycle's `now`, never the clock.
These are a handful of rows per rule, so the resolution is plain Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tasks.core.config import DEFAULT_PROPAGATION_DELAY
from tasks.db import sql, store
from tasks.rules.files import RuleFile
from tasks.rules.project import Project
from tasks.rules.rulesets import Ruleset, effective_rules

DELETED = "deleted"

RULE_KIND = "rule"
RULESET_KIND = "ruleset"


@dataclass(frozen=True)
class Observation:
    """One version of a rule or a ruleset, as first seen."""

    kind: str  # rule | ruleset
    name: str  # rule name, or ruleset name ('default' for the default)
    seq: int
    version: str
    first_seen: datetime
    effective_from: datetime
    is_deleted: bool = False
    is_default: bool = False  # rulesets only
    # rule payload
    path: str | None = None
    header: dict[str, str] = field(default_factory=dict)
    sql: str = ""
    sql_line: int = 1
    level: str | None = None
    exclude_from_sequences: bool | None = None
    remove_enrolled: bool | None = None
    enabled: bool = True
    problem: str | None = None
    # ruleset payload
    rules: tuple[str, ...] = ()
    colleague_reply: bool = False

    @property
    def key(self) -> tuple[str, bool, str]:
        return (self.kind, self.is_default, self.name)

    @property
    def effective_rules(self) -> list[str]:
        """For a ruleset: the rules it turns on (colleague_reply adds colleague_replied)."""
        return effective_rules(self.rules, self.colleague_reply)

    @property
    def runs(self) -> bool:
        """A rule version that is evaluated: present, enabled (broken ones run to fail)."""
        return self.kind == RULE_KIND and not self.is_deleted and self.enabled


@dataclass(frozen=True)
class Resolved:
    """The version in force and the pending one (if any) of one rule or ruleset."""

    in_force: Observation | None
    pending: Observation | None


@dataclass
class VersionState:
    """Every rule's and ruleset's resolution at one `now`, plus the new observations."""

    rules: dict[str, Resolved]
    rulesets: dict[tuple[bool, str], Resolved]
    new: list[Observation]
    first_cycle: bool

    def version(self, rule: str, is_pending: bool) -> Observation | None:
        """A rule's pending version, or the one in force."""
        resolved = self.rules.get(rule)
        if resolved is None:
            return None
        return resolved.pending if is_pending else resolved.in_force

    def rule_in_force(self, name: str) -> Observation | None:
        resolved = self.rules.get(name)
        return resolved.in_force if resolved else None

    def rulesets_in_force(self) -> list[Observation]:
        """The in-force, not deleted rulesets (the default first)."""
        found = [r.in_force for r in self.rulesets.values()
                 if r.in_force is not None and not r.in_force.is_deleted]
        return sorted(found, key=lambda o: (not o.is_default, o.name))

    def pending(self) -> list[Observation]:
        found = [r.pending for r in [*self.rules.values(), *self.rulesets.values()] if r.pending]
        return sorted(found, key=lambda o: (o.kind, o.name))


def rule_observation(rule: RuleFile, seq: int, now: datetime) -> Observation:
    """What the current file says, as an (unplaced) observation."""
    problem = "; ".join(str(p) for p in rule.problems) or None
    return Observation(
        kind=RULE_KIND, name=rule.name, seq=seq, version=rule.version, first_seen=now,
        effective_from=now, path=rule.display, header=dict(rule.header), sql=rule.sql,
        sql_line=rule.sql_line, level=rule.level,
        exclude_from_sequences=rule.exclude_from_sequences, remove_enrolled=rule.remove_enrolled,
        enabled=rule.enabled, problem=problem,
    )


def ruleset_observation(ruleset: Ruleset, seq: int, now: datetime) -> Observation:
    return Observation(
        kind=RULESET_KIND, name=ruleset.name, is_default=ruleset.is_default, seq=seq,
        version=ruleset.version, first_seen=now, effective_from=now,
        rules=tuple(ruleset.rules), colleague_reply=ruleset.colleague_reply,
    )


def current_observations(project: Project, now: datetime) -> list[Observation]:
    """The project's files as observations (seq and timing are set by `plan`).

    A rule defined twice is represented by its broken duplicate, so it fails closed. A
    rulesets.yml that cannot be read yields nothing: the rulesets in force stay.
    """
    rules: dict[str, RuleFile] = {}
    for rule in project.rules:
        if rule.name not in rules or rule.problems:
            rules[rule.name] = rule
    found = [rule_observation(r, 0, now) for r in rules.values()]
    if not project.rulesets.broken:
        found += [ruleset_observation(r, 0, now) for r in project.rulesets.all]
    return found


def plan(history: list[Observation], current: list[Observation], now: datetime,
         delay: timedelta, *, rulesets_known: bool = True) -> list[Observation]:
    """The observations to add: each rule/ruleset whose content differs from its latest.

    Deleted files become deletion observations. `rulesets_known=False` (a broken
    rulesets.yml) leaves every ruleset as it is.
    """
    # seq numbers count every observation; what happened after `now` is ignored otherwise
    last_seq: dict[tuple, int] = {}
    for obs in history:
        last_seq[obs.key] = max(obs.seq, last_seq.get(obs.key, 0))
    history = [o for o in history if o.first_seen <= now]
    first_cycle = not history
    latest: dict[tuple, Observation] = {}
    for obs in sorted(history, key=lambda o: o.seq):
        latest[obs.key] = obs
    resolved = resolve(history, now)
    new: list[Observation] = []
    seen_keys = set()
    for obs in current:
        seen_keys.add(obs.key)
        last = latest.get(obs.key)
        if last is not None and not last.is_deleted and last.version == obs.version:
            continue
        new.append(_place(obs, last_seq.get(obs.key, 0), resolved.get(obs.key), now, delay,
                          first_cycle))
    for key, last in latest.items():
        if key in seen_keys or last.is_deleted:
            continue
        if key[0] == RULESET_KIND and not rulesets_known:
            continue
        gone = replace(last, version=DELETED, is_deleted=True, problem=None, sql="",
                       header={}, rules=(), colleague_reply=False)
        new.append(_place(gone, last_seq[key], resolved.get(key), now, delay, first_cycle))
    return new


def _place(obs: Observation, last_seq: int, resolved: Resolved | None,
           now: datetime, delay: timedelta, first_cycle: bool) -> Observation:
    in_force = resolved.in_force if resolved else None
    same_as_in_force = (
        (in_force is None and obs.is_deleted)
        or (in_force is not None and in_force.version == obs.version)
    )
    at_once = first_cycle or delay <= timedelta(0) or same_as_in_force
    return replace(obs, seq=last_seq + 1, first_seen=now,
                   effective_from=now if at_once else now + delay)


def resolve(history: Iterable[Observation], now: datetime) -> dict[tuple, Resolved]:
    """For each rule/ruleset: the version in force at `now`, and the pending one."""
    by_key: dict[tuple, list[Observation]] = {}
    for obs in history:
        if obs.first_seen <= now:
            by_key.setdefault(obs.key, []).append(obs)
    result = {}
    for key, observations in by_key.items():
        observations.sort(key=lambda o: o.seq)
        in_force = None
        for i, obs in enumerate(observations):
            replaced_before_effective = (
                i + 1 < len(observations)
                and observations[i + 1].first_seen < obs.effective_from
            )
            if obs.effective_from <= now and not replaced_before_effective:
                in_force = obs
        last = observations[-1]
        pending = last if last is not in_force and last.effective_from > now else None
        result[key] = Resolved(in_force, pending)
    return result


def state_at(history: list[Observation], new: list[Observation], now: datetime) -> VersionState:
    """Split the resolution of history + new observations into rules and rulesets."""
    resolved = resolve([*history, *new], now)
    rules = {k[2]: v for k, v in resolved.items() if k[0] == RULE_KIND}
    rulesets = {(k[1], k[2]): v for k, v in resolved.items() if k[0] == RULESET_KIND}
    first = not [o for o in history if o.first_seen <= now]
    return VersionState(rules, rulesets, new, first)


def load_history(con: duckdb.DuckDBPyConnection) -> list[Observation]:
    """Every recorded observation of every rule and ruleset."""
    if not sql.scalar(con, "rules/has_versions"):
        return []
    rules = sql.fetch(con, "rules/rule_versions")
    rulesets = sql.fetch(con, "rules/ruleset_versions")
    found = [
        Observation(
            kind=RULE_KIND, name=r[0], seq=r[1], version=r[2], first_seen=r[3],
            effective_from=r[4], is_deleted=r[5], path=r[6], header=json.loads(r[7] or "{}"),
            sql=r[8] or "", level=r[9], exclude_from_sequences=r[10], remove_enrolled=r[11],
            enabled=r[12] if r[12] is not None else True, problem=r[13], sql_line=r[14] or 1,
        )
        for r in rules
    ]
    found += [
        Observation(
            kind=RULESET_KIND, name=r[0], is_default=r[1], seq=r[2], version=r[3],
            first_seen=r[4], effective_from=r[5], is_deleted=r[6], rules=tuple(r[7] or ()),
            colleague_reply=r[8],
        )
        for r in rulesets
    ]
    return found


def save_observations(con: duckdb.DuckDBPyConnection, observations: list[Observation]) -> None:
    """Append new observations (a handful of rows: one per changed file)."""
    rules = [o for o in observations if o.kind == RULE_KIND]
    rulesets = [o for o in observations if o.kind == RULESET_KIND]
    sql.run_many(con, "rules/save_rule_versions", [{
        "rule": o.name, "seq": o.seq, "version": o.version, "path": o.path,
        "header": json.dumps(o.header), "sql": o.sql, "sql_line": o.sql_line, "level": o.level,
        "exclude_from_sequences": o.exclude_from_sequences,
        "remove_enrolled": o.remove_enrolled, "enabled": o.enabled, "is_deleted": o.is_deleted,
        "problem": o.problem, "first_seen": o.first_seen, "effective_from": o.effective_from,
    } for o in rules])
    sql.run_many(con, "rules/save_ruleset_versions", [{
        "ruleset": o.name, "is_default": o.is_default, "seq": o.seq, "version": o.version,
        "rules": list(o.rules), "colleague_reply": o.colleague_reply,
        "is_deleted": o.is_deleted, "first_seen": o.first_seen,
        "effective_from": o.effective_from,
    } for o in rulesets])


def observe(con: duckdb.DuckDBPyConnection, project: Project, now: datetime,
            delay: timedelta = DEFAULT_PROPAGATION_DELAY) -> VersionState:
    """Record what changed in the project's files since the last cycle; resolve at `now`."""
    history = load_history(con)
    new = plan(history, current_observations(project, now), now, delay,
               rulesets_known=not project.rulesets.broken)
    save_observations(con, new)
    return state_at(history, new, now)


def preview_state(con: duckdb.DuckDBPyConnection | None, project: Project, now: datetime,
                  delay: timedelta = DEFAULT_PROPAGATION_DELAY) -> VersionState:
    """The same resolution without writing: edits not seen yet count as pending.

    Used by explain and preview, which run on a read-only connection.
    """
    history = load_history(con) if con is not None else []
    new = plan(history, current_observations(project, now), now, delay,
               rulesets_known=not project.rulesets.broken)
    return state_at(history, new, now)


def pending_changes(db_path: str | Path, run_id: str) -> list[dict[str, Any]]:
    """What each pending version will change once effective, as the run stored it:
    kind, name, version, effective_from, status, error, newly_excluded,
    no_longer_excluded, would_remove [{sequence, people}], summary (one report line)."""
    with store.connect(db_path, read_only=True) as con:
        return sql.dicts(con, "rules/pending_changes", run_id=run_id)
