"""Exactly once: a poster killed at random points, a 429 storm and 5xx answers; after the
re-run every change took effect once, as the sandbox's own logs show."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from post_support import (
    NOW,
    add_changes,
    enrollment_counts,
    hubspot,
    hubspot_people,
    on_salesforce,
    read_hubspot,
    salesforce,
    salesforce_people,
    statuses,
    successful_posts,
    sync_contacts,
    unenroll_writes,
    workflow_ran,
)

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.post.poster import post_pending
from tasks.post.reads import read_enrollments

ROOT = Path(__file__).resolve().parents[2]
ENROLL_PATH = "/automation/v4/sequences/enrollments"
KILLS = 5


def hubspot_scenario(sandbox: SandboxClient, config: Config, db: Path, enrolls: int,
                     unenrolls: int) -> tuple[list[str], list[str]]:
    """`enrolls` people to enroll, and `unenrolls` enrolled people to take out again."""
    newcomers = hubspot_people(sandbox, enrolls, prefix="new")
    leavers = hubspot_people(sandbox, unenrolls, prefix="leave")
    add_changes(db, "enroll", leavers, prefix="setup", run_id="setup")
    post_pending(db, config, NOW, run_id="setup", sequencer=hubspot(config))
    sync_contacts(db, config)  # the cycle syncs before it posts
    enroll_ids = add_changes(db, "enroll", newcomers)
    unenroll_ids = add_changes(db, "unenroll", leavers)
    sandbox.clear_requests()
    return enroll_ids, unenroll_ids


def assert_each_change_took_effect_once(sandbox: SandboxClient, db: Path,
                                        enroll_ids: list[str], unenroll_ids: list[str]) -> None:
    workflow_ran(sandbox)  # the unenroll workflow acts a few minutes after the writes
    assert successful_posts(sandbox, ENROLL_PATH) == len(enroll_ids)
    assert set(enrollment_counts(sandbox).values()) == {1}  # nobody enrolled twice
    assert unenroll_writes(sandbox) == {c: 1 for c in unenroll_ids}
    states = [e["state"] for e in sandbox.enrollments()]
    assert (states.count("active"), states.count("unenrolled")) == (
        len(enroll_ids), len(unenroll_ids))
    assert set(statuses(db)) <= {"sent", "confirmed"}


def start_poster(db: Path, sandbox: SandboxClient, sequencer: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests/post/run_poster.py"), str(db), sandbox.url,
         sandbox.cert, sequencer, NOW.isoformat()],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def kill_after_poster_calls(db: Path, sandbox: SandboxClient, calls: int, delay: float) -> None:
    """Start a poster and `kill -9` it once the sandbox got `calls` API calls from it."""
    seen = len(sandbox.requests())
    poster = start_poster(db, sandbox, "hubspot")
    assert poster.stdout is not None and poster.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while poster.poll() is None and time.monotonic() < deadline:
        if len(sandbox.requests(since=seen)) >= calls:
            time.sleep(delay)
            break
        time.sleep(0.005)
    if poster.poll() is None:
        os.kill(poster.pid, signal.SIGKILL)
    poster.wait()


def test_a_poster_killed_at_random_points_posts_every_change_once(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    enroll_ids, unenroll_ids = hubspot_scenario(fresh, config, db, enrolls=40, unenrolls=120)
    fresh.faults(latency_ms=10)
    rng = random.Random(int(os.environ.get("SEQGUARD_KILL_SEED", "6")))
    done = []
    for _ in range(KILLS):
        # kill when the sandbox has received a random number of this pass's API calls
        # (plus a few ms): a point in the call sequence, whatever the machine's speed
        kill_after_poster_calls(db, fresh, rng.randint(1, 30), rng.uniform(0, 0.03))
        done.append(sum(statuses(db)[s] for s in ("sent", "confirmed")) - len(unenroll_ids))
    total = len(enroll_ids) + len(unenroll_ids)
    assert any(0 < d < total for d in done), done  # at least one kill cut a pass short
    fresh.faults()
    result = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert result.stopped is None and result.pending == 0
    assert_each_change_took_effect_once(fresh, db, enroll_ids, unenroll_ids)
    read_hubspot(db, config, NOW + timedelta(minutes=15))
    assert statuses(db) == {"confirmed": len(enroll_ids) + 2 * len(unenroll_ids)}


@pytest.mark.parametrize("faults", [
    pytest.param({"rate_limit_per_10s": 25}, id="429-storm"),
    pytest.param({"error_rate": 0.2, "seed": 3}, id="20pct-5xx"),
])
def test_rate_limits_and_server_errors_lose_and_double_nothing(
        fresh: SandboxClient, config: Config, db: Path, faults: dict) -> None:
    enroll_ids, unenroll_ids = hubspot_scenario(fresh, config, db, enrolls=25, unenrolls=150)
    fresh.faults(**faults)
    result = post_pending(db, config, NOW, sequencer=hubspot(config, limit=100))
    fresh.faults()
    assert result.stopped is None and result.pending == 0 and result.rejected == 0
    answers = [r["status"] for r in fresh.requests()]
    assert (429 in answers) if "rate_limit_per_10s" in faults else (502 in answers)
    assert_each_change_took_effect_once(fresh, db, enroll_ids, unenroll_ids)


def test_salesforce_survives_server_errors_exactly_once(fresh: SandboxClient, config: Config,
                                                        db: Path) -> None:
    config = on_salesforce(config)
    people = salesforce_people(fresh, 300)
    enroll_ids = add_changes(db, "enroll", people, crm="salesforce", sender=None)
    fresh.clear_requests()
    fresh.faults(error_rate=0.3, seed=5)
    first = post_pending(db, config, NOW, sequencer=salesforce(config))
    fresh.faults()
    assert first.pending == 0 and first.rejected == 0
    read_enrollments(db, config, NOW, sequencer=salesforce(config))
    assert statuses(db) == {"confirmed": len(enroll_ids)}
    assert set(enrollment_counts(fresh, "salesforce").values()) == {1}
    assert len(enrollment_counts(fresh, "salesforce")) == 300
