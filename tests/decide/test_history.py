"""`seqguard runs` and `seqguard history EMAIL` at the tasks level: what a run decided,
posted and holds, and a person's matches, decisions, enrollment changes and posts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tasks.decide import decide as decide_stage
from tasks.decide import manual
from tasks.post import approval, breaker
from tasks.run.history import HistoryError, person_history, recent_runs
from tests.decide.conftest import CRM, NOW, World

LATER = NOW + timedelta(minutes=15)


@pytest.fixture
def two_runs(world: World, project: Path) -> World:
    """run-1 unenrolls ann (replied) and is held, then rejected; run-2 no longer matches
    her; a manual unenroll by ana follows."""
    world.sequences(("s1", "Enterprise outbound"))
    world.people({"email": "ann@acme.test"}, {"email": "bob@acme.test"})
    world.enrollment("e1", "ann@acme.test", "s1")
    for run, now in (("run-1", NOW), ("run-2", LATER)):
        world.sql("insert into ops.runs (run_id, started_at, now, status) values (?, ?, ?, ?)",
                  [run, now, now, "finished"])
        world.evaluated(run, now)
        world.global_rule(run, "replied")
    world.match("run-1", "replied", "ann@acme.test", reason="replied Monday")
    world.match("run-2", "replied")
    world.release()
    decide_stage.decide(world.path, project, "run-1", NOW, sequencer=CRM)
    breaker.hold(world.path, "run-1")
    approval.decide(world.path, "run-1", False, "user:ana", note="too many", via="cli",
                    now=NOW)
    decide_stage.decide(world.path, project, "run-2", LATER, sequencer=CRM)
    manual.unenroll(world.path, "ann@acme.test", now=LATER + timedelta(minutes=1),
                    sequencer=CRM, actor="user:ana", post=False)
    return world


def test_runs_lists_each_run_with_its_counts_and_decision(two_runs: World) -> None:
    two_runs.release()
    listed = recent_runs(two_runs.path)
    first = listed["runs"][-1]
    assert [r["run_id"] for r in listed["runs"]] == ["run-2", "run-1"]
    assert (first["unenroll"], first["cancelled"], first["decision"], first["decided_by"],
            first["decision_note"]) == (1, 1, "rejected", "user:ana", "too many")
    assert listed["awaiting_approval"] == []
    assert recent_runs(two_runs.path, limit=1)["runs"][0]["run_id"] == "run-2"


def test_history_tells_a_persons_story_in_order(two_runs: World) -> None:
    two_runs.release()
    story = person_history(two_runs.path, " Ann@Acme.test")
    rows = [(h["kind"], h["sequence"], h["rule"], h["run_id"]) for h in story["history"]]
    assert rows[:2] == [("match", None, "replied", None),
                        ("unenroll", "Enterprise outbound", "replied", "run-1")]
    kinds = [h["kind"] for h in story["history"]]
    assert "match ended" in kinds and "unenroll cancelled" in kinds
    assert kinds.index("match ended") > kinds.index("unenroll cancelled")
    assert story["history"][-1]["actor"] == "user:ana"  # the manual unenroll, last
    assert {h["rule_version"] for h in story["history"] if h["rule"] == "replied"} == {
        "replied-v1"}


def test_history_of_nobody_and_of_no_database_is_one_line(two_runs: World,
                                                           tmp_path: Path) -> None:
    two_runs.release()
    with pytest.raises(HistoryError, match="nobody@x.test: seqguard has no record"):
        person_history(two_runs.path, "nobody@x.test")
    with pytest.raises(HistoryError, match="no database yet; run `seqguard cycle` first"):
        recent_runs(tmp_path / "none.duckdb")


def test_the_cli_shows_runs_and_history_as_text_and_json(two_runs: World,
                                                         capsys: pytest.CaptureFixture) -> None:
    from flows.cli import main

    two_runs.release()
    db = ["--db", str(two_runs.path)]
    assert main(["runs", *db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "cycle", "time", "status", "took", "unenroll", "enroll",
                                "block", "skip", "sent", "held", "decision"]
    assert lines[2].startswith("run-1 ") and "rejected by user:ana: too many" in lines[2]
    assert main(["runs", "--json", "--limit", "1", *db]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["run-2"]

    assert main(["history", "ann@acme.test", *db]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "ann@acme.test (acme.test)"
    assert "match" in text[2] and "replied replied-v1" in text[2] and "replied Monday" in text[2]
    assert any("unenroll cancelled" in line and "not approved by user:ana" in line
               for line in text)
    assert main(["history", "ann@acme.test", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out)["history"][0]["kind"] == "match"


def test_the_cli_says_what_is_wrong_in_one_line(two_runs: World, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    from flows.cli import main

    two_runs.release()
    cases = [(["history", "nobody@x.test", "--db", str(two_runs.path)], 1,
              "seqguard history: nobody@x.test: seqguard has no record of this person"),
             (["runs", "--db", str(tmp_path / "none.duckdb")], 1,
              "seqguard runs: " + str(tmp_path / "none.duckdb") + ": no database yet"),
             (["runs", "--limit", "0", "--db", str(two_runs.path)], 2,
              "seqguard runs: --limit 0: give a number of runs of 1 or more")]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith(message) and len(err.strip().splitlines()) == 1, err
