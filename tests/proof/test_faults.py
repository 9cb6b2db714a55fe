"""A few fault trials in `make test` (bench/faults.py runs the full set): a crash in
decide and in post, 20% server errors, and the database held by another process each
leave the sequencer exactly as a clean run does: nothing lost, nothing twice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.faults import Scenario, Trials
from sandbox.client import running_sandbox


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trials]:
    work = tmp_path_factory.mktemp("faults")
    with running_sandbox(work / "sandbox") as sandbox:
        trials = Trials(Scenario(sandbox, Path(work), contacts=300, seed=0))
        reference = trials.prepare()
        assert sum(reference.unenrolled.values()) and sum(reference.enrolled.values())
        yield trials


@pytest.mark.parametrize("phase", ["decide", "post"])
def test_a_kill_inside_a_step_loses_nothing_and_posts_nothing_twice(trials: Trials,
                                                                    phase: str) -> None:
    result = trials.kill(phase, random.Random(7))
    assert (result.lost, result.duplicate) == (0, 0), result


def test_one_call_in_five_failing_loses_nothing_and_posts_nothing_twice(
        trials: Trials) -> None:
    result = trials.faults("20% 5xx", {"error_rate": 0.2})
    assert (result.lost, result.duplicate) == (0, 0), result


def test_a_database_held_by_another_process_fails_in_one_line_then_recovers(
        trials: Trials) -> None:
    result = trials.held_file()
    assert (result.lost, result.duplicate) == (0, 0), result
    assert "held.duckdb" in result.detail and "\n" not in result.detail, result.detail
