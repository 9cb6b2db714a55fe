"""One slow rule cannot stall the cycle: every piece of user SQL runs within a time budget
(issue 14, item 3). Past it the query is interrupted, the rule fails closed naming itself
and its budget, and the rest of the cycle goes on."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from tasks.core.config import load_config
from tasks.core.errors import ConfigError, RuleFileError
from tasks.decide.plays import queue_plays
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.explain import explain
from tasks.rules.preview import preview
from tests.decide.conftest import write_play
from tests.rules.conftest import (  # noqa: F401 - fixtures
    NOW,
    db,
    insert,
    matched,
    migrated_template,
    project,
    query,
    write,
    write_rule,
)

BUDGET = timedelta(seconds=1)
# crm.people joined with itself four times: 400 people make 2.6e10 rows, hours of work
SLOW_SQL = """
select a.email, 'slow' as reason
from crm.people as a, crm.people as b, crm.people as c, crm.people as d
where a.email < b.email and b.email < c.email and c.email < d.email
"""


@pytest.fixture
def crowd(db: Path, project: Path) -> Path:  # noqa: F811
    """400 people, a slow rule, a quick one, and no built-in rules."""
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True)
    insert(db, "crm.people", [{"email": f"p{i}@acme.com", "company_domain": "acme.com",
                               "is_unsubscribed": i == 0} for i in range(400)])
    write_rule(project, "self_join", SLOW_SQL)
    write_rule(project, "unsubscribed", "select email from crm.people where is_unsubscribed")
    return db


def test_a_rule_past_its_budget_is_stopped_and_fails_closed_and_the_rest_runs(
        crowd: Path, project: Path) -> None:  # noqa: F811
    started = time.perf_counter()
    evaluation = evaluate_rules(crowd, project, "run-1", NOW, timedelta(0),
                                rule_timeout=BUDGET)
    assert time.perf_counter() - started < 15
    assert evaluation.rules_failed == ["self_join"]
    (status, error), = query(crowd, "select status, error from rules.runs "
                                    "where rule = 'self_join'")
    assert status == "error"
    assert "sql/exclusions/self_join.sql" in error and "time budget of 1 s" in error
    assert "rule_timeout" in error
    # fail closed: blocks new enrollments where it applies, unenrolls no one
    assert query(crowd, "select distinct blocks_new, removes_enrolled, failed "
                        "from rules.scopes where rule = 'self_join'") == [(True, False, True)]
    assert matched(crowd, "run-1", "unsubscribed") == {"p0@acme.com"}


def test_the_connection_serves_the_next_rule_after_an_interrupt(
        crowd: Path, project: Path) -> None:  # noqa: F811
    """The quick rule sorts after the slow one and still runs on the same connection."""
    write_rule(project, "zz_after", "select 'p1@acme.com' as email")
    evaluate_rules(crowd, project, "run-1", NOW, timedelta(0), rule_timeout=BUDGET)
    assert matched(crowd, "run-1", "zz_after") == {"p1@acme.com"}


def test_a_slow_play_audience_queues_nobody_and_says_why(crowd: Path, project: Path,  # noqa: F811
                                                         ) -> None:
    write_play(project, "everyone", "Webinar follow-up", SLOW_SQL.replace(", 'slow' as reason",
                                                                          ""))
    evaluate_rules(crowd, project, "run-1", NOW, timedelta(0), rule_timeout=BUDGET)
    started = time.perf_counter()
    result = queue_plays(crowd, project, NOW, rule_timeout=BUDGET)
    assert time.perf_counter() - started < 10
    assert result.queued == {}
    assert any("sql/plays/everyone.sql" in p and "time budget of 1 s" in p
               for p in result.problems)


def test_explain_and_preview_stop_a_slow_rule_and_show_it_failed(crowd: Path,
                                                                 project: Path,  # noqa: F811
                                                                 ) -> None:
    evaluate_rules(crowd, project, "run-1", NOW, timedelta(0), rule_timeout=BUDGET)
    started = time.perf_counter()
    answer = explain(crowd, project, "p0@acme.com", NOW, timedelta(0), rule_timeout=BUDGET)
    shown = preview(crowd, project, NOW, timedelta(0), rule_timeout=BUDGET)
    assert time.perf_counter() - started < 15
    assert [f["rule"] for f in answer["failed"]] == ["self_join"]
    assert "time budget" in answer["failed"][0]["error"]
    assert [r["rule"] for r in answer["rules"]] == ["unsubscribed"]
    assert {r["rule"]: r["status"] for r in shown["rules"]} == {
        "self_join": "error", "unsubscribed": "ok"}


def test_a_slow_play_audience_in_preview_is_one_line(crowd: Path, project: Path,  # noqa: F811
                                                     ) -> None:
    write_play(project, "everyone", "Webinar follow-up", "select a.email " +
               SLOW_SQL.split("\n", 2)[2])
    evaluate_rules(crowd, project, "run-1", NOW, timedelta(0), rule_timeout=BUDGET)
    with pytest.raises(RuleFileError, match=r"sql/plays/everyone.sql: the audience was "
                                            r"stopped after its time budget of 1 s"):
        preview(crowd, project, NOW, timedelta(0), play="everyone", rule_timeout=BUDGET)


def test_the_budget_comes_from_seqguard_yml(tmp_path: Path) -> None:
    write(tmp_path, "seqguard.yml", "rule_timeout: 90s\n")
    assert load_config(tmp_path).rule_timeout == timedelta(seconds=90)
    write(tmp_path, "seqguard.yml", "rule_timeout: 0\n")
    with pytest.raises(ConfigError, match="rule_timeout"):
        load_config(tmp_path)
    write(tmp_path, "seqguard.yml", "sequencer: hubspot\n")
    assert load_config(tmp_path).rule_timeout == timedelta(seconds=10)
