"""The poster on Outreach: outbox rows naming prospects (resolved by email through the
adapter's `people`, as the poster's id resolution will), posted exactly once through 5xx
answers, a 429 storm and a crash between a create and its answer, then confirmed by the
read of sequence states."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from post_support import NOW, add_changes, enrollment_counts, hubspot_people, outbox, statuses

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.db.store import connect
from tasks.post.poster import post_pending
from tasks.post.reads import read_enrollments
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.post.sequencers.outreach import OutreachSequencer
from tasks.sync.limiter import RateLimiter

SENDER = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner: an Outreach mailbox
CREATE_PATH = "/api/v2/sequenceStates"


@pytest.fixture
def on_outreach(config: Config) -> Config:
    return replace(config, sequencer="outreach")


def outreach(config: Config, limit: int | None = None, period: float = 10.0
             ) -> OutreachSequencer:
    return OutreachSequencer(config.sequencer_config("outreach"),
                             RateLimiter(limit=limit, period=period))


def prospects(sandbox: SandboxClient, config: Config, n: int, prefix: str
              ) -> list[tuple[str, str]]:
    """n people in HubSpot, as Outreach prospects: [(prospect id, email)]."""
    emails = [email for _, email in hubspot_people(sandbox, n, prefix=prefix)]
    found = outreach(config).people(pa.table({"email": emails}))
    assert found.num_rows == n
    return list(zip(found.column("contact_id").to_pylist(), found.column("email").to_pylist(),
                    strict=True))


def creates(sandbox: SandboxClient) -> int:
    return sum(1 for r in sandbox.requests() if r["method"] == "POST"
               and r["path"] == CREATE_PATH and r["status"] == 201)


def test_the_poster_enrolls_and_finishes_each_change_once(
        fresh: SandboxClient, on_outreach: Config, db: Path) -> None:
    people = prospects(fresh, on_outreach, 30, "or")
    enroll_ids = add_changes(db, "enroll", people, crm="outreach", sender=SENDER)
    result = post_pending(db, on_outreach, NOW, sequencer=outreach(on_outreach))
    assert (result.confirmed, result.rejected, result.pending) == (30, 0, 0)
    unenroll_ids = add_changes(db, "unenroll", people[:10], crm="outreach", run_id="run-2")
    post_pending(db, on_outreach, NOW, sequencer=outreach(on_outreach))
    assert statuses(db) == {"confirmed": len(enroll_ids) + len(unenroll_ids)}
    read = read_enrollments(db, on_outreach, NOW + timedelta(minutes=15),
                            sequencer=outreach(on_outreach))
    assert (read.crm, read.enrollments_read, read.sequences) == ("outreach", 30, 2)
    with connect(db) as con:
        states = dict(con.execute("select state, count(*) from ops.enrollments "
                                  "where crm = 'outreach' group by all").fetchall())
    assert states == {"active": 20, "finished": 10}
    assert set(enrollment_counts(fresh, "outreach").values()) == {1}


@pytest.mark.parametrize("faults", [
    pytest.param({"error_rate": 0.2, "seed": 4}, id="20pct-5xx"),
    pytest.param({"rate_limits": {"outreach": {"limit": 20, "window_s": 2}}}, id="429-storm"),
])
def test_server_errors_and_rate_limits_lose_and_double_nothing(
        fresh: SandboxClient, on_outreach: Config, db: Path, faults: dict) -> None:
    people = prospects(fresh, on_outreach, 40, "storm")
    add_changes(db, "enroll", people, crm="outreach", sender=SENDER)
    fresh.clear_requests()
    fresh.faults(**faults)
    try:
        # the limiter sized over the sandbox's limit: the 429s must come and be waited out
        first = post_pending(db, on_outreach, NOW, sequencer=outreach(on_outreach, 40, 2))
        again = post_pending(db, on_outreach, NOW, sequencer=outreach(on_outreach, 40, 2))
    finally:
        fresh.faults()
    assert first.rejected == 0 and again.pending == 0
    answers = {r["status"] for r in fresh.requests()}
    assert (429 in answers) if "rate_limits" in faults else (503 in answers)
    read_enrollments(db, on_outreach, NOW, sequencer=outreach(on_outreach))
    assert statuses(db) == {"confirmed": 40}
    counts = enrollment_counts(fresh, "outreach")
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_a_create_whose_answer_was_lost_is_read_back_not_sent_again(
        fresh: SandboxClient, on_outreach: Config, db: Path) -> None:
    people = prospects(fresh, on_outreach, 3, "lost")
    [change, *_] = add_changes(db, "enroll", people, crm="outreach", sender=SENDER)
    adapter = outreach(on_outreach)
    rows = pa.Table.from_pylist([{k: outbox(db)[change][k] for k in (
        "change_id", "kind", "sequence_id", "email", "contact_id", "sender", "reason",
        "start_step")}])
    adapter.enroll(rows.cast(CHANGE_SCHEMA))  # it reached Outreach ...
    with connect(db) as con:  # ... and the process died before recording the answer
        con.execute("update ops.outbox set attempts = 1, attempted_at = ? where change_id = ?",
                    [NOW, change])
    fresh.clear_requests()
    result = post_pending(db, on_outreach, NOW, sequencer=outreach(on_outreach))
    assert result.confirmed == 3 and creates(fresh) == 2  # the other two only
    assert outbox(db)[change]["status"] == "confirmed"
    assert set(enrollment_counts(fresh, "outreach").values()) == {1}
