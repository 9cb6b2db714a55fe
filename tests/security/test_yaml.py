"""YAML in user files (rulesets.yml, plays, seqguard.yml) is plain data: no anchors or
aliases (a ~370-byte "billion laughs" ran lint past 300 s), bounded nesting, and a value
YAML cannot convert is a file:line problem, not a crash (issue 14, item 3)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flows.cli import main
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.lint import lint_project
from tests.rules.conftest import NOW, write
from tests.security.conftest import seqguard

# nine levels of nine: 9**9 = 387,420,489 leaves in 371 bytes
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)) + "sequences: {s: {rules: *i}}\n"
ANCHORS_REFUSED = "anchors and aliases (&name, *name) are not allowed; write the values out"


def test_billion_laughs_rulesets_are_refused_at_once(project: Path, db: Path) -> None:
    assert len(LAUGHS.encode()) < 400
    write(project, "sql/rulesets.yml", LAUGHS)
    started = time.monotonic()
    done = seqguard("lint", "--project", str(project), "--db", str(db), timeout=60)
    assert time.monotonic() - started < 30
    assert done.stdout.splitlines() == [f"sql/rulesets.yml:1: {ANCHORS_REFUSED}"]
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert "rulesets.yml" in evaluation.rules_failed  # every sequence blocked until fixed


def test_an_alias_in_a_play_is_refused(project: Path) -> None:
    write(project, "sql/plays/p.yml", "play: p\nsequence: &s S\ntrigger: manual\n"
                                      "audience: p.sql\nsender: *s\n")
    write(project, "sql/plays/p.sql", "select email from crm.people")
    assert [str(p) for p in lint_project(project).problems] == [
        f"sql/plays/p.yml:2: {ANCHORS_REFUSED}"]


def test_an_alias_in_seqguard_yml_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "seqguard.yml").write_text("x: &pct 20\nunenroll_threshold_pct: *pct\n")
    assert main(["lint", "--project", str(tmp_path), "--db", str(tmp_path / "db"),
                 "--now", "2026-03-02T12:00:00"]) == 0  # lint reads no settings
    assert main(["explain", "a@b.c", "--project", str(tmp_path),
                 "--db", str(tmp_path / "db")]) == 2
    assert capsys.readouterr().err == (f"seqguard explain: {tmp_path}/seqguard.yml:1: "
                                       f"{ANCHORS_REFUSED}\n")


def test_deep_nesting_is_refused(project: Path) -> None:
    write(project, "sql/rulesets.yml", "default: " + "[" * 5000 + "]" * 5000 + "\n")
    assert [str(p) for p in lint_project(project).problems] == [
        "sql/rulesets.yml:1: nested more than 20 levels deep; flatten it"]


def test_a_value_yaml_cannot_convert_is_a_problem_at_its_line(project: Path) -> None:
    write(project, "sql/plays/p.yml", "play: p\nsequence: S\ntrigger: manual\n"
                                      "audience: p.sql\nenabled: 2026-13-45\n")
    write(project, "sql/plays/p.sql", "select email from crm.people")
    assert [str(p) for p in lint_project(project).problems] == [
        "sql/plays/p.yml:5: a value that cannot be read as timestamp; quote it to keep it as "
        "text"]
