"""Matches are stored as ranges of runs (008_match_rows.sql): each run must still see
exactly what its rules returned, while unchanged rows are not written again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tasks.db import store
from tasks.rules.evaluate import evaluate_rules
from tests.rules.conftest import NOW, insert, matched, people, query, write_rule
from tests.rules.test_evaluate import own_builtins

LATER = timedelta(minutes=15)


def set_unsubscribed(db: Path, email: str, value: bool) -> None:
    with store.connect(db) as con:
        con.execute("update crm.people set is_unsubscribed = ? where email = ?", [value, email])


def stored_rows(db: Path) -> int:
    return query(db, "select count(*) from rules.match_rows")[0][0]


def test_each_run_sees_its_own_result_as_rows_come_and_go(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", "bob@acme.com", is_unsubscribed=True)
    write_rule(project, "opted_out", "select email from crm.people where is_unsubscribed")
    evaluate_rules(db, project, "run-1", NOW)
    set_unsubscribed(db, "bob@acme.com", False)
    evaluate_rules(db, project, "run-2", NOW + LATER)
    set_unsubscribed(db, "bob@acme.com", True)
    evaluate_rules(db, project, "run-3", NOW + 2 * LATER)
    assert matched(db, "run-1", "opted_out") == {"ann@acme.com", "bob@acme.com"}
    assert matched(db, "run-2", "opted_out") == {"ann@acme.com"}
    assert matched(db, "run-3", "opted_out") == {"ann@acme.com", "bob@acme.com"}
    # ann once; bob twice (his first range closed at run 2, a new one from run 3)
    assert stored_rows(db) == 3


def test_an_unchanged_result_writes_nothing_again(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", "bob@acme.com")
    write_rule(project, "everyone", "select email, 'listed' as reason from crm.people")
    for i in range(3):
        evaluate_rules(db, project, f"run-{i}", NOW + i * LATER)
    assert stored_rows(db) == 2
    assert matched(db, "run-2", "everyone") == {"ann@acme.com", "bob@acme.com"}


def test_a_changed_reason_is_a_changed_row(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "stamped", "select email, 'seen ' || cycle_time()::date as reason "
                                   "from crm.people")
    evaluate_rules(db, project, "run-1", NOW)
    evaluate_rules(db, project, "run-2", NOW + timedelta(days=1))
    reasons = query(db, "select run_id, reason from rules.matches order by 1")
    assert reasons == [("run-1", "seen 2026-03-02"), ("run-2", "seen 2026-03-03")]


def test_an_emptied_result_matches_no_one(db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com", is_unsubscribed=True)
    write_rule(project, "opted_out", "select email from crm.people where is_unsubscribed")
    evaluate_rules(db, project, "run-1", NOW)
    set_unsubscribed(db, "ann@acme.com", False)
    evaluate_rules(db, project, "run-2", NOW + LATER)
    assert matched(db, "run-2", "opted_out") == set()
    assert matched(db, "run-1", "opted_out") == {"ann@acme.com"}


def test_a_rule_broken_longer_than_the_kept_runs_comes_back_whole(
        db: Path, project: Path) -> None:
    """Pruning drops the rows (and fingerprint) of a version no kept run stored; when the
    same version runs again its rows must all be written again."""
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "flaky", "select email from crm.people")
    evaluate_rules(db, project, "run-0", NOW, keep_runs=2)
    write_rule(project, "flaky", "select email from crm.people", enabled="false")
    for i in range(1, 4):
        evaluate_rules(db, project, f"run-{i}", NOW + timedelta(hours=i), keep_runs=2)
    assert stored_rows(db) == 0
    write_rule(project, "flaky", "select email from crm.people")  # the same version again
    evaluate_rules(db, project, "run-8", NOW + timedelta(hours=8), keep_runs=2)
    assert matched(db, "run-8", "flaky", pending=True) == {"ann@acme.com"}
    evaluate_rules(db, project, "run-9", NOW + timedelta(hours=9), keep_runs=2)  # in force
    assert matched(db, "run-9", "flaky") == {"ann@acme.com"}


def test_company_rows_reach_people_added_after_the_result_was_stored(
        db: Path, project: Path) -> None:
    """A company rule's stored rows name the company; the view expands them to the people
    there now, so a person synced in later is covered in the run that sees them."""
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "vip", "select 'acme.com' as company_domain", level="company")
    evaluate_rules(db, project, "run-1", NOW)
    people(db, "cat@acme.com")
    evaluate_rules(db, project, "run-2", NOW + LATER)
    assert matched(db, "run-2", "vip") == {"ann@acme.com", "cat@acme.com"}
    assert query(db, "select people from rules.runs where run_id = 'run-2' and rule = 'vip'") \
        == [(2,)]


def open_row_fingerprints(db: Path) -> list[tuple]:
    """What rules.match_fingerprints must hold: per version and bucket, the count and hash
    sum of the version's open rows (its latest result)."""
    return query(db, """
        select rule, version, is_pending, bucket, count(*),
            sum(hash(coalesce(email, company_domain), reason))::hugeint
        from rules.match_rows where to_seq is null group by all order by all""")


def stored_fingerprints(db: Path) -> list[tuple]:
    return query(db, "select rule, version, is_pending, bucket, row_count, hash_sum "
                     "from rules.match_fingerprints order by all")


def test_a_few_changed_rows_among_thousands_are_all_that_is_written(
        db: Path, project: Path) -> None:
    """Buckets whose fingerprint is unchanged are skipped; the rest are compared exactly."""
    own_builtins(project)
    insert(db, "crm.people", [{"email": f"p{i}@acme{i % 50}.com", "company_domain":
                               f"acme{i % 50}.com", "is_unsubscribed": i % 3 == 0}
                              for i in range(3000)])
    write_rule(project, "opted_out", "select email, 'opted out at ' || company_domain as "
                                     "reason from crm.people where is_unsubscribed")
    evaluate_rules(db, project, "run-1", NOW)
    assert stored_rows(db) == 1000
    with store.connect(db) as con:
        con.execute("update crm.people set is_unsubscribed = not is_unsubscribed "
                    "where email in ('p1@acme1.com', 'p2@acme2.com', 'p4@acme4.com', "
                    "'p0@acme0.com', 'p3@acme3.com')")
    evaluate_rules(db, project, "run-2", NOW + LATER)
    expected = {r[0] for r in query(db, "select email from crm.people where is_unsubscribed")}
    assert matched(db, "run-2", "opted_out") == expected
    assert len(expected) == 1001
    assert stored_rows(db) == 1003  # three opened; two closed, kept for run-1
    assert query(db, "select count(*) from rules.match_rows where to_seq is not null") == [(2,)]
    assert stored_fingerprints(db) == open_row_fingerprints(db)
    # every stored row sits in the bucket the 009 migration computes for old rows
    assert query(db, "select count(*) from rules.match_rows where bucket <> "
                     "rules.bucket_of(hash(coalesce(email, company_domain), reason))") == [(0,)]


def test_lost_fingerprints_cost_a_full_compare_and_write_nothing(
        db: Path, project: Path) -> None:
    """The 009 migration starts without fingerprints: the next cycle compares every
    bucket, finds the same rows and rewrites none of them."""
    own_builtins(project)
    people(db, "ann@acme.com", "bob@beta.com")
    write_rule(project, "everyone", "select email, 'listed' as reason from crm.people")
    evaluate_rules(db, project, "run-1", NOW)
    with store.connect(db) as con:
        con.execute("delete from rules.match_fingerprints")
    evaluate_rules(db, project, "run-2", NOW + LATER)
    assert stored_rows(db) == 2
    assert matched(db, "run-2", "everyone") == {"ann@acme.com", "bob@beta.com"}
    assert stored_fingerprints(db) == open_row_fingerprints(db)


def test_keys_are_normalized_rows_without_one_dropped_and_repeats_stored_once(
        db: Path, project: Path) -> None:
    own_builtins(project)
    people(db, "ann@acme.com")
    write_rule(project, "messy", "select * from (values (' Ann@ACME.com'), ('ann@acme.com'), "
                                 "(''), ('   '), (null)) as t(email)")
    evaluate_rules(db, project, "run-1", NOW)
    assert matched(db, "run-1", "messy") == {"ann@acme.com"}
    assert stored_rows(db) == 1
    assert query(db, "select output_rows from rules.runs where rule = 'messy'") == [(2,)]
    evaluate_rules(db, project, "run-2", NOW + LATER)
    assert stored_rows(db) == 1

