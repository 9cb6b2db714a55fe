"""Deciding a run the circuit breaker held: what the approver sees, the decision kept
with its note, one decision per run, and a rejected set that is not held again while
nothing about it changed (real database, the cycle's decision SQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tasks.decide import decide as decide_stage
from tasks.decide import recover
from tasks.post import approval, breaker
from tasks.post.approval import ApprovalError
from tests.decide.conftest import CRM, NOW, World

ANA = "user:ana"


def decide(world: World, project: Path, run_id: str, now=NOW):
    world.release()
    return decide_stage.decide(world.path, project, run_id, now, sequencer=CRM)


@pytest.fixture
def held(world: World, project: Path) -> World:
    """Run run-1 unenrolls three people (two rules behind one of them); the breaker held it."""
    world.sequences(("s1", "Enterprise outbound"), ("s2", "Webinar follow-up"))
    people = ["ann@acme.test", "bob@acme.test", "cy@beta.test"]
    world.people(*({"email": e} for e in people))
    for i, email in enumerate(people):
        world.enrollment(f"e{i}", email, "s1")
    world.enrollment("e9", "ann@acme.test", "s2", state="paused")
    for run in ("run-1", "run-2", "run-3"):
        world.evaluated(run)
        world.global_rule(run, "replied")
        world.global_rule(run, "open_opportunity")
    world.match("run-1", "replied", "ann@acme.test", "bob@acme.test", reason="replied Monday")
    world.match("run-1", "open_opportunity", "ann@acme.test", "cy@beta.test",
                reason="open deal: Big")
    assert decide(world, project, "run-1").unenroll == 4
    world.release()
    assert breaker.hold(world.path, "run-1") == 4
    return world


def test_the_approver_sees_people_per_rule_and_sequence_and_a_sample(held: World) -> None:
    held.release()
    review = approval.review(held.path, "run-1")
    assert review["rules"] == [
        {"rule": "open_opportunity", "sequence": "Enterprise outbound", "people": 2},
        {"rule": "replied", "sequence": "Enterprise outbound", "people": 2},
        {"rule": "open_opportunity", "sequence": "Webinar follow-up", "people": 1},
        {"rule": "replied", "sequence": "Webinar follow-up", "people": 1}]
    assert {(p["email"], p["sequence"], p["rule"]) for p in review["sample"]} == {
        ("ann@acme.test", "Enterprise outbound", "open_opportunity"),
        ("ann@acme.test", "Webinar follow-up", "open_opportunity"),
        ("bob@acme.test", "Enterprise outbound", "replied"),
        ("cy@beta.test", "Enterprise outbound", "open_opportunity")}
    verdict = {"run_id": "run-1", "unenrolls": 3, "pct": 75.0, "open_enrollments": 4,
               "threshold_pct": 20.0, "threshold_count": 500}
    form = approval.describe(verdict, review)
    assert "| replied | Enterprise outbound | 2 |" in form
    assert "| bob@acme.test | Enterprise outbound | replied | replied Monday |" in form
    assert "seqguard cycle --approve run-1" in form


def test_a_decision_is_kept_with_its_note_and_the_run_says_rejected(held: World) -> None:
    held.sql("insert into ops.runs (run_id, started_at, now, status) "
             "values ('run-1', ?, ?, 'awaiting_approval')", [NOW, NOW])
    held.release()
    outcome = approval.decide(held.path, "run-1", False, ANA, note="the list was wrong",
                              via="cli", now=NOW)
    assert outcome["status"] == "rejected" and outcome["changes"] == 4
    assert outcome["message"] == ("rejected by user:ana via cli at 2026-11-25 10:00 "
                                  "(the list was wrong): 4 changes")
    assert held.sql("select decision, actor, note, via from ops.approvals") == [
        ("rejected", ANA, "the list was wrong", "cli")]
    assert held.sql("select status from ops.runs") == [("rejected",)]
    assert {s for (s,) in held.sql("select status from ops.outbox")} == {"cancelled"}
    held.release()
    with pytest.raises(ApprovalError, match="run run-1 was already rejected by user:ana via "
                       "cli"):
        approval.decide(held.path, "run-1", True, "user:bo", via="cli")
    # the flow resumed by the CLI reads the decision the CLI recorded
    assert approval.decide(held.path, "run-1", True, "bo", via="prefect-form",
                           exists_ok=True)["status"] == "rejected"
    with pytest.raises(ApprovalError, match="run run-9 has no held changes; `seqguard runs`"):
        approval.decide(held.path, "run-9", True, ANA, via="cli")


def test_a_rejected_set_is_not_held_again_unless_something_changed(held: World,
                                                                  project: Path) -> None:
    held.release()
    approval.decide(held.path, "run-1", False, ANA, via="prefect-form")
    # the next cycle: the same rule versions match the same people
    held.match("run-2", "replied", "ann@acme.test", "bob@acme.test")
    held.match("run-2", "open_opportunity", "ann@acme.test", "cy@beta.test")
    again = decide(held, project, "run-2", NOW + timedelta(minutes=15))
    assert (again.unenroll, again.rejected_before) == (0, 4)
    assert held.sql("select count(*) from ops.outbox where run_id = 'run-2'") == [(0,)]
    # a new version of one rule, and a new enrollment of cy: decided afresh
    held.match("run-3", "replied", "ann@acme.test", "bob@acme.test", version="v2")
    held.match("run-3", "open_opportunity", "ann@acme.test", "cy@beta.test")
    held.enrollment("e2", "cy@beta.test", "s1", state="finished")
    held.enrollment("e10", "cy@beta.test", "s2")
    third = decide(held, project, "run-3", NOW + timedelta(minutes=30))
    assert held.sql("select email, sequence_id, rule from ops.outbox where run_id = 'run-3' "
                    "order by all") == [
        ("ann@acme.test", "s1", "replied"),  # v2 is new; open_opportunity v1 stays rejected
        ("ann@acme.test", "s2", "replied"),
        ("bob@acme.test", "s1", "replied"),
        ("cy@beta.test", "s2", "open_opportunity")]
    assert (third.unenroll, third.rejected_before) == (4, 0)


def test_runs_started_while_a_hold_is_pending_say_so(held: World) -> None:
    held.release()
    waiting = approval.pending_holds(held.path, "run-2")
    assert [(w["run_id"], w["held"]) for w in waiting] == [("run-1", 4)]
    assert approval.pending_holds(held.path, "run-1") == []
    approval.decide(held.path, "run-1", True, ANA, via="cli")
    assert approval.pending_holds(held.path, "run-2") == []


def test_a_rejected_unenroll_is_no_removal_to_recover(held: World) -> None:
    held.release()
    approval.decide(held.path, "run-1", False, ANA, via="cli")
    plan = recover.recover(held.path, "replied", NOW - timedelta(hours=1),
                           now=NOW + timedelta(hours=1), sequencer=CRM, actor=ANA, post=False)
    assert plan.rows == []
    assert plan.messages == [f"rule replied removed nobody since "
                             f"{(NOW - timedelta(hours=1)).isoformat()}"]


def test_the_cli_rejects_with_a_note_and_refuses_a_second_decision(
        held: World, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import main

    monkeypatch.setenv("USER", "ana")
    held.release()
    db = ["--db", str(held.path)]
    # no Prefect API, even where another test file of this worker entered the harness
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["cycle", "--reject", "run-1", "--note", "wrong list", *db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("run run-1: rejected by user:ana via cli at ")
    assert out[0].endswith(" (wrong list): 4 changes")
    assert "no Prefect API configured (PREFECT_API_URL)" in out[1]
    assert main(["cycle", "--approve", "run-1", *db]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqguard cycle: run run-1 was already rejected by user:ana via cli")
    assert main(["cycle", "--approve", "run-7", *db]) == 2
    assert "run run-7 has no held changes" in capsys.readouterr().err
