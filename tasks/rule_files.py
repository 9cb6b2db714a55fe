"""Read the files the data team edits: rules, rulesets, plays and CSV lists.

Nothing here raises on a broken file: every problem is kept as a `Problem`
(`file:line: what is wrong; how to fix`) on the object it concerns, so `seqguard lint`
can show them all and the cycle can fail closed on exactly the broken rule while the
rest still runs. Every file is read through tasks/user_files.py (inside the project,
regular, UTF-8, YAML as plain data); CSV lists are loaded by tasks/list_files.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot.tokens import TokenType

from tasks.core.config import parse_duration
from tasks.core.errors import ConfigError
from tasks.core.resources import BUILTIN_RULES_DIR, OWN_SQL
from tasks.core.user_files import (
    UserFileError,
    display_path,
    load_yaml,
    printable,
    read_text,
    shown,
)

HEADER_KEYS = ("rule", "description", "level", "exclude_from_sequences", "remove_enrolled",
               "enabled")
REQUIRED_HEADER_KEYS = ("rule", "description", "level", "exclude_from_sequences",
                        "remove_enrolled")
LEVELS = ("contact", "company")
LEVEL_COLUMN = {"contact": "email", "company": "company_domain"}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# `-- key: value   -- optional comment`
HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
TRAILING_COMMENT = re.compile(r"\s+--.*$")

PLAY_KEYS = ("play", "sequence", "audience", "trigger", "delay", "exclusions",
             "allow_reenrollment", "max_enrollments_per_company", "sender", "enabled")
TRIGGERS = ("crm_event", "schedule", "manual")
CRM_EVENT_DELAY = (timedelta(minutes=20), timedelta(minutes=30))
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, shown as `path:line: message`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def user_roots(root: Path) -> tuple[Path, Path]:
    """Where a project's files may live (symlinks resolved): the project, and seqguard's
    own built-in rules."""
    return root, BUILTIN_RULES_DIR


def content_hash(text: str) -> str:
    """A short, stable version id for a file's content."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- rule files ------------------------------------------------------------------------

@dataclass
class RuleFile:
    """One `sql/exclusions/*.sql` file: its header, its SELECT and what is wrong with it."""

    name: str
    path: Path
    display: str
    text: str
    header: dict[str, str] = field(default_factory=dict)
    header_lines: dict[str, int] = field(default_factory=dict)
    sql: str = ""
    sql_line: int = 1  # the file line of the SQL's first line
    level: str | None = None
    description: str | None = None
    exclude_from_sequences: bool | None = None
    remove_enrolled: bool | None = None
    enabled: bool = True
    problems: list[Problem] = field(default_factory=list)
    unreadable: str | None = None  # why the file could not be read at all

    @property
    def version(self) -> str:
        # an unreadable file's version changes when the reason does (its text is never kept)
        return content_hash(self.unreadable or self.text)

    @property
    def runnable(self) -> bool:
        return not self.problems

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.display, line, message))

    def file_line(self, sql_line: int) -> int:
        """Map a line of the SQL body to a line of the file."""
        return self.sql_line + max(sql_line, 1) - 1


def parse_rule_file(path: Path, root: Path) -> RuleFile:
    """Parse one rule file: the `-- key: value` header, then exactly one SELECT.

    A file that cannot be read (a link out of the project, not UTF-8, ...) is a rule with
    one problem and no text: it fails closed under its file's name."""
    rule = RuleFile(name=path.stem, path=path, display=display_path(path, root), text="")
    try:
        rule.text = read_text(path, rule.display, user_roots(root))
    except UserFileError as exc:
        rule.unreadable = exc.message
        rule.problem(exc.line, exc.message)
        return rule
    lines = rule.text.splitlines()
    body_start = _parse_header(rule, lines)
    rule.sql = "\n".join(lines[body_start:]).strip("\n")
    rule.sql_line = body_start + 1 + _leading_blank_lines(lines[body_start:])
    _check_header_values(rule)
    problem = statement_problem(rule.sql)
    if problem:
        rule.problem(rule.file_line(problem[0]), problem[1])
    return rule


def _leading_blank_lines(lines: list[str]) -> int:
    count = 0
    for line in lines:
        if line.strip():
            break
        count += 1
    return count


def _parse_header(rule: RuleFile, lines: list[str]) -> int:
    """Read the leading comment block into rule.header; returns the index of the SQL."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            return index
        match = HEADER_LINE.match(stripped)
        if not match:
            continue  # a free comment line in the header block
        key, value = match.group(1), TRAILING_COMMENT.sub("", match.group(2)).strip()
        line_no = index + 1
        if key not in HEADER_KEYS:
            rule.problem(line_no, f"unknown header key '{shown(key)}'; use one of "
                                  f"{', '.join(HEADER_KEYS)} (or drop the colon of a comment)")
        elif key in rule.header:
            rule.problem(line_no, f"header key '{key}' appears twice (first on line "
                                  f"{rule.header_lines[key]}); keep one")
        else:
            rule.header[key] = value
            rule.header_lines[key] = line_no
    return len(lines)


def _check_header_values(rule: RuleFile) -> None:
    header, at = rule.header, rule.header_lines
    first_sql_line = rule.sql_line
    for key in REQUIRED_HEADER_KEYS:
        if key not in header:
            rule.problem(1, f"header key '{key}' is missing; add a line `-- {key}: ...` "
                            "at the top of the file")
    if not NAME_PATTERN.match(rule.path.stem):
        rule.problem(1, f"file name '{printable(rule.path.name)}' is not a rule name; rename "
                        "it to lower-case letters, digits and _ (e.g. open_deals.sql)")
    if "rule" in header:
        name = header["rule"]
        if not NAME_PATTERN.match(name):
            rule.problem(at["rule"], f"rule name '{printable(name)}' is not a plain lower-case "
                                     "name; use letters, digits and _ only")
        elif name != rule.path.stem:
            rule.problem(at["rule"], f"rule name '{name}' differs from the file name "
                                     f"'{printable(rule.path.name)}'; rename one so they "
                                     "match")
        else:
            rule.name = name
    if "description" in header and not header["description"]:
        rule.problem(at["description"], "description is empty; say in a sentence who the "
                                        "rule excludes and why")
    rule.description = header.get("description")
    if "level" in header:
        if header["level"] in LEVELS:
            rule.level = header["level"]
        else:
            rule.problem(at["level"], f"level '{shown(header['level'])}' is not contact or "
                                      "company; write `-- level: contact` or "
                                      "`-- level: company`")
    rule.exclude_from_sequences = _header_bool(rule, "exclude_from_sequences")
    rule.remove_enrolled = _header_bool(rule, "remove_enrolled")
    enabled = _header_bool(rule, "enabled")
    rule.enabled = True if enabled is None else enabled
    if not rule.sql.strip():
        rule.problem(first_sql_line, "no SELECT under the header; write the query that "
                                     "returns the people or companies to exclude")


def _header_bool(rule: RuleFile, key: str) -> bool | None:
    if key not in rule.header:
        return None
    value = rule.header[key].lower()
    if value in ("true", "false"):
        return value == "true"
    rule.problem(rule.header_lines[key],
                 f"{key} is '{shown(rule.header[key])}'; write true or false")
    return None


@lru_cache(maxsize=1024)
def statement_problem(sql: str) -> tuple[int, str] | None:
    """(line, message) when `sql` is not exactly one SELECT, using DuckDB's own parser.

    This is the check the cycle relies on before running a file: a second statement, a
    write or a COPY never reaches the database, whatever lint said.
    """
    if not sql.strip():
        return None
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return duckdb_line(str(exc)), f"does not parse: {first_line(exc)}; fix the SQL syntax"
    statements = [s for s in statements if s.query.strip().rstrip(";").strip()]
    if not statements:
        return 1, "no SELECT; write the query that returns the people or companies to exclude"
    if len(statements) > 1:
        return (_line_of(sql, statements[1].query, after=statements[0].query),
                "a second statement; a rule is exactly one SELECT, remove everything after "
                "the first `;`")
    kind = statements[0].type.name
    if kind != "SELECT":
        return 1, (f"is a {kind} statement, not a SELECT; rules only read "
                   "(no insert, update, create, copy or settings)")
    if re.match(r"^\s*(describe|show|summarize)\b", _strip_comments(sql), re.IGNORECASE):
        return 1, "is not a SELECT; start the query with select, with or from"
    return None


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _line_of(sql: str, fragment: str, after: str = "") -> int:
    """The 1-based line where `fragment` (a statement DuckDB split off) starts in `sql`,
    looking past the statement `after` it (the two may read the same)."""
    start = sql.find(after.strip()) + len(after.strip()) if after.strip() else 0
    stripped = fragment.lstrip()
    pos = sql.find(stripped, max(start, 0)) if stripped else -1
    return sql.count("\n", 0, pos) + 1 if pos >= 0 else 1


def duckdb_line(message: str) -> int:
    match = re.search(r"LINE (\d+):", message)
    return int(match.group(1)) if match else 1


@lru_cache(maxsize=1024)
def strip_semicolon(sql: str) -> str:
    """The SELECT without its final `;` (and anything after it), so it can be nested."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return sql
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        return sql[: tokens[-1].start]
    return sql


def first_line(exc: BaseException | str) -> str:
    """The first line of an error message (DuckDB adds context lines below it)."""
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if isinstance(exc, BaseException) else ""


# --- rulesets.yml ------------------------------------------------------------------------

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
        """The rules it turns on; colleague_reply turns on the built-in colleague_replied."""
        rules = list(dict.fromkeys(self.rules))
        if self.colleague_reply and "colleague_replied" not in rules:
            rules.append("colleague_replied")
        return rules

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
    data, lines, problem = _read_yaml(path, display, root)
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


def _read_yaml(path: Path, display: str, root: Path
               ) -> tuple[Any, dict[tuple, int], Problem | None]:
    """Load a user YAML file and the line of every key and list item (file:line messages)."""
    try:
        data, lines = load_yaml(read_text(path, display, user_roots(root)), display)
    except UserFileError as exc:
        return None, {}, Problem(display, exc.line, exc.message)
    return data, lines, None


# --- plays ------------------------------------------------------------------------------

@dataclass
class Play:
    """One `sql/plays/<name>.yml` and its audience SQL (loaded and checked; run elsewhere)."""

    name: str
    path: Path
    display: str
    sequence: str | None = None
    audience: str | None = None
    audience_path: Path | None = None
    audience_display: str | None = None
    audience_sql: str = ""
    audience_sql_line: int = 1
    trigger: str | None = None
    delay: timedelta = timedelta(0)
    exclusions: list[str] = field(default_factory=list)
    allow_reenrollment: bool = False
    max_enrollments_per_company: int | None = None
    sender: str = "owner"
    enabled: bool = True
    lines: dict[tuple, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return not self.problems

    def line(self, key: str) -> int:
        return self.lines.get((key,), 1)

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.display, self.line(key), message))


def load_play(path: Path, root: Path) -> Play:
    """Parse and check one play file (format exactly as DESIGN's example)."""
    play = Play(name=path.stem, path=path, display=display_path(path, root))
    data, play.lines, problem = _read_yaml(path, play.display, root)
    if problem:
        play.problems.append(problem)
        return play
    if not isinstance(data, dict):
        play.problems.append(Problem(play.display, 1, "expected a mapping of play settings "
                                                      "(play, sequence, audience, trigger, ...)"))
        return play
    for key in data:
        if key not in PLAY_KEYS:
            play.problem(str(key), f"unknown key '{shown(key)}'; use {', '.join(PLAY_KEYS)}")
    for key in ("play", "sequence", "audience", "trigger"):
        if key not in data:
            play.problems.append(Problem(play.display, 1, f"'{key}' is missing; add `{key}: ...`"))
    name = data.get("play")
    if name is not None and name != path.stem:
        play.problem("play", f"play name '{shown(name)}' differs from the file name "
                             f"'{shown(path.name)}'; rename one so they match")
    if "sequence" in data:
        play.sequence = str(data["sequence"]) if data["sequence"] not in (None, "") else None
        if play.sequence is None:
            play.problem("sequence", "sequence is empty; name the sequence (id or name at the "
                                     "sequencer)")
    _play_trigger_and_delay(play, data)
    _play_audience(play, data, root)
    _play_options(play, data)
    return play


def _play_trigger_and_delay(play: Play, data: dict[str, Any]) -> None:
    trigger = data.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        play.problem("trigger", f"trigger '{shown(trigger)}' is not one of {', '.join(TRIGGERS)}")
    play.trigger = trigger if trigger in TRIGGERS else None
    default = "30m" if trigger == "crm_event" else "0"
    try:
        play.delay = parse_duration(data.get("delay", default), "delay")
    except ConfigError:
        play.problem("delay", f"delay '{shown(data.get('delay'))}' is not a duration; "
                              "write e.g. 30m")
        return
    low, high = CRM_EVENT_DELAY
    if trigger == "crm_event" and not low <= play.delay <= high:
        play.problem("delay", f"delay {data.get('delay')} is outside 20m..30m for a crm_event "
                              "play; pick a delay between 20m and 30m")
    elif trigger in ("schedule", "manual") and play.delay:
        play.problem("delay", f"a {trigger} play has no delay; remove `delay:` or write 0")


def _play_audience(play: Play, data: dict[str, Any], root: Path) -> None:
    audience = data.get("audience")
    if audience is None:
        return
    if (not isinstance(audience, str) or not audience.endswith(".sql")
            or Path(audience).name != audience):
        play.problem("audience", "audience must name a .sql file beside the play, e.g. "
                                 f"{play.name}.sql")
        return
    play.audience = audience
    play.audience_path = play.path.parent / audience
    play.audience_display = display_path(play.audience_path, root)
    if not play.audience_path.exists() and not play.audience_path.is_symlink():
        play.problem("audience", f"audience file {play.audience_display} does not exist; "
                                 "create it or fix the name")
        return
    try:
        lines = read_text(play.audience_path, play.audience_display,
                          user_roots(root)).splitlines()
    except UserFileError as exc:
        play.problems.append(Problem(play.audience_display, exc.line, exc.message))
        return
    play.audience_sql = "\n".join(lines).strip("\n")
    play.audience_sql_line = 1 + _leading_blank_lines(lines)
    problem = statement_problem(play.audience_sql)
    if problem:
        play.problems.append(Problem(play.audience_display, play.audience_sql_line + problem[0] - 1,
                                     problem[1]))


def _play_options(play: Play, data: dict[str, Any]) -> None:
    exclusions = data.get("exclusions", []) or []
    if not isinstance(exclusions, list) or not all(isinstance(x, str) for x in exclusions):
        play.problem("exclusions", "exclusions must be a list of rule names, e.g. "
                                   "[recent_manual_email]")
        exclusions = []
    play.exclusions = exclusions
    for key in ("allow_reenrollment", "enabled"):
        value = data.get(key, key == "enabled")
        if not isinstance(value, bool):
            play.problem(key, f"{key} is '{shown(value)}'; write true or false")
            value = key == "enabled"
        setattr(play, key, value)
    cap = data.get("max_enrollments_per_company")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        play.problem("max_enrollments_per_company",
                     f"max_enrollments_per_company is '{shown(cap)}'; write a whole number of 1 "
                     "or more")
        cap = None
    play.max_enrollments_per_company = cap
    sender = str(data.get("sender", "owner"))
    if sender != "owner" and not EMAIL_PATTERN.match(sender):
        play.problem("sender", f"sender '{shown(sender)}' is neither owner nor an email address")
    play.sender = sender


# --- the project -----------------------------------------------------------------------

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
    own = set()
    if os.path.realpath(root) == os.path.realpath(OWN_SQL.parent):
        own = {p.name for p in OWN_SQL.iterdir() if p.is_dir()} - {"exclusions", "plays"}
    warnings = []
    for folder, dirs, files in os.walk(sql):
        relative = Path(folder).relative_to(sql)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d not in own]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
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
