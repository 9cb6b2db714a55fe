"""What each rule does in each sequence (DESIGN "Semantics"): whether it blocks new
enrollments and whether it removes the enrolled, and why (global, ruleset, default
ruleset, play). A failed rule blocks where it applies and removes no one; a rule that a
ruleset or play names but that has no version in force fails closed where it is named."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from tasks.rules.engine import RuleRun
from tasks.rules.play_files import Play
from tasks.rules.project import Project
from tasks.rules.propagation import Observation, VersionState

RULESETS_PSEUDO_RULE = "rulesets.yml"
ANY_OTHER = "(any other sequence)"  # the default ruleset's rows: every sequence not named


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


def scopes_in_force(state: VersionState, runs: Iterable[RuleRun], project: Project,
                    ) -> tuple[list[Scope], list[RuleRun]]:
    """What every rule in force does per sequence and play (failed ones fail closed), and
    a failed run for each rule a ruleset or play names that has none (in_force_toggles)."""
    toggles, missing = in_force_toggles(state, runs, project)
    return compute_scopes(toggles, ruleset_view(state), play_views(project.plays)), missing


def sequence_label(sequence: str | None) -> str:
    """A scope's sequence for people: its name, or the default's rows in words."""
    return ANY_OTHER if sequence is None else sequence


def pending_scopes(obs: Observation, state: VersionState, plays: list[PlayView]) -> list[Scope]:
    """What a pending version of a rule will do per sequence once it takes effect."""
    toggles = RuleToggles(obs.name, obs.version, bool(obs.exclude_from_sequences),
                          bool(obs.remove_enrolled), failed=bool(obs.problem))
    return compute_scopes([toggles], ruleset_view(state), plays)


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
