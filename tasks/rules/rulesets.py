"""sql/rulesets.yml: which rules each sequence turns on (`default` for every sequence not
listed). Read as hostile input (tasks/core/user_files.py); nothing here raises on a broken
file: its problems are kept, and a broken file leaves the rulesets in force as they are."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.user_files import display_path, shown
from tasks.rules.files import Problem, content_hash, read_yaml


def effective_rules(rules: Iterable[str], colleague_reply: bool) -> list[str]:
    """The rules a ruleset turns on: its own, once each, and the built-in
    colleague_replied when it turns colleague_reply on."""
    found = list(dict.fromkeys(rules))
    if colleague_reply and "colleague_replied" not in found:
        found.append("colleague_replied")
    return found


@dataclass
class Ruleset:
    """The rules one sequence turns on (or the default, for sequences not listed)."""

    name: str
    is_default: bool
    rules: list[str] = field(default_factory=list)
    colleague_reply: bool = False
    line: int = 1
    rule_lines: dict[str, int] = field(default_factory=dict)

    @property
    def effective_rules(self) -> list[str]:
        """The rules it turns on (colleague_reply turns on colleague_replied)."""
        return effective_rules(self.rules, self.colleague_reply)

    @property
    def version(self) -> str:
        return content_hash(json.dumps([sorted(set(self.rules)), self.colleague_reply]))


@dataclass
class Rulesets:
    """sql/rulesets.yml: `default` plus one ruleset per sequence."""

    display: str
    default: Ruleset
    sequences: dict[str, Ruleset] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    exists: bool = False
    broken: bool = False  # the file cannot be read as rulesets: the ones in force stay

    @property
    def all(self) -> list[Ruleset]:
        return [self.default, *self.sequences.values()]

    @property
    def runnable(self) -> bool:
        return not self.problems

    def for_sequence(self, sequence: str | None) -> Ruleset:
        """The ruleset that applies to a sequence: its own, else the default."""
        if sequence is not None and sequence in self.sequences:
            return self.sequences[sequence]
        return self.default


def load_rulesets(path: Path, root: Path) -> Rulesets:
    """Parse rulesets.yml; a missing file means the default turns nothing on."""
    result = _parse_rulesets(path, root)
    result.broken = bool(result.problems)
    return result


def _parse_rulesets(path: Path, root: Path) -> Rulesets:
    display = display_path(path, root)
    result = Rulesets(display=display, default=Ruleset("default", True))
    if not path.exists() and not path.is_symlink():  # a dangling link is broken, not absent
        return result
    result.exists = True
    data, lines, problem = read_yaml(path, display, root)
    if problem:
        result.problems.append(problem)
        return result
    if data is None:
        return result
    if not isinstance(data, dict):
        result.problems.append(Problem(display, 1, "expected a mapping with `default:` and "
                                                   "`sequences:`; see DESIGN's example"))
        return result
    for key in data:
        if key not in ("default", "sequences"):
            result.problems.append(Problem(display, lines.get((str(key),), 1),
                                           f"unknown key '{shown(key)}'; use default and "
                                           "sequences"))
    if "default" in data:
        result.default = _ruleset("default", True, data["default"], ("default",), lines, result)
    sequences = data.get("sequences") or {}
    if not isinstance(sequences, dict):
        result.problems.append(Problem(display, lines.get(("sequences",), 1),
                                       "sequences must map each sequence name to "
                                       "{rules: [...], colleague_reply: true|false}"))
        return result
    for name, raw in sequences.items():
        result.sequences[str(name)] = _ruleset(str(name), False, raw, ("sequences", str(name)),
                                               lines, result)
    return result


def _ruleset(name: str, is_default: bool, raw: Any, where: tuple, lines: dict[tuple, int],
             result: Rulesets) -> Ruleset:
    line = lines.get(where, 1)
    ruleset = Ruleset(name, is_default, line=line)
    label = "default" if is_default else f"'{shown(name)}'"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        result.problems.append(Problem(result.display, line, f"ruleset {label} must be a mapping "
                                       "like {rules: [replied], colleague_reply: false}"))
        return ruleset
    for key in raw:
        if key not in ("rules", "colleague_reply"):
            result.problems.append(Problem(result.display, lines.get((*where, str(key)), line),
                                           f"ruleset {label}: unknown key '{shown(key)}'; "
                                           "use rules and colleague_reply"))
    rules = raw.get("rules") or []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        result.problems.append(Problem(result.display, lines.get((*where, "rules"), line),
                                       f"ruleset {label}: rules must be a list of rule names"))
        rules = []
    ruleset.rules = rules
    ruleset.rule_lines = {r: lines.get((*where, "rules", i), line) for i, r in enumerate(rules)}
    reply = raw.get("colleague_reply", False)
    if not isinstance(reply, bool):
        result.problems.append(Problem(result.display, lines.get((*where, "colleague_reply"), line),
                                       f"ruleset {label}: colleague_reply is "
                                       f"'{shown(reply)}'; write true or false"))
        reply = False
    ruleset.colleague_reply = reply
    return ruleset
