"""Rule files (`sql/exclusions/<name>.sql`): the `-- key: value` header, then exactly one
SELECT; and what every user file of a project shares: its problems (`file:line: what is
wrong; how to fix`), its version (a content hash) and the YAML reader.

Nothing here raises on a broken file: every problem is kept on the object it concerns,
so `seqguard lint` can show them all and the cycle can fail closed on exactly the broken
rule while the rest still runs. Every file is read through tasks/core/user_files.py
(inside the project, regular, UTF-8, YAML as plain data)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.resources import BUILTIN_RULES_DIR
from tasks.core.user_files import (
    UserFileError,
    display_path,
    load_yaml,
    printable,
    read_text,
    shown,
)
from tasks.rules.statements import statement_problem

HEADER_KEYS = ("rule", "description", "level", "exclude_from_sequences", "remove_enrolled",
               "enabled")


REQUIRED_HEADER_KEYS = ("rule", "description", "level", "exclude_from_sequences",
                        "remove_enrolled")


LEVELS = ("contact", "company")


LEVEL_COLUMN = {"contact": "email", "company": "company_domain"}


NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# `-- key: value   -- optional comment`
HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")


TRAILING_COMMENT = re.compile(r"\s+--.*$")


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
    rule.sql_line = body_start + 1 + leading_blank_lines(lines[body_start:])
    _check_header_values(rule)
    problem = statement_problem(rule.sql)
    if problem:
        rule.problem(rule.file_line(problem[0]), problem[1])
    return rule


def leading_blank_lines(lines: list[str]) -> int:
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


def read_yaml(path: Path, display: str, root: Path
               ) -> tuple[Any, dict[tuple, int], Problem | None]:
    """Load a user YAML file and the line of every key and list item (file:line messages)."""
    try:
        data, lines = load_yaml(read_text(path, display, user_roots(root)), display)
    except UserFileError as exc:
        return None, {}, Problem(display, exc.line, exc.message)
    return data, lines, None
