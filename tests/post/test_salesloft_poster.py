"""Salesloft through the poster: outbox rows posted exactly once, read back before any
resend, refusals recorded per row, a recovery started at its step, and what recipients
did read back as activity; against the sandbox over HTTPS."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from post_support import NOW, add_changes, outbox, statuses
from test_exactly_once import start_poster

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.post.poster import post_pending
from tasks.post.reads import read_enrollments
from tasks.post.sequencers import sequencer_for
from tasks.post.sequencers.salesloft import SalesloftSequencer
from tasks.sync.limiter import RateLimiter

MEMBERSHIPS = "/v2/cadence_memberships"
REP = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner: a Salesloft user


@pytest.fixture
def on_salesloft(config: Config) -> Config:
    return replace(config, sequencer="salesloft")


def salesloft(config: Config) -> SalesloftSequencer:
    """The adapter on a limiter of its own (tests must not drain the shared one)."""
    return SalesloftSequencer(config.sequencer_config("salesloft"), RateLimiter(limit=None))


def salesloft_people(sandbox: SandboxClient, config: Config, n: int,
                     prefix: str) -> list[tuple[str, str]]:
    """n CRM contacts, as the Salesloft people of the same emails: [(person id, email)]."""
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": e}} for e in emails])
    found = salesloft(config).people(pa.table({"email": emails}))
    by_email = dict(zip(found.column("email").to_pylist(),
                        found.column("contact_id").to_pylist(), strict=True))
    return [(by_email[e], e) for e in emails]


def posts(sandbox: SandboxClient, method: str, status: int) -> int:
    """How many membership calls of `method` the sandbox answered with `status`."""
    return sum(1 for r in sandbox.requests()
               if r["method"] == method and r["path"].split("?")[0].startswith(MEMBERSHIPS)
               and r["status"] == status)


def salesloft_enrollments(sandbox: SandboxClient) -> list[dict]:
    return [e for e in sandbox.enrollments() if e["crm"] == "salesloft"]


def scenario(sandbox: SandboxClient, config: Config, db: Path, enrolls: int,
             unenrolls: int) -> tuple[list[str], list[str]]:
    """`enrolls` people to add to cadence 101, and `unenrolls` on it to take off."""
    newcomers = salesloft_people(sandbox, config, enrolls, "new")
    leavers = salesloft_people(sandbox, config, unenrolls, "leave")
    add_changes(db, "enroll", leavers, crm="salesloft", sender=REP, run_id="setup")
    post_pending(db, config, NOW, run_id="setup", sequencer=salesloft(config))
    enroll_ids = add_changes(db, "enroll", newcomers, crm="salesloft", sender=REP)
    unenroll_ids = add_changes(db, "unenroll", leavers, crm="salesloft")
    sandbox.clear_requests()
    return enroll_ids, unenroll_ids


def assert_each_change_took_effect_once(sandbox: SandboxClient, db: Path, config: Config,
                                        enrolls: int, unenrolls: int) -> None:
    assert posts(sandbox, "POST", 200) == enrolls        # each person added once
    assert posts(sandbox, "DELETE", 204) == unenrolls    # each membership removed once
    people = Counter((e["contact_id"], e["sequence_id"]) for e in salesloft_enrollments(sandbox))
    assert set(people.values()) == {1}
    states = Counter(e["state"] for e in salesloft_enrollments(sandbox))
    assert states == {"active": enrolls, "unenrolled": unenrolls}
    read_enrollments(db, config, NOW + timedelta(minutes=15), sequencer=salesloft(config))
    assert statuses(db) == {"confirmed": enrolls + 2 * unenrolls}


def test_the_poster_adds_and_removes_people_once_through_server_errors(
        fresh: SandboxClient, on_salesloft: Config, db: Path) -> None:
    scenario(fresh, on_salesloft, db, enrolls=20, unenrolls=10)
    fresh.faults(error_rate=0.2, seed=4)
    result = post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    fresh.faults()
    assert result.stopped is None and result.pending == 0 and result.rejected == 0
    assert 500 in {r["status"] for r in fresh.requests()}
    assert_each_change_took_effect_once(fresh, db, on_salesloft, 20, 10)


def test_a_poster_killed_at_random_points_adds_and_removes_each_person_once(
        fresh: SandboxClient, on_salesloft: Config, db: Path) -> None:
    scenario(fresh, on_salesloft, db, enrolls=30, unenrolls=30)
    fresh.faults(latency_ms=10)
    rng = random.Random(int(os.environ.get("SEQGUARD_KILL_SEED", "8")))
    for _ in range(3):
        seen = len(fresh.requests())
        poster = start_poster(db, fresh, "salesloft")  # seqguard.yml's sequencer: salesloft
        assert poster.stdout is not None and poster.stdout.readline().strip() == "ready"
        calls, deadline = rng.randint(2, 25), time.monotonic() + 60
        while poster.poll() is None and time.monotonic() < deadline:
            if len(fresh.requests(since=seen)) >= calls:
                time.sleep(rng.uniform(0, 0.02))
                break
            time.sleep(0.005)
        if poster.poll() is None:
            os.kill(poster.pid, signal.SIGKILL)
        poster.wait()
    fresh.faults()
    assert any(row["attempts"] for row in outbox(db).values())
    result = post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    assert result.stopped is None and result.pending == 0 and result.rejected == 0
    assert_each_change_took_effect_once(fresh, db, on_salesloft, 30, 30)


def test_a_row_in_doubt_is_read_back_not_posted_again(fresh: SandboxClient,
                                                      on_salesloft: Config, db: Path) -> None:
    """The create reached Salesloft but its answer was lost: the next pass reads the
    person's memberships first and confirms the row without a second create."""
    people = salesloft_people(fresh, on_salesloft, 2, "doubt")
    [arrived, lost] = add_changes(db, "enroll", people, crm="salesloft", sender=REP)
    salesloft(on_salesloft).enroll(pa.table({
        "change_id": [arrived], "kind": ["enroll"], "sequence_id": ["101"],
        "email": [people[0][1]], "contact_id": [people[0][0]], "sender": [REP],
        "reason": [None], "start_step": pa.array([None], pa.int64())}))
    from tasks.db.store import connect

    with connect(db) as con:  # both were attempted; only the first reached Salesloft
        con.execute("update ops.outbox set attempts = 1, attempted_at = ?", [NOW])
    fresh.clear_requests()
    post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    assert posts(fresh, "POST", 200) == 1    # only the one that never arrived
    rows = outbox(db)
    assert (rows[arrived]["status"], rows[lost]["status"]) == ("confirmed", "sent")
    assert len(salesloft_enrollments(fresh)) == 2


def test_refusals_are_per_row_outcomes(fresh: SandboxClient, on_salesloft: Config,
                                       db: Path) -> None:
    people = salesloft_people(fresh, on_salesloft, 4, "refused")
    fresh.sequencer_events([{"sequencer": "salesloft", "email": people[1][1],
                             "kind": "unsubscribe"}])
    ok = add_changes(db, "enroll", people[:2], crm="salesloft", sender=REP, prefix="e")
    ghost = add_changes(db, "enroll", people[2:3], crm="salesloft",
                        sender="ghost@example.com", prefix="g")
    paused = add_changes(db, "pause", people[:1], crm="salesloft", prefix="p")
    result = post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    rows = outbox(db)
    assert [rows[c]["status"] for c in ok + ghost + paused] == [
        "sent", "rejected", "rejected", "rejected"]
    assert "do not contact" in rows[ok[1]]["error"]
    assert rows[ghost[0]]["error"].startswith("no Salesloft user with email ghost@example.com")
    assert "no pause or resume" in rows[paused[0]]["error"]
    assert result.rejected == 3 and result.pending == 0


def test_a_refusal_echoing_the_key_is_stored_without_it(fresh: SandboxClient,
                                                        on_salesloft: Config, db: Path) -> None:
    people = salesloft_people(fresh, on_salesloft, 1, "echo")
    taken = add_changes(db, "enroll", people, crm="salesloft", sender=REP, prefix="first")
    post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    again = add_changes(db, "enroll", people, crm="salesloft", sender=REP, prefix="again")
    missing = add_changes(db, "enroll", [("999999", "gone@example.com")], crm="salesloft",
                          sender=REP, prefix="gone")
    fresh.faults(echo_authorization=True)
    try:
        post_pending(db, on_salesloft, NOW, sequencer=salesloft(on_salesloft))
    finally:
        fresh.faults()
    rows = outbox(db)
    assert rows[taken[0]]["status"] == "sent"
    for change in again + missing:   # 422 `errors` and 404 `error`, both echoing the key
        assert rows[change]["status"] == "rejected"
        assert "was refused; " in rows[change]["error"]          # the echo did arrive
        assert "sandbox-salesloft" not in rows[change]["error"]  # and was masked


def test_a_recovery_starts_at_its_step_and_the_step_is_read_back(
        fresh: SandboxClient, on_salesloft: Config, db: Path) -> None:
    people = salesloft_people(fresh, on_salesloft, 2, "recover")
    adapter = salesloft(on_salesloft)
    add_changes(db, "enroll", people[:1], crm="salesloft", sender=REP, prefix="first")
    post_pending(db, on_salesloft, NOW, sequencer=adapter)
    fresh.set_clock(NOW + timedelta(minutes=61))   # step 1 of 101 goes out after 60 min
    [row] = adapter.enrollments(None, pa.table({"contact_id": [people[0][0]]})).to_pylist()
    assert (row["state"], row["step"]) == ("active", 1)
    # a recovery at step 3 starts there: two steps count as done at the sequencer
    from tasks.db.store import connect

    [recovery] = add_changes(db, "enroll", people[1:], crm="salesloft", sender=REP,
                             prefix="again")
    with connect(db) as con:
        con.execute("update ops.outbox set start_step = 3 where change_id = ?", [recovery])
    post_pending(db, on_salesloft, NOW, sequencer=adapter)
    [truth] = [e for e in salesloft_enrollments(fresh) if e["contact_id"] == people[1][0]]
    assert (truth["state"], truth["step"]) == ("active", 2)


def test_activity_reads_replies_bounces_and_opt_outs_since_a_time(
        fresh: SandboxClient, on_salesloft: Config, db: Path) -> None:
    people = salesloft_people(fresh, on_salesloft, 3, "act")
    adapter = salesloft(on_salesloft)
    add_changes(db, "enroll", people, crm="salesloft", sender=REP)
    post_pending(db, on_salesloft, NOW, sequencer=adapter)
    fresh.set_clock(NOW + timedelta(minutes=61))
    read_enrollments(db, on_salesloft, NOW + timedelta(minutes=61), sequencer=adapter)
    first = adapter.activity(None)
    assert sorted(first.column("kind").to_pylist()) == ["sent"] * 3
    fresh.set_clock(NOW + timedelta(hours=2))
    fresh.sequencer_events([
        {"sequencer": "salesloft", "email": people[0][1], "kind": "reply"},
        {"sequencer": "salesloft", "email": people[1][1], "kind": "bounce"},
        {"sequencer": "salesloft", "email": people[2][1], "kind": "unsubscribe"}])
    later = adapter.activity(NOW + timedelta(hours=1)).to_pylist()
    events = sorted((r["kind"], r["contact_id"]) for r in later if r["kind"] != "sent")
    assert events == sorted([("reply", people[0][0]), ("bounce", people[1][0]),
                             ("unsubscribe", people[2][0])])
    assert {r["occurred_at"] for r in later if r["kind"] != "sent"} == {
        NOW + timedelta(hours=2)}   # when Salesloft recorded them
    # the replier and the opt-out are off the cadence; the bounce stays (the cadence
    # keeps bounced people), as the next read of state shows
    read = read_enrollments(db, on_salesloft, NOW + timedelta(hours=2), sequencer=adapter)
    assert read.state_changes == 2


def test_sequencer_for_builds_the_salesloft_adapter(on_salesloft: Config) -> None:
    adapter = sequencer_for(on_salesloft)
    assert isinstance(adapter, SalesloftSequencer)
    assert (adapter.client.limiter.limit, adapter.client.limiter.period) == (600, 60.0)
    assert adapter.batch_limit("enroll") == 1 and adapter.traceable_kinds == frozenset()
