"""The cycle's rule step: read-only evaluation, matches, fail closed, lists, scopes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tasks.rules.engine import rule_connection
from tasks.rules.evaluate import evaluate_rules, failed_rules
from tasks.rules.scopes import PlayView, RulesetView, RuleToggles, compute_scopes
from tests.rules.conftest import NOW, insert, matched, people, query, write, write_rule


def own_builtins(project: Path) -> None:
    """An empty builtin/ folder: only the test's own rules run."""
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True, exist_ok=True)


def runs(db: Path, run_id: str) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in query(
        db, "select rule, status, error, people from rules.runs where run_id = ? "
            "and kind = 'rule' and not is_pending", [run_id])}


def test_matches_carry_rule_version_and_reason(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", "bob@acme.com", owner_email="rep@us.com")
    write_rule(project, "vip", "select ' Ann@ACME.com ' as email, 'board member' as reason")
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    rows = query(db, "select rule, version, email, company_domain, reason, is_pending "
                     "from rules.matches")
    version = query(db, "select version from rules.versions where rule = 'vip'")[0][0]
    assert rows == [("vip", version, "ann@acme.com", None, "board member", False)]
    assert evaluation.matches == 1 and evaluation.rules_failed == []
    assert query(db, "select rules_run, rules_failed, matches from rules.evaluations") == \
        [(1, 0, 1)]


def test_company_rows_reach_aliases_and_folded_duplicates(db: Path, project: Path) -> None:
    own_builtins(project)
    insert(db, "crm.company_domains", [
        {"domain": "acme.com", "company_domain": "acme.com"},
        {"domain": "acme.io", "company_domain": "acme.com"},
        {"domain": "acme-corp.com", "company_domain": "acme.com"},
    ])
    people(db, "ann@acme.com", "cat@beta.com")
    people(db, "bob@acme-corp.com", company_domain="acme-corp.com")
    write_rule(project, "accounts", "select 'ACME.io' as company_domain, 'named account' "
                                    "as reason", level="company")
    evaluate_rules(db, project, "run-1", NOW)
    assert query(db, "select email, company_domain, reason from rules.matches order by 1") == [
        ("ann@acme.com", "acme.com", "named account"),
        ("bob@acme-corp.com", "acme.com", "named account"),
    ]


def test_a_broken_file_fails_closed_and_the_rest_still_runs(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", is_unsubscribed=True)
    write_rule(project, "good", "select email from crm.people where is_unsubscribed")
    write_rule(project, "typo", "select email from crm.people wher is_bounced")
    write_rule(project, "boom", "select error('the rule blew up') as email")
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    status = runs(db, "run-1")
    assert status["good"][0] == "ok" and matched(db, "run-1", "good") == {"ann@acme.com"}
    assert status["typo"][0] == "error"
    assert status["typo"][1].startswith("sql/exclusions/typo.sql:7: does not parse")
    assert status["boom"][0] == "error" and "the rule blew up" in status["boom"][1]
    assert evaluation.rules_failed == ["boom", "typo"]
    # fail closed: blocks where it applies (global here), removes no one
    scopes = query(db, "select distinct blocks_new, removes_enrolled, why, failed "
                       "from rules.scopes where rule = 'typo'")
    assert scopes == [(True, False, ["global"], True)]
    assert [f["rule"] for f in failed_rules(db, "run-1")] == ["boom", "typo"]


@pytest.mark.parametrize("sql, error", [
    ("select column0 as email from read_csv('/etc/passwd')",
     "Permission Error: Cannot access file \"/etc/passwd\" - file system operations are "
     "disabled by configuration"),
    ("select * from read_text('/etc/passwd')", "Permission Error"),
    ("copy (select email from crm.people) to '/tmp/seqguard-leak.csv'",
     "is a COPY statement, not a SELECT"),
    ("select email from crm.people; drop table crm.people", "a second statement"),
])
def test_file_access_and_writes_are_refused_at_run_time(db: Path, project: Path, sql: str,
                                                        error: str) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "evil", sql)
    evaluate_rules(db, project, "run-1", NOW)
    status, message, _ = runs(db, "run-1")["evil"]
    assert status == "error" and error in message
    assert not Path("/tmp/seqguard-leak.csv").exists()
    assert query(db, "select count(*) from crm.people") == [(1,)]


def test_rule_connections_are_read_only_and_locked(db: Path) -> None:
    with rule_connection(db, NOW) as con:
        assert con.execute("select cycle_time()").fetchall() == [(NOW,)]
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("set enable_external_access = true")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("insert into crm.people (email) values ('x@y.z')")
        assert con.execute("select has_option('analytics; crm', 'crm')").fetchall() == [(True,)]


def test_lists_load_normalized_and_follow_the_folder(db: Path, project: Path) -> None:
    own_builtins(project)
    write(project, "sql/exclusions/lists/dnc.csv",
          "company_domain,email,company_name,reason\n"
          "https://www.Rival.com/about,,Rival,competitor\n"
          ",Legal@Example.org ,,legal hold\n")
    evaluate_rules(db, project, "run-1", NOW)
    assert query(db, "select company_domain, email, company_name, reason from lists.dnc "
                     "order by reason") == [
        ("rival.com", None, "Rival", "competitor"),
        (None, "legal@example.org", None, "legal hold"),
    ]
    (project / "sql/exclusions/lists/dnc.csv").unlink()
    evaluate_rules(db, project, "run-2", NOW)
    assert query(db, "select count(*) from duckdb_tables() where schema_name = 'lists'") == [(0,)]


def test_a_bad_list_fails_the_rules_that_read_it(db: Path, project: Path) -> None:
    own_builtins(project)
    write(project, "sql/exclusions/lists/dnc.csv", "company_domain\nrival.com\n")
    write_rule(project, "dnc", "select company_domain from lists.dnc", level="company")
    evaluate_rules(db, project, "run-1", NOW)
    write(project, "sql/exclusions/lists/dnc.csv", "company_domain\nrival.com\nnot a domain\n")
    evaluation = evaluate_rules(db, project, "run-2", NOW + timedelta(minutes=15))
    assert evaluation.rules_failed == ["dnc"]
    assert evaluation.problems == [
        "sql/exclusions/lists/dnc.csv:3: company_domain is not a domain; write it like "
        "example.com"]
    assert query(db, "select status, error from rules.runs where run_id = 'run-2' "
                     "and kind = 'list'") == [("error", evaluation.problems[0])]


def test_disabled_rules_match_no_one_and_have_no_scope(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "off", "select email from crm.people", enabled="false")
    evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "off") == set()
    assert runs(db, "run-1")["off"][0] == "disabled"
    assert query(db, "select count(*) from rules.scopes where rule = 'off'") == [(0,)]


def test_rulesets_and_plays_become_scope_rows(db: Path, project: Path) -> None:
    own_builtins(project)
    write_rule(project, "everywhere", "select email from crm.people")
    write_rule(project, "enterprise_only", "select email from crm.people",
               exclude_from_sequences="false")
    write_rule(project, "block_only", "select email from crm.people",
               exclude_from_sequences="false", remove_enrolled="false")
    write(project, "sql/rulesets.yml", """
        default: {rules: []}
        sequences:
          "Enterprise outbound": {rules: [enterprise_only, block_only]}
    """)
    write(project, "sql/plays/webinar.yml", """
        play: webinar
        sequence: "Webinar follow-up"
        audience: webinar.sql
        trigger: manual
        exclusions: [enterprise_only]
    """)
    write(project, "sql/plays/webinar.sql", "select email from crm.people")
    evaluate_rules(db, project, "run-1", NOW)
    rows = query(db, "select rule, sequence, play, blocks_new, removes_enrolled, why, failed "
                     "from rules.scopes where run_id = 'run-1' order by all")
    assert rows == [
        ("block_only", "Enterprise outbound", None, True, False, ["ruleset"], False),
        ("block_only", "Webinar follow-up", None, False, False, [], False),
        ("block_only", None, None, False, False, [], False),
        ("enterprise_only", "Enterprise outbound", None, True, True, ["ruleset"], False),
        ("enterprise_only", "Webinar follow-up", "webinar", True, False, ["play"], False),
        ("enterprise_only", "Webinar follow-up", None, False, False, [], False),
        ("enterprise_only", None, None, False, False, [], False),
        ("everywhere", "Enterprise outbound", None, True, True, ["global"], False),
        ("everywhere", "Webinar follow-up", None, True, True, ["global"], False),
        ("everywhere", None, None, True, True, ["global"], False),
    ]


def test_scope_semantics() -> None:
    rulesets = RulesetView(default=("default_rule",),
                           sequences={"S": ("in_s",), "T": ()})
    scopes = compute_scopes([
        RuleToggles("global_rule", "v", True, True),
        RuleToggles("in_s", "v", False, True),
        RuleToggles("default_rule", "v", False, True),
        RuleToggles("failing", "v", True, True, failed=True),
    ], rulesets, [PlayView("p", "T", ("in_s",))])
    table = {(s.rule, s.sequence, s.play): (s.blocks_new, s.removes_enrolled, s.why)
             for s in scopes}
    assert table[("global_rule", "T", None)] == (True, True, ("global",))
    assert table[("in_s", "S", None)] == (True, True, ("ruleset",))
    assert table[("in_s", "T", None)] == (False, False, ())
    # a play's exclusion blocks its own enrollments and removes no one
    assert table[("in_s", "T", "p")] == (True, False, ("play",))
    # the default ruleset applies to sequences without their own ruleset only
    assert table[("default_rule", None, None)] == (True, True, ("default_ruleset",))
    assert table[("default_rule", "T", None)] == (False, False, ())
    assert table[("failing", "S", None)] == (True, False, ("global",))


def test_colleague_reply_turns_on_colleague_replied_for_its_sequence(db: Path,
                                                                   project: Path) -> None:
    write(project, "sql/rulesets.yml", """
        sequences:
          "Enterprise outbound": {rules: [], colleague_reply: true}
          "Nurture": {rules: []}
    """)
    evaluate_rules(db, project, "run-1", NOW)
    rows = query(db, "select sequence, blocks_new, removes_enrolled from rules.scopes "
                     "where rule = 'colleague_replied' order by all")
    assert rows == [("Enterprise outbound", True, True), ("Nurture", False, False),
                    (None, False, False)]


def test_a_ruleset_naming_a_missing_rule_fails_closed_for_that_sequence(db: Path,
                                                                      project: Path) -> None:
    own_builtins(project)
    write(project, "sql/rulesets.yml", """
        sequences:
          "Enterprise outbound": {rules: [no_such_rule]}
    """)
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.rules_failed == ["no_such_rule"]
    assert query(db, "select sequence, blocks_new, removes_enrolled, failed from rules.scopes "
                     "where rule = 'no_such_rule' order by all") == [
        ("Enterprise outbound", True, False, True), (None, False, False, True)]


def test_a_broken_rulesets_file_blocks_everything_and_keeps_the_rulesets(db: Path,
                                                                        project: Path) -> None:
    own_builtins(project)
    write_rule(project, "enterprise_only", "select email from crm.people",
               exclude_from_sequences="false")
    write(project, "sql/rulesets.yml", 'sequences:\n  "S": {rules: [enterprise_only]}\n')
    evaluate_rules(db, project, "run-1", NOW)
    write(project, "sql/rulesets.yml", 'sequences:\n  "S": {rules: [enterprise_only\n')
    evaluation = evaluate_rules(db, project, "run-2", NOW + timedelta(minutes=15))
    assert evaluation.rules_failed == ["rulesets.yml"]
    assert query(db, "select sequence, blocks_new, failed from rules.scopes where run_id = "
                     "'run-2' and rule = 'rulesets.yml' order by all") == [
        ("S", True, True), (None, True, True)]
    assert query(db, "select sequence, blocks_new from rules.scopes where run_id = 'run-2' "
                     "and rule = 'enterprise_only' order by all") == [("S", True), (None, False)]


def test_only_narrows_the_run_and_carries_the_rest(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", is_unsubscribed=True)
    write_rule(project, "first", "select email from crm.people")
    write_rule(project, "second", "select email from crm.people where is_unsubscribed")
    evaluate_rules(db, project, "run-1", NOW)
    evaluate_rules(db, project, "run-2", NOW + timedelta(minutes=15), only=["first"])
    assert runs(db, "run-2")["second"][0] == "carried"
    assert matched(db, "run-2", "second") == {"ann@acme.com"}


def test_old_runs_matches_are_pruned(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "all_people", "select email from crm.people")
    for i in range(4):
        evaluate_rules(db, project, f"run-{i}", NOW + timedelta(minutes=15 * i), keep_runs=2)
    assert query(db, "select distinct run_id from rules.matches order by 1") == \
        [("run-2",), ("run-3",)]
    assert query(db, "select count(distinct run_id) from rules.runs") == [(4,)]


def test_running_the_same_run_twice_replaces_it(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "all_people", "select email from crm.people")
    evaluate_rules(db, project, "run-1", NOW)
    evaluate_rules(db, project, "run-1", NOW)
    assert query(db, "select count(*) from rules.matches") == [(1,)]
    assert query(db, "select count(*) from rules.runs where rule = 'all_people'") == [(1,)]
