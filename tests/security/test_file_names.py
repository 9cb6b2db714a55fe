"""File names are data, never SQL: a list's name becomes a table name only when it is a
plain lower-case name, and is quoted even then; a rule's name cannot shadow a built-in.

Each test reproduces an attack of issue 14 (item 1) or a name that broke the loader."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.lint import lint_project
from tests.rules.conftest import NOW, matched, people, query, write, write_rule
from tests.security.conftest import SECRET, hold_an_unenroll, outbox, seqguard

RELEASE_HELD = "x\"; update ops.outbox set status='pending' where status='held'; --.csv"
COPY_ENVIRON = ("x\"; create table ops.leak as select * from read_text(chr(47)||'proc'||"
                "chr(47)||'self'||chr(47)||'environ'); --.csv")
COPY_TO = "x\"; copy (select 42 as answer) to 'pwned.csv'; --.csv"


def write_list(project: Path, name: str, text: str = "email\nann@acme.com\n") -> Path:
    path = project / "sql" / "exclusions" / "lists" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_list_named_like_sql_does_not_release_held_unenrolls(db: Path, project: Path) -> None:
    hold_an_unenroll(db)
    write_list(project, RELEASE_HELD)
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert outbox(db) == [("held-1", "held")]
    assert any("cannot be a table name; rename it to lower-case letters" in p
               for p in evaluation.problems)


def test_a_list_named_like_sql_does_not_copy_the_environment(
        db: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQGUARD_HUBSPOT_TOKEN", SECRET)
    write_list(project, COPY_ENVIRON)
    evaluate_rules(db, project, "run-1", NOW)
    lint_project(project, db)
    assert query(db, "select count(*) from duckdb_tables() where table_name = 'leak'") == [(0,)]


def test_lint_of_a_list_named_like_sql_writes_no_file(tmp_path: Path, project: Path,
                                                      db: Path) -> None:
    write_list(project, COPY_TO)
    done = seqguard("lint", "--project", str(project), "--db", str(db), cwd=tmp_path)
    assert done.returncode == 1
    assert not (tmp_path / "pwned.csv").exists()
    assert "cannot be a table name" in done.stdout


def test_lists_load_only_with_external_access_off(project: Path) -> None:
    from tasks.rules.lists import load_lists
    from tasks.rules.project import load_project

    with duckdb.connect(":memory:") as con, pytest.raises(RuntimeError, match="external access"):
        load_lists(con, load_project(project))


def test_a_stale_list_table_with_a_quote_in_its_name_is_dropped(db: Path, project: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute('create table lists."a""b" (email varchar)')
    evaluate_rules(db, project, "run-1", NOW)
    assert query(db, "select count(*) from duckdb_tables() where schema_name = 'lists'") == [(0,)]


def test_a_list_named_like_a_keyword_loads_and_rules_read_it(db: Path, project: Path) -> None:
    people(db, "ann@acme.com", "bob@beta.com")
    write_list(project, "order.csv")
    write_rule(project, "ordered", 'select email from lists."order"')
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.problems == []
    assert matched(db, "run-1", "ordered") == {"ann@acme.com"}


def test_odd_file_names_are_one_line_problems_of_their_own(project: Path, db: Path,
                                                           capsys: pytest.CaptureFixture
                                                           ) -> None:
    write(project, "sql/exclusions/My Rule.sql", "-- rule: my_rule\nselect 1 as email\n")
    write(project, "sql/exclusions/bad\nname.sql", "select 1 as email\n")
    write_list(project, "Do Not Contact.csv")
    assert main(["lint", "--project", str(project), "--db", str(db)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "sql/exclusions/bad\\nname.sql:1: file name 'bad\\nname.sql' is not a rule name; " \
           "rename it to lower-case letters, digits and _ (e.g. open_deals.sql)" in out
    assert any(line.startswith("sql/exclusions/My Rule.sql:1: file name") for line in out)
    assert any(line.startswith("sql/exclusions/lists/Do Not Contact.csv:1: the file name "
                               "cannot be a table name") for line in out)
    assert all(line.startswith("sql/exclusions/") for line in out)


def test_a_rule_named_like_a_built_in_is_blamed_and_fails_closed_alone(
        db: Path, project: Path) -> None:
    people(db, "ann@acme.com")
    write_rule(project, "unsubscribed", "select 'ann@acme.com' as email")
    problems = [str(p) for p in lint_project(project, db).problems]
    assert problems == [
        "sql/exclusions/unsubscribed.sql:1: rule 'unsubscribed' is a built-in rule "
        "(sql/exclusions/builtin/unsubscribed.sql); rename your file and its `-- rule:` line, "
        "e.g. to unsubscribed_custom"]
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    ran = {r.rule: r.status for r in evaluation.runs if not r.is_pending}
    # the built-in keeps running; the user's file fails closed under its own path
    assert ran["unsubscribed"] == "ok"
    assert ran["sql/exclusions/unsubscribed.sql"] == "error"
    assert evaluation.rules_failed == ["sql/exclusions/unsubscribed.sql"]
    assert matched(db, "run-1", "unsubscribed") == set()
