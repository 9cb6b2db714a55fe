"""`seqguard lint`: every rule, ruleset, play and list file checked before it runs.

Checks, each reported as `file:line: what is wrong; how to fix`:
- the header (keys and values) and that the body is exactly one SELECT (tasks/rules/files.py);
- rulesets and plays name rules that exist (tasks/rules/project.py);
- the wall clock (`now()`, `current_timestamp`, `current_date`): use `cycle_time()`;
- reading files (`read_csv(...)`, `from 'x.csv'`): rules read only the database;
- a dry run against the database (`describe`, nothing executed) for unknown tables and
  columns and the output columns the level needs;
- a string compared with an enumerated column (HubSpot enumerations and Salesforce
  picklists, in raw_* and crm.*, configured columns included) that is a label rather than
  an internal value, and a multi-select property compared as one string.

The dry run binds against a copy of the database's structure (tasks/rules/lint_db.py),
never its data.

Files under sql/ that seqguard will not read (a rule in a subfolder, `x.SQL`) are
warnings: printed, but lint still exits 0 when nothing else is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from tasks.core.config import Config, load_config
from tasks.core.errors import ConfigError
from tasks.core.user_files import printable
from tasks.rules.engine import output_column_problem
from tasks.rules.files import Problem, RuleFile
from tasks.rules.lint_db import Catalog, PropertyOptions, dry_run_database
from tasks.rules.play_files import Play
from tasks.rules.project import load_project
from tasks.rules.statements import duckdb_line, first_line, statement_problem

FILE_FUNCTIONS = frozenset({
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_json_objects", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text",
    "read_blob", "glob", "sniff_csv", "parquet_metadata", "parquet_schema", "iceberg_scan",
    "delta_scan", "read_xlsx", "st_read", "sqlite_scan", "postgres_scan", "mysql_scan",
})


CLOCK_FUNCTIONS = frozenset({
    "now", "today", "get_current_timestamp", "transaction_timestamp", "get_current_time",
    "current_localtimestamp", "current_localtime",
})


CLOCK_TOKENS = {
    TokenType.CURRENT_TIMESTAMP: "current_timestamp",
    TokenType.CURRENT_DATE: "current_date",
    TokenType.CURRENT_TIME: "current_time",
}


@dataclass
class LintResult:
    problems: list[Problem]
    notes: list[str]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def lint_project(project_dir: str | Path, db_path: str | Path | None = None,
                 now: datetime | None = None) -> LintResult:
    """Check every file of the project; problems sorted by file and line."""
    if not Path(project_dir).is_dir():
        raise ConfigError(f"{printable(str(project_dir))}: no such project folder; pass "
                            "--project with the folder holding sql/ (seqguard init DIR makes one)")
    project = load_project(project_dir)
    problems = list(project.problems())
    config = readable_config(project_dir)
    with dry_run_database(db_path, project, now, config) as (con, catalog, list_problems,
                                                              notes):
        problems += list_problems
        for rule in project.rules:
            problems += lint_rule(rule, con, catalog)
        for play in project.plays:
            problems += lint_audience(play, con, catalog)
    return LintResult(sorted(set(problems), key=lambda p: (p.path, p.line, p.message)), notes,
                      project.unread)


def readable_config(project_dir: str | Path) -> Config | None:
    """seqguard.yml, for the columns and properties it configures; None when the file is
    missing or broken (the commands that use the settings report that; lint checks the
    sql/ files)."""
    try:
        return load_config(project_dir)
    except ConfigError:
        return None


def lint_rule(rule: RuleFile, con: duckdb.DuckDBPyConnection, catalog: Catalog) -> list[Problem]:
    """The SQL checks of one rule file (header and statement checks are in rule.problems)."""
    if not rule.sql.strip() or statement_problem(rule.sql):
        return []
    problems = token_problems(rule.display, rule.sql, rule.sql_line)
    problems += value_problems(rule.display, rule.sql, rule.sql_line, catalog)
    if any("reads a file" in p.message for p in problems):
        return problems  # the dry run would only repeat it as a permission error
    columns, problem = describe(con, rule.sql)
    if problem:
        problems.append(Problem(rule.display, rule.file_line(problem[0]), problem[1]))
    elif rule.level:
        wrong = output_column_problem([c for c, _ in columns], rule.level)
        if wrong:
            problems.append(Problem(rule.display, rule.sql_line, wrong))
    return problems


def lint_audience(play: Play, con: duckdb.DuckDBPyConnection, catalog: Catalog) -> list[Problem]:
    """A play's audience SQL: one SELECT of email [, event_at] that binds."""
    if play.audience_display is None or not play.audience_sql.strip():
        return []
    if statement_problem(play.audience_sql):
        return []
    display, sql, first = play.audience_display, play.audience_sql, play.audience_sql_line
    problems = token_problems(display, sql, first)
    problems += value_problems(display, sql, first, catalog)
    if any("reads a file" in p.message for p in problems):
        return problems
    columns, problem = describe(con, sql)
    if problem:
        return [*problems, Problem(display, first + problem[0] - 1, problem[1])]
    names = {c.lower(): t for c, t in columns}
    if "email" not in names:
        problems.append(Problem(display, first, "returns no email column; an audience returns "
                                                "email (and event_at for a crm_event play)"))
    extra = [c for c in names if c not in ("email", "event_at")]
    if extra:
        problems.append(Problem(display, first, f"returns column '{extra[0]}', which an audience "
                                                "does not use; return email and optionally "
                                                "event_at"))
    if play.trigger == "crm_event" and "event_at" not in names:
        problems.append(Problem(display, first, "a crm_event play needs event_at (the event "
                                                "time its delay counts from); add it"))
    elif "event_at" in names and not re.match(r"^(TIMESTAMP|DATE)", names["event_at"]):
        problems.append(Problem(display, first, f"event_at is {names['event_at']}, not a "
                                                "timestamp; cast it (event_at::timestamp)"))
    return problems


def describe(con: duckdb.DuckDBPyConnection, sql: str
             ) -> tuple[list[tuple[str, str]], tuple[int, str] | None]:
    """Bind the query without running it: its columns, or (line, problem)."""
    try:
        rows = con.execute("describe " + sql).fetchall()
    except duckdb.Error as exc:
        return [], (duckdb_line(str(exc)), _dry_run_message(exc))
    return [(r[0], r[1]) for r in rows], None


def _dry_run_message(exc: BaseException) -> str:
    text = str(exc)
    what = re.sub(r"^[A-Za-z ]+ Error: ", "", first_line(text)).rstrip("!")
    suggestion = re.search(r'(?:Did you mean|Candidate bindings:) ?"([^"]+)"', text)
    if "disabled by configuration" in text:
        how = "rules read only the database: load files as lists in sql/exclusions/lists/"
    elif suggestion:
        how = f'did you mean "{suggestion.group(1)}"?'
    else:
        how = "check the table and column names against the crm.* tables"
    return f"{what}; {how}"


def token_problems(display: str, sql: str, first_line_no: int) -> list[Problem]:
    """The wall clock and file reads, found in the token stream (works on any SQL)."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return []
    problems = []
    for i, token in enumerate(tokens):
        line = first_line_no + token.line - 1
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        is_call = following is not None and following.token_type == TokenType.L_PAREN
        name = token.text.lower()
        if token.token_type in CLOCK_TOKENS or (is_call and name in CLOCK_FUNCTIONS):
            label = CLOCK_TOKENS.get(token.token_type, f"{name}()")
            use = "cycle_time()::date" if "date" in label or name == "today" else "cycle_time()"
            problems.append(Problem(display, line, f"{label} reads the wall clock; use {use} "
                                                   "(the cycle's time, moved by --now)"))
        elif is_call and name in FILE_FUNCTIONS:
            problems.append(Problem(display, line, f"{name}() reads a file; rules read only the "
                                                   "database: put the data in "
                                                   "sql/exclusions/lists/<name>.csv and select "
                                                   "from lists.<name>"))
        elif (token.token_type in (TokenType.FROM, TokenType.JOIN) and following is not None
              and following.token_type == TokenType.STRING):
            problems.append(Problem(display, first_line_no + following.line - 1,
                                    f"from '{following.text}' reads a file; rules read only "
                                    "the database: put the data in "
                                    "sql/exclusions/lists/<name>.csv and select from "
                                    "lists.<name>"))
    return problems


def value_problems(display: str, sql: str, first_line_no: int, catalog: Catalog) -> list[Problem]:
    """Strings compared with enumerated columns (in raw_* tables and crm.*): labels where the
    internal value belongs, unknown options, and multi-select values compared as one string.
    A column fed by several CRMs (crm.opportunities.stage) accepts any of their values."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return []  # DuckDB parsed it; sqlglot's gaps are not the user's problem
    problems = []
    for column, literal in _comparisons(tree):
        enumerations = _enumerations_of(column, catalog)
        if not enumerations:
            continue
        text = literal.this
        line = first_line_no + literal.meta.get("line", 1) - 1
        first = enumerations[0]
        value = next((v for e in enumerations if (v := _label_value(e, text)) is not None), None)
        multi = next((e for e in enumerations if e.multi), None)
        if multi is not None:
            option = value or text
            problems.append(Problem(display, line, (
                f"{multi.name} is a multi-select property, so '{text}' compared as one string "
                f"misses people with several options; use has_option({column.sql('duckdb')}, "
                f"'{option}')")))
        elif any(text in e.values for e in enumerations):
            continue
        elif value is not None:
            source = next(e for e in enumerations if _label_value(e, text) is not None)
            problems.append(Problem(display, line, f"'{text}' is the label of {source.name}; "
                                                   f"use its internal value '{value}'"))
        else:
            shown = ", ".join(f"'{v}'" for v in first.values[:8])
            more = ", ..." if len(first.values) > 8 or len(enumerations) > 1 else ""
            problems.append(Problem(display, line, f"'{text}' is not an option of "
                                                   f"{first.name}; use one of {shown}{more}"))
    return problems


def _label_value(options: PropertyOptions, text: str) -> str | None:
    if text in options.labels:
        return options.labels[text]
    folded = {label.lower(): value for label, value in options.labels.items()}
    return folded.get(text.lower())


def _comparisons(tree: exp.Expression) -> Iterator[tuple[exp.Column, exp.Literal]]:
    """(column, string literal) pairs of `=`, `<>` and `in (...)` comparisons."""
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        if isinstance(node, exp.In):
            if isinstance(node.this, exp.Column):
                for item in node.expressions:
                    if isinstance(item, exp.Literal) and item.is_string:
                        yield node.this, item
            continue
        left, right = node.left, node.right
        if isinstance(left, exp.Literal):
            left, right = right, left
        if isinstance(left, exp.Column) and isinstance(right, exp.Literal) and right.is_string:
            yield left, right


def _enumerations_of(column: exp.Column, catalog: Catalog) -> list[PropertyOptions]:
    """The enumerations whose values a column of a rule's table holds, if any."""
    table = _source_table(column, catalog)
    return catalog.enumerations(table, column.name.lower()) if table else []


def _source_table(column: exp.Column, catalog: Catalog) -> str | None:
    """Which schema.table of the column's own SELECT the column comes from."""
    select = column.find_ancestor(exp.Select)
    if select is None:
        return None
    sources: dict[str, str] = {}
    for table in select.find_all(exp.Table):
        if table.find_ancestor(exp.Select) is not select or not table.db:
            continue
        sources[table.alias_or_name.lower()] = f"{table.db}.{table.name}".lower()
    if column.table:
        return sources.get(column.table.lower())
    name = column.name.lower()
    having = [t for t in sources.values() if name in catalog.columns.get(t, set())]
    return having[0] if len(set(having)) == 1 else None
