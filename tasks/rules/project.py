"""A project folder as the rules engine reads it: every rule (the project's and the
built-ins), rulesets.yml, the plays and the CSV lists under its sql/, the cross-file
checks (unique names, rulesets and plays naming rules that exist), and a warning for
every file there that seqguard will not read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.resources import BUILTIN_RULES_DIR, OWN_SQL
from tasks.core.user_files import display_path, printable, shown
from tasks.rules.files import Problem, RuleFile, parse_rule_file
from tasks.rules.play_files import Play, load_play
from tasks.rules.rulesets import Rulesets, load_rulesets


@dataclass
class ListFile:
    """One uploaded CSV list, loaded as table lists.<name>."""

    name: str
    path: Path
    display: str


@dataclass
class Project:
    """Everything under a project's sql/ that the rules engine reads."""

    root: Path
    rules: list[RuleFile]
    rulesets: Rulesets
    plays: list[Play]
    lists: list[ListFile]
    unread: list[Problem] = field(default_factory=list)  # warnings: files nothing reads

    def rule(self, name: str) -> RuleFile | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def rule_names(self) -> set[str]:
        return {r.name for r in self.rules}

    def problems(self) -> list[Problem]:
        """Every problem in every file, in file order."""
        found = [p for r in self.rules for p in r.problems]
        found += self.rulesets.problems
        found += [p for play in self.plays for p in play.problems]
        return sorted(set(found), key=lambda p: (p.path, p.line, p.message))


def rule_dirs(root: Path) -> list[Path]:
    """The project's rule folders; built-ins come from seqguard unless it has its own."""
    exclusions = root / "sql" / "exclusions"
    builtin = exclusions / "builtin"
    return [exclusions, builtin if builtin.is_dir() else BUILTIN_RULES_DIR]


def files_in(folder: Path, suffix: str) -> list[Path]:
    """The folder's files with this (lower-case) extension, hidden ones (editor locks and
    backups, .#rule.sql) left out."""
    return sorted(p for p in folder.glob(f"*{suffix}") if not p.name.startswith("."))


def load_project(project_dir: str | Path) -> Project:
    """Load and check every rule, ruleset, play and list file of a project folder."""
    root = Path(project_dir)
    user_dir, builtin_dir = rule_dirs(root)
    rules = [parse_rule_file(p, root) for p in files_in(user_dir, ".sql")]
    builtins = [parse_rule_file(p, root) for p in files_in(builtin_dir, ".sql")]
    rulesets = load_rulesets(root / "sql" / "rulesets.yml", root)
    plays = [load_play(p, root) for p in files_in(root / "sql" / "plays", ".yml")]
    lists = [ListFile(p.stem, p, display_path(p, root))
             for p in files_in(root / "sql" / "exclusions" / "lists", ".csv")]
    _refuse_builtin_names(rules, builtins)
    project = Project(root, rules + builtins, rulesets, plays, lists)
    _check_names(project)
    project.unread = unread_files(project)
    return project


def _refuse_builtin_names(rules: list[RuleFile], builtins: list[RuleFile]) -> None:
    """A project rule named like a built-in is the user's mistake, not the built-in's: the
    built-in keeps running, and the user's file is broken under a name of its own (its
    path), so it fails closed alone until it is renamed."""
    taken = {b.name: b for b in builtins}
    for rule in rules:
        builtin = taken.get(rule.name)
        if builtin is None:
            continue
        rule.problem(rule.header_lines.get("rule", 1),
                     f"rule '{rule.name}' is a built-in rule ({builtin.display}); rename your "
                     f"file and its `-- rule:` line, e.g. to {rule.name}_custom")
        rule.name = rule.display


def _check_names(project: Project) -> None:
    """Cross-file checks: unique rule names, and rulesets/plays naming rules that exist."""
    seen: dict[str, RuleFile] = {}
    for rule in project.rules:
        if rule.name in seen:
            rule.problem(rule.header_lines.get("rule", 1),
                         f"rule '{rule.name}' is already defined in {seen[rule.name].display}; "
                         "rename one of them")
        else:
            seen[rule.name] = rule
    names = project.rule_names
    rulesets = project.rulesets
    for ruleset in rulesets.all:
        label = "default" if ruleset.is_default else f"'{shown(ruleset.name)}'"
        for name in ruleset.rules:
            if name not in names:
                rulesets.problems.append(Problem(
                    rulesets.display, ruleset.rule_lines.get(name, ruleset.line),
                    f"ruleset {label} names rule '{shown(name)}', which does not exist; fix "
                    f"the name or add sql/exclusions/{shown(name)}.sql"))
    for play in project.plays:
        for i, name in enumerate(play.exclusions):
            if name not in names:
                play.problems.append(Problem(
                    play.display, play.lines.get(("exclusions", i), play.line("exclusions")),
                    f"exclusions name rule '{shown(name)}', which does not exist; fix the name "
                    f"or add sql/exclusions/{shown(name)}.sql"))


# files under sql/ that seqguard reads besides rules, lists, plays and audiences
OTHER_READ_FILES = ("rulesets.yml", "domain_aliases.csv")


NOT_READ_SUFFIXES = (".md", ".txt")  # notes beside the rules


def unread_files(project: Project) -> list[Problem]:
    """A warning for every file under sql/ that seqguard will not read, with the fix: a
    rule in a subfolder or named `.SQL` would otherwise never run, and nothing would say so.

    Hidden files and notes (.md, .txt) are left alone; so are seqguard's own SQL folders
    when the project is seqguard's repository.
    """
    root = project.root
    sql = root / "sql"
    read = {os.path.abspath(p) for p in (
        [r.path for r in project.rules] + [f.path for f in project.lists]
        + [p.path for p in project.plays]
        + [p.audience_path for p in project.plays if p.audience_path is not None]
        + [sql / name for name in OTHER_READ_FILES])}
    own, own_files = set(), set()
    if os.path.realpath(root) == os.path.realpath(OWN_SQL.parent):
        own = {p.name for p in OWN_SQL.iterdir() if p.is_dir()} - {"exclusions", "plays"}
        own_files = {"__init__.py"}  # what makes sql/ a package
    warnings = []
    for folder, dirs, files in os.walk(sql):
        relative = Path(folder).relative_to(sql)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d not in own]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if relative == Path(".") and name in own_files:
                continue
            if (name.startswith(".") or path.suffix.lower() in NOT_READ_SUFFIXES
                    or os.path.abspath(path) in read):
                continue
            display = display_path(path, root)
            warnings.append(Problem(display, 1, "warning: seqguard does not read this file; "
                                                + _unread_fix(relative, path)))
    return warnings


def _unread_fix(folder: Path, path: Path) -> str:
    """How to make seqguard read a file it skips, by where it is and what it is called."""
    suffix = path.suffix.lower()
    name = printable(path.stem)
    parts = folder.parts
    if suffix in (".sql", ".csv", ".yml") and path.suffix != suffix:
        return f"extensions are lower case: rename it to {name}{suffix}"
    if suffix == ".sql" and parts[:1] == ("exclusions",):
        return f"a rule sits directly in sql/exclusions/ as <name>.sql: move it to " \
               f"sql/exclusions/{name}.sql"
    if suffix == ".csv" and parts[:1] == ("exclusions",):
        return f"a list sits in sql/exclusions/lists/ as <name>.csv: move it to " \
               f"sql/exclusions/lists/{name}.csv"
    if suffix in (".yml", ".yaml") and parts[:1] == ("plays",):
        return f"a play is sql/plays/<name>.yml: rename or move it to sql/plays/{name}.yml"
    if suffix == ".sql" and parts[:1] == ("plays",):
        return "no play names it as its audience: name it in a play's `audience:` or delete it"
    if suffix in (".yml", ".yaml") and name == "rulesets":
        return "rulesets are read from sql/rulesets.yml: rename or move it there"
    return "seqguard reads rules (sql/exclusions/<name>.sql), lists " \
           "(sql/exclusions/lists/<name>.csv), plays (sql/plays/<name>.yml and their " \
           "audience .sql), sql/rulesets.yml and sql/domain_aliases.csv: move it or delete it"
