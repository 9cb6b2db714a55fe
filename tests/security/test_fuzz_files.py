"""Fuzz of the files the data team commits: any name, any bytes, any encoding, YAML and
CSV of any shape. Whatever they hold, lint and the rule step

- never raise anything but problems (a `file:line: message` of one line each) or one of
  seqguard's named errors,
- never hang (each example runs under a hard alarm),
- never print or store a secret a file links to, and
- never change ops.outbox: the held unenroll stays held, as only the breaker may move it.

Kept fast: a modest number of examples per property, each in a fresh folder.
"""

from __future__ import annotations

import codecs
import shutil
import signal
import string
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.config import load_config
from tasks.core.errors import SeqguardError
from tasks.rules.engine import RULE_CONNECTION_CONFIG
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.files import Problem
from tasks.rules.lint import lint_project
from tasks.rules.play_files import load_play
from tasks.rules.project import load_project
from tasks.rules.rulesets import load_rulesets
from tests.rules.conftest import NOW, query
from tests.security.conftest import SECRET, hold_an_unenroll, outbox

HANG_SECONDS = 30
FUZZ = settings(max_examples=40, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# where files land, and under which names
FOLDERS = ["sql/exclusions", "sql/exclusions/lists", "sql/plays", "sql/exclusions/team", "sql",
           "sql/exclusions/builtin"]
SUFFIXES = [".sql", ".csv", ".yml", ".SQL", ".yaml", ".CSV", ""]
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                min_size=1, max_size=40).filter(lambda n: n not in (".", ".."))
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "latin-1", "cp1252", "utf-32"]

SQL_PIECES = [
    "-- rule: r\n", "-- description: d\n", "-- level: contact\n", "-- level: company\n",
    "-- exclude_from_sequences: true\n", "-- remove_enrolled: true\n", "-- enabled: false\n",
    "select email from crm.people", "select 'a@b.c' as email", " where ", "now()", ";",
    "update ops.outbox set status = 'pending'", "copy (select 1) to 'x.csv'",
    "select * from read_text('/proc/self/environ')", "attach 'x.db' as x", "\"", "'", "(",
    ")", "--", "/*", "\n", "\ufeff", "\t", "lists.x", "select company_domain from lists.",
    "set enable_external_access = true", "pragma version", "\u00a0", "𝔰𝔢𝔩𝔢𝔠𝔱",
]
YAML_PIECES = [
    "&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "!!binary ", "!!set ", "? ",
    "<<: ", "!!python/object/apply:os.system ", "rules", "default", "sequences", "play",
    "sequence", "audience", "x.sql", "trigger", "crm_event", "delay", "30m", "'", '"', "#",
    "%YAML 1.1\n", "---\n", "...\n", "2026-13-45", "1e999", "9" * 5000, "\t", "|\n", ">\n",
    "!!float ", "!!int ", "~", "null", "true", "crms", "hubspot", "unenroll_threshold_pct",
    "\x07", "\u2028",
]
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["default", "sequences", "rules", "colleague_reply", "play", "sequence", "audience",
         "trigger", "delay", "exclusions", "crms", "hubspot", "sequencer"]), inner, max_size=4),
    max_leaves=20)
yaml_texts = (yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True))
              | st.lists(st.sampled_from(YAML_PIECES), max_size=30).map("".join))

cells = st.text(st.sampled_from(string.ascii_letters + string.digits + "@.,\"' \t\n\r-_;é\u00a0"),
                max_size=20)
csv_texts = st.builds(
    lambda header, rows, end: end.join([",".join(header), *(",".join(r) for r in rows)]),
    st.lists(st.sampled_from(["email", "company_domain", "company_name", "reason", "Email",
                              "", " email", '"email"', "x", "email,reason"]), max_size=5),
    st.lists(st.lists(cells, max_size=6), max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]))


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    """Any bytes, or rule/YAML/CSV-shaped text in any encoding."""
    kind = draw(st.sampled_from(["bytes", "sql", "yaml", "csv"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    text = draw({"sql": st.lists(st.sampled_from(SQL_PIECES), max_size=25).map("".join),
                 "yaml": yaml_texts, "csv": csv_texts}[kind])
    return codecs.encode(text, draw(st.sampled_from(ENCODINGS)), "replace")


@st.composite
def project_files(draw: st.DrawFn) -> list[tuple[str, str, bytes | None]]:
    """(folder, file name, content); None content = a symlink to a secret outside."""
    files = []
    for _ in range(draw(st.integers(1, 4))):
        folder = draw(st.sampled_from(FOLDERS))
        name = draw(names | st.sampled_from(["r", "x", "rulesets", "default", "replied"]))
        content = draw(st.none() | contents()) if draw(st.integers(0, 9)) else None
        files.append((folder, name + draw(st.sampled_from(SUFFIXES)), content))
    return files


@contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Turn a hang into a failure: SIGALRM raises TimeoutError in the main thread."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def build_project(root: Path, files: list[tuple[str, str, bytes | None]]) -> Path:
    secret = root / "outside" / "secret.env"
    secret.parent.mkdir(parents=True)
    secret.write_text(f"SEQGUARD_HUBSPOT_TOKEN={SECRET}\n")
    project = root / "project"
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True)  # only fuzzed rules
    for folder, name, content in files:
        path = project / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            continue
        try:
            if content is None:
                path.symlink_to(secret)
            else:
                path.write_bytes(content)
        except OSError:  # a name the file system refuses (too long in bytes)
            continue
    return project


def assert_one_line_each(problems: list[Problem] | list[str]) -> None:
    for problem in problems:
        text = str(problem)
        assert "\n" not in text and "\r" not in text, text
        assert SECRET not in text


@FUZZ
@given(files=project_files())
def test_lint_survives_any_files(tmp_path_factory, files) -> None:
    project = build_project(tmp_path_factory.mktemp("fuzz"), files)
    with no_hang():
        result = lint_project(project)
    assert_one_line_each(result.problems + result.warnings)


@settings(FUZZ, max_examples=25)
@given(files=project_files())
def test_the_rule_step_survives_any_files_and_leaves_the_outbox_alone(
        tmp_path_factory, migrated_template: Path, files) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    project = build_project(root, files)
    db = root / "seqguard.duckdb"
    shutil.copy(migrated_template, db)
    hold_an_unenroll(db)
    with no_hang():
        try:
            evaluation = evaluate_rules(db, project, "run-1", NOW)
        except SeqguardError as exc:
            assert_one_line_each([str(exc)])
        else:
            assert_one_line_each(evaluation.problems + [r.error or "" for r in evaluation.runs])
    assert outbox(db) == [("held-1", "held")]
    stored = query(db, "select coalesce(error, '') from rules.runs union all "
                       "select coalesce(sql, '') || coalesce(problem, '') from rules.versions")
    assert not any(SECRET in row[0] for row in stored)


@settings(FUZZ, max_examples=120)
@given(text=yaml_texts, encoding=st.sampled_from(ENCODINGS))
def test_yaml_of_any_shape_is_data_or_a_problem(tmp_path_factory, text: str,
                                                encoding: str) -> None:
    root = tmp_path_factory.mktemp("yaml")
    (root / "sql" / "plays").mkdir(parents=True)
    for path in (root / "sql" / "rulesets.yml", root / "sql" / "plays" / "p.yml",
                 root / "seqguard.yml"):
        path.write_bytes(codecs.encode(text, encoding, "replace"))
    with no_hang():
        assert_one_line_each(load_rulesets(root / "sql" / "rulesets.yml", root).problems)
        assert_one_line_each(load_play(root / "sql" / "plays" / "p.yml", root).problems)
        try:
            load_config(root)
        except SeqguardError as exc:
            assert_one_line_each([str(exc)])


@settings(FUZZ, max_examples=100)
@given(text=csv_texts, encoding=st.sampled_from(ENCODINGS))
def test_a_csv_of_any_shape_loads_or_fails_by_name(tmp_path_factory, migrated_template: Path,
                                                   text: str, encoding: str) -> None:
    from tasks.rules.lists import load_lists

    root = tmp_path_factory.mktemp("csv")
    lists = root / "sql" / "exclusions" / "lists"
    lists.mkdir(parents=True)
    (lists / "fuzzed.csv").write_bytes(codecs.encode(text, encoding, "replace"))
    db = root / "seqguard.duckdb"
    shutil.copy(migrated_template, db)
    with duckdb.connect(str(db), config=RULE_CONNECTION_CONFIG) as con, no_hang():
        problems = load_lists(con, load_project(root))
        loaded = con.execute("select count(*) from duckdb_tables() "
                             "where schema_name = 'lists'").fetchall()[0][0]
    assert_one_line_each(problems)
    assert (loaded, len(problems)) in ((1, 0), (0, 1))
