"""Versions and the propagation clock: edits take effect 30 minutes after first seen."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tasks.rules.evaluate import evaluate_rules
from tasks.rules.propagation import pending_changes
from tests.rules.conftest import NOW, insert, matched, people, query, write, write_rule

MIN = timedelta(minutes=1)
T = NOW + MIN  # the cycle that first sees an edit


def own_builtins(project: Path) -> None:
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True, exist_ok=True)


def in_force(db: Path, run_id: str, rule: str) -> str | None:
    rows = query(db, "select version from rules.runs where run_id = ? and rule = ? "
                     "and not is_pending and kind = 'rule'", [run_id, rule])
    return rows[0][0] if rows else None


def setup_two_people(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", "bob@acme.com")
    write_rule(project, "target", "select 'ann@acme.com' as email")


def test_versions_present_at_the_first_cycle_are_effective_at_once(db: Path,
                                                                  project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "target") == {"ann@acme.com"}
    assert query(db, "select seq, first_seen, effective_from, header::json->>'level', sql "
                     "from rules.versions where rule = 'target'") == [
        (1, NOW, NOW, "contact", "select 'ann@acme.com' as email")]


def test_an_edit_takes_effect_after_30_minutes_not_10(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    old = in_force(db, "run-0", "target")
    write_rule(project, "target", "select 'bob@acme.com' as email")
    evaluate_rules(db, project, "run-edit", NOW + 5 * MIN)  # first seen here
    evaluate_rules(db, project, "run-10", NOW + 15 * MIN)
    assert in_force(db, "run-10", "target") == old
    assert matched(db, "run-10", "target") == {"ann@acme.com"}
    # the pending version is evaluated beside it, for the report
    assert matched(db, "run-10", "target", pending=True) == {"bob@acme.com"}
    evaluate_rules(db, project, "run-31", NOW + 36 * MIN)
    assert in_force(db, "run-31", "target") != old
    assert matched(db, "run-31", "target") == {"bob@acme.com"}
    assert matched(db, "run-31", "target", pending=True) == set()
    versions = query(db, "select seq, first_seen, effective_from from rules.versions "
                         "where rule = 'target' order by seq")
    assert versions == [(1, NOW, NOW), (2, NOW + 5 * MIN, NOW + 35 * MIN)]


def test_a_toggle_change_is_a_new_version_that_propagates(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    write_rule(project, "target", "select 'ann@acme.com' as email", remove_enrolled="false")
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    removes = "select bool_and(removes_enrolled) from rules.scopes where run_id = ? and rule = ?"
    assert query(db, removes, ["run-10", "target"]) == [(True,)]
    assert query(db, removes, ["run-31", "target"]) == [(False,)]


def test_disabling_propagates_the_same_way(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    write_rule(project, "target", "select 'ann@acme.com' as email", enabled="false")
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    assert matched(db, "run-10", "target") == {"ann@acme.com"}
    assert matched(db, "run-31", "target") == set()


def test_deleting_a_rule_file_propagates_as_a_disabling_version(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    (project / "sql/exclusions/target.sql").unlink()
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    assert matched(db, "run-10", "target") == {"ann@acme.com"}
    assert matched(db, "run-31", "target") == set()
    assert query(db, "select version, is_deleted from rules.versions where rule = 'target' "
                     "order by seq") == [(in_force(db, "run-0", "target"), False),
                                         ("deleted", True)]


def test_a_new_rule_waits_too(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    write_rule(project, "newcomer", "select 'bob@acme.com' as email")
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    assert matched(db, "run-10", "newcomer") == set()
    assert matched(db, "run-10", "newcomer", pending=True) == {"bob@acme.com"}
    assert matched(db, "run-31", "newcomer") == {"bob@acme.com"}


def test_an_edit_replaced_before_it_took_effect_never_does(db: Path, project: Path) -> None:
    """A typo fixed five minutes later must not hit anyone in between."""
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    write_rule(project, "target", "select email from crm.people")  # the mistake: everyone
    evaluate_rules(db, project, "run-1", NOW + 1 * MIN)
    write_rule(project, "target", "select 'bob@acme.com' as email")  # the fix
    evaluate_rules(db, project, "run-6", NOW + 6 * MIN)
    evaluate_rules(db, project, "run-31", NOW + 31 * MIN)  # the mistake's 30 minutes are up
    evaluate_rules(db, project, "run-36", NOW + 36 * MIN)
    assert matched(db, "run-31", "target") == {"ann@acme.com"}
    assert matched(db, "run-36", "target") == {"bob@acme.com"}


def test_reverting_to_the_version_in_force_is_immediate(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    original = (project / "sql/exclusions/target.sql").read_text()
    write_rule(project, "target", "select 'bob@acme.com' as email")
    evaluate_rules(db, project, "run-1", NOW + 1 * MIN)
    (project / "sql/exclusions/target.sql").write_text(original)
    evaluate_rules(db, project, "run-6", NOW + 6 * MIN)
    evaluate_rules(db, project, "run-31", NOW + 31 * MIN)
    assert matched(db, "run-6", "target", pending=True) == set()
    assert matched(db, "run-31", "target") == {"ann@acme.com"}


def test_a_zero_delay_applies_at_once(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW, timedelta(0))
    write_rule(project, "target", "select 'bob@acme.com' as email")
    evaluate_rules(db, project, "run-1", NOW + 1 * MIN, timedelta(0))
    assert matched(db, "run-1", "target") == {"bob@acme.com"}


def test_a_ruleset_change_propagates(db: Path, project: Path) -> None:
    setup_two_people(db, project)
    write_rule(project, "target", "select 'ann@acme.com' as email",
               exclude_from_sequences="false")
    write(project, "sql/rulesets.yml", 'sequences:\n  "S": {rules: []}\n')
    evaluate_rules(db, project, "run-0", NOW)
    write(project, "sql/rulesets.yml", 'sequences:\n  "S": {rules: [target]}\n')
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    blocks = "select blocks_new from rules.scopes where run_id = ? and rule = 'target' " \
             "and sequence = 'S'"
    assert query(db, blocks, ["run-10"]) == [(False,)]
    assert query(db, blocks, ["run-31"]) == [(True,)]
    changes = pending_changes(db, "run-10")
    assert [(c["kind"], c["name"], c["newly_excluded"]) for c in changes] == \
        [("ruleset", "S", 1)]
    assert changes[0]["summary"] == (
        f"ruleset 'S' (+target): +1 excluded, effective {T + 30 * MIN:%Y-%m-%d %H:%M}")


def test_pending_changes_say_what_an_edit_will_do(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", "bob@acme.com", "cat@acme.com")
    write_rule(project, "target", "select 'ann@acme.com' as email")
    write(project, "sql/rulesets.yml", 'sequences:\n  "Enterprise outbound": {rules: []}\n')
    evaluate_rules(db, project, "run-0", NOW)
    insert(db, "ops.sequences", [{"crm": "hubspot", "sequence_id": "101",
                                  "name": "Enterprise outbound", "seen_at": NOW}])
    insert(db, "ops.enrollments", [
        {"crm": "hubspot", "enrollment_id": f"e{i}", "sequence_id": "101", "email": email,
         "state": state, "seen_at": NOW}
        for i, (email, state) in enumerate([("bob@acme.com", "active"),
                                            ("cat@acme.com", "finished")])])
    write_rule(project, "target", "select email from crm.people where email <> 'ann@acme.com'")
    evaluation = evaluate_rules(db, project, "run-10", NOW + 10 * MIN)
    change, = pending_changes(db, "run-10")
    assert (change["name"], change["newly_excluded"], change["no_longer_excluded"]) == \
        ("target", 2, 1)
    assert change["would_remove"] == [{"sequence": "Enterprise outbound", "people": 1}]
    assert change["effective_from"] == NOW + 40 * MIN
    assert change["summary"].endswith(
        ": +2 excluded, -1 no longer excluded, 1 would be removed from 'Enterprise outbound', "
        f"effective {NOW + 40 * MIN:%Y-%m-%d %H:%M}")
    assert evaluation.pending[0]["summary"] == change["summary"]


def test_a_pending_broken_edit_is_reported_before_it_fails_closed(db: Path,
                                                                 project: Path) -> None:
    setup_two_people(db, project)
    evaluate_rules(db, project, "run-0", NOW)
    write_rule(project, "target", "select email from crm.peple")
    evaluate_rules(db, project, "run-seen", T)
    evaluate_rules(db, project, "run-10", T + 10 * MIN)
    evaluate_rules(db, project, "run-31", T + 31 * MIN)
    change, = pending_changes(db, "run-10")
    assert change["status"] == "error" and "will fail closed once effective" in change["summary"]
    assert matched(db, "run-10", "target") == {"ann@acme.com"}
    assert query(db, "select status from rules.runs where run_id = 'run-31' and rule = 'target' "
                     "and not is_pending") == [("error",)]
