"""What a file holds, or what it is, cannot leak, stall or abort: a link out of the
project or a special file is refused by name, text is UTF-8 (a BOM is fine), a bad file
fails closed alone, and no error, table or report quotes a file's content. Files that
seqguard would silently skip are warned about (issue 14, items 2, 5 and 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli import main
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.lint import lint_project
from tests.rules.conftest import HEADER, NOW, matched, people, query, write, write_rule
from tests.security.conftest import SECRET, seqguard

PROC_ENVIRON = Path("/proc/self/environ")


def header(name: str) -> str:
    return "\n".join(f"-- {k}: {v}" for k, v in {"rule": name, **HEADER}.items()) + "\n"


def lint_lines(project: Path, db: Path) -> list[str]:
    result = lint_project(project, db)
    return [str(p) for p in result.problems]


def stored_text(db: Path) -> str:
    """Every error and SQL text the rule step keeps, as one string."""
    rows = query(db, "select coalesce(error, '') from rules.runs union all "
                     "select coalesce(sql, '') || coalesce(problem, '') from rules.versions")
    return "\n".join(r[0] for r in rows)


def a_good_rule(db: Path, project: Path) -> None:
    people(db, "ann@acme.com", "bob@beta.com")
    write_rule(project, "good", "select 'bob@beta.com' as email")


@pytest.fixture
def secret_outside(tmp_path: Path) -> Path:
    """A file outside the project holding a token, as ~/.env or /proc/self/environ would."""
    path = tmp_path / "outside" / "env"
    path.parent.mkdir()
    path.write_text(f"SEQGUARD_HUBSPOT_TOKEN={SECRET}\nselect 1\n")
    return path


@pytest.mark.parametrize("relative", ["sql/exclusions/leak.sql",
                                      "sql/exclusions/lists/leak.csv",
                                      "sql/plays/leak.yml", "sql/rulesets.yml"])
def test_a_link_out_of_the_project_is_refused_and_never_read(
        db: Path, project: Path, secret_outside: Path, relative: str) -> None:
    link = project / relative
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret_outside)
    a_good_rule(db, project)
    problems = lint_lines(project, db)
    assert f"{relative}:1: is a link to a file outside the project; seqguard does not follow " \
           "it: copy the file into the project" in problems
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "good") == {"bob@beta.com"}
    shown = "\n".join(problems + evaluation.problems
                      + [r.error or "" for r in evaluation.runs]) + stored_text(db)
    assert SECRET not in shown


def test_a_rule_linked_to_proc_environ_leaks_nothing(
        db: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQGUARD_HUBSPOT_TOKEN", SECRET)
    (project / "sql" / "exclusions" / "environ.sql").symlink_to(PROC_ENVIRON)
    done = seqguard("lint", "--project", str(project), "--db", str(db))
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert done.returncode == 1 and "environ.sql:1: is a link to a file outside" in done.stdout
    assert evaluation.rules_failed == ["environ"]
    assert SECRET not in done.stdout + done.stderr + stored_text(db)


def test_a_link_inside_the_project_is_followed(db: Path, project: Path) -> None:
    a_good_rule(db, project)
    shared = project / "shared" / "vip.sql"
    shared.parent.mkdir()
    shared.write_text(header("vip") + "select 'ann@acme.com' as email\n")
    (project / "sql" / "exclusions" / "vip.sql").symlink_to(shared)
    assert lint_lines(project, db) == []
    evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "vip") == {"ann@acme.com"}


@pytest.mark.parametrize("relative, fails", [
    ("sql/exclusions/pipe.sql", "pipe"),
    ("sql/exclusions/lists/pipe.csv", None),
    ("sql/plays/pipe.yml", None),
])
def test_a_named_pipe_does_not_hang_the_loader(db: Path, project: Path, relative: str,
                                               fails: str | None) -> None:
    fifo = project / relative
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    done = seqguard("lint", "--project", str(project), "--db", str(db), timeout=60)
    assert f"{relative}:1: is a named pipe, not a regular file; replace it with the file " \
           "itself" in done.stdout
    if fails:
        assert fails in evaluate_rules(db, project, "run-1", NOW).rules_failed


def test_a_folder_named_like_a_rule_fails_closed_by_name(db: Path, project: Path) -> None:
    (project / "sql" / "exclusions" / "folder.sql").mkdir()
    assert "sql/exclusions/folder.sql:1: is a folder, not a regular file; replace it with the " \
           "file itself" in lint_lines(project, db)
    assert evaluate_rules(db, project, "run-1", NOW).rules_failed == ["folder"]


def test_a_latin1_list_names_file_and_offset_and_fails_only_its_rules(
        db: Path, project: Path) -> None:
    a_good_rule(db, project)
    lists = project / "sql" / "exclusions" / "lists"
    lists.mkdir()
    (lists / "partners.csv").write_bytes("email,reason\nann@acme.com,Société\n".encode("latin-1"))
    write_rule(project, "partners", "select email, reason from lists.partners")
    message = ("sql/exclusions/lists/partners.csv:2: is not UTF-8 text (byte offset 30); save "
               "it as UTF-8 (a spreadsheet's 'CSV UTF-8' export)")
    assert message in lint_lines(project, db)
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.problems == [message]
    assert evaluation.rules_failed == ["partners"]
    assert matched(db, "run-1", "good") == {"bob@beta.com"}


def test_a_utf16_rule_fails_closed_alone(db: Path, project: Path) -> None:
    a_good_rule(db, project)
    (project / "sql" / "exclusions" / "wide.sql").write_bytes(
        (header("wide") + "select 'ann@acme.com' as email\n").encode("utf-16"))
    assert lint_lines(project, db) == ["sql/exclusions/wide.sql:1: is UTF-16 text; save it as "
                                       "UTF-8"]
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.rules_failed == ["wide"]
    assert matched(db, "run-1", "good") == {"bob@beta.com"}


def test_a_binary_play_is_a_problem_not_a_crash(db: Path, project: Path) -> None:
    a_good_rule(db, project)
    write(project, "sql/plays/blob.yml", "")
    (project / "sql" / "plays" / "blob.yml").write_bytes(b"play: blob\n\x89PNG\r\n\x1a\n\x00\xff")
    assert lint_lines(project, db) == ["sql/plays/blob.yml:2: is not UTF-8 text (byte offset "
                                       "11); save it as UTF-8 (a spreadsheet's 'CSV UTF-8' "
                                       "export)"]
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.rules_failed == [] and matched(db, "run-1", "good") == {"bob@beta.com"}


def test_a_nul_byte_is_named_by_offset(project: Path, db: Path) -> None:
    (project / "sql" / "exclusions" / "nul.sql").write_bytes(
        (header("nul") + "select 1 as email\x00\n").encode())
    problem = lint_lines(project, db)[0]
    assert problem.startswith("sql/exclusions/nul.sql:7: has a NUL byte (byte offset ")


def test_a_byte_order_mark_before_the_header_is_accepted(db: Path, project: Path) -> None:
    people(db, "ann@acme.com")
    (project / "sql" / "exclusions" / "bom.sql").write_bytes(
        b"\xef\xbb\xbf" + (header("bom") + "select 'ann@acme.com' as email\n").encode())
    assert lint_lines(project, db) == []
    evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "bom") == {"ann@acme.com"}


def test_list_errors_never_quote_a_cell(project: Path, db: Path) -> None:
    write(project, "sql/exclusions/lists/leaky.csv", f"email,reason\n{SECRET},x\n")
    assert lint_lines(project, db) == ["sql/exclusions/lists/leaky.csv:2: email is not an email "
                                       "address; fix it or delete the row"]


def test_files_seqguard_skips_are_warned_about(db: Path, project: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    people(db, "ann@acme.com")
    write_rule(project, "nested", "select 'ann@acme.com' as email", folder="team")
    write(project, "sql/exclusions/shout.SQL", header("shout") + "select 1 as email\n")
    write(project, "sql/plays/webinar.yaml", "play: webinar\n")
    write(project, "sql/exclusions/README.md", "notes\n")
    write(project, "sql/exclusions/.#shout.sql", "an editor's lock file\n")
    assert main(["lint", "--project", str(project), "--db", str(db)]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [
        "sql/exclusions/shout.SQL:1: warning: seqguard does not read this file; extensions are "
        "lower case: rename it to shout.sql",
        "sql/exclusions/team/nested.sql:1: warning: seqguard does not read this file; a rule "
        "sits directly in sql/exclusions/ as <name>.sql: move it to sql/exclusions/nested.sql",
        "sql/plays/webinar.yaml:1: warning: seqguard does not read this file; a play is "
        "sql/plays/<name>.yml: rename or move it to sql/plays/webinar.yml",
    ]
    assert err == warnings
    assert evaluate_rules(db, project, "run-1", NOW).problems == warnings


def test_domain_aliases_linked_out_of_the_project_are_refused_unread(
        db: Path, project: Path, secret_outside: Path) -> None:
    from tasks.core.errors import RuleFileError
    from tasks.model import build_model

    (project / "sql" / "domain_aliases.csv").symlink_to(secret_outside)
    with pytest.raises(RuleFileError) as error:
        build_model(db, project, None)
    assert str(error.value) == ("sql/domain_aliases.csv:1: is a link to a file outside the "
                                "project; seqguard does not follow it: copy the file into the "
                                "project")


def test_a_dangling_rulesets_link_blocks_every_sequence(db: Path, project: Path) -> None:
    (project / "sql" / "rulesets.yml").symlink_to(project / "sql" / "gone.yml")
    assert lint_lines(project, db) == ["sql/rulesets.yml:1: is a link to nothing (or was "
                                       "removed while reading); delete the link or restore "
                                       "its file"]
    assert "rulesets.yml" in evaluate_rules(db, project, "run-1", NOW).rules_failed
