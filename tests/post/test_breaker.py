"""The circuit breaker's verdict over and under its thresholds, and holding a run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from post_support import NOW, add_changes, outbox

from tasks.core.config import Config
from tasks.db.store import connect
from tasks.post import breaker
from tasks.post.poster import post_pending
from tasks.post.sequencers import SEQUENCERS

CONFIG = Config()  # thresholds: 20% of open enrollments or 500 people


def enrolled(db: Path, active: int, paused: int = 0, finished: int = 0,
             crm: str = "hubspot") -> None:
    """Open (and ended) enrollments as the last read of the sequencer left them."""
    states = ["active"] * active + ["paused"] * paused + ["finished"] * finished
    with connect(db) as con:
        con.register("rows", pa.table({
            "enrollment_id": [str(i) for i in range(len(states))],
            "email": [f"e{i}@example.com" for i in range(len(states))],
            "state": states,
        }))
        con.execute(
            """insert into ops.enrollments (crm, enrollment_id, sequence_id, email, state,
                   seen_at)
               select ?, enrollment_id, '101', email, state, ? from rows""", [crm, NOW])


def unenrolls(db: Path, n: int, rule: str = "open_opportunity", run_id: str = "run-1",
              start: int = 0, crm: str = "hubspot") -> None:
    people = [(str(i), f"e{i}@example.com") for i in range(start, start + n)]
    add_changes(db, "unenroll", people, run_id=run_id, rule=rule, prefix=f"{run_id}-{rule}",
                crm=crm)


@pytest.mark.parametrize(("open_enrollments", "unenroll", "tripped"), [
    (100, 20, False),      # exactly 20%: not more than the threshold
    (100, 21, True),       # 21%
    (10_000, 500, False),  # 5%, exactly 500 people
    (10_000, 501, True),   # 5%, but more than 500 people
    (0, 0, False),         # nothing to do
    (5, 4, False),         # 80%, but fewer people than unenroll_threshold_min (10)
    (12, 10, True),        # 83% and 10 people
])
def test_verdict_trips_over_the_share_or_the_head_count(
        db: Path, open_enrollments: int, unenroll: int, tripped: bool) -> None:
    verdict = breaker.verdict("run-1", unenroll, open_enrollments, CONFIG)
    assert verdict.tripped is tripped
    assert verdict.pct == (round(100 * unenroll / open_enrollments, 2) if open_enrollments else 0)


def test_check_counts_people_against_open_enrollments_and_names_the_top_rules(
        db: Path) -> None:
    enrolled(db, active=40, paused=10, finished=50)
    unenrolls(db, 8, rule="open_opportunity")
    unenrolls(db, 4, rule="lifecycle_customer", start=8)
    unenrolls(db, 30, run_id="another-run", start=12)  # another run's rows do not count
    verdict = breaker.check(db, "run-1", CONFIG)
    assert (verdict.unenrolls, verdict.open_enrollments, verdict.pct) == (12, 50, 24.0)
    assert verdict.tripped
    assert verdict.top_rules == [("open_opportunity", 8), ("lifecycle_customer", 4)]
    assert "would unenroll 12 people (24% of 50 open enrollments), over 20%" in verdict.reason
    assert "seqguard cycle --approve run-1" in verdict.reason

    lenient = replace(CONFIG, unenroll_threshold_pct=30.0)
    assert not breaker.check(db, "run-1", lenient).tripped
    strict = replace(CONFIG, unenroll_threshold_pct=50.0, unenroll_threshold_count=10)
    assert "over 10 people" in breaker.check(db, "run-1", strict).reason


@pytest.mark.parametrize("crm", SEQUENCERS)
def test_a_held_run_posts_nothing_until_released(db: Path, crm: str) -> None:
    enrolled(db, active=20, crm=crm)
    unenrolls(db, 12, crm=crm)
    verdict = breaker.check(db, "run-1", CONFIG)
    assert verdict.tripped
    assert breaker.hold(db, "run-1") == 12
    # no poster sends held rows, whichever run asks (nothing here reaches the network);
    # a sequencer of its own is not even asked for its people
    unreachable = _Unreachable() if crm in ("hubspot", "salesforce") else _UnreachableOwn()
    unreachable.crm = crm
    result = post_pending(db, Config(), NOW, run_id=None, sequencer=unreachable)
    assert (result.sent, result.pending) == (0, 0)
    assert {r["status"] for r in outbox(db).values()} == {"held"}
    assert breaker.check(db, "run-1", CONFIG).unenrolls == 12  # still judged while held
    with connect(db) as con:
        assert breaker.release(con, "run-1") == 12
    assert {r["status"] for r in outbox(db).values()} == {"pending"}


def test_a_cancelled_run_ends_its_rows_with_who_said_no(db: Path) -> None:
    unenrolls(db, 3)
    breaker.hold(db, "run-1")
    with connect(db) as con:
        assert breaker.cancel(con, "run-1", actor="user:ana") == 3
    rows = outbox(db).values()
    assert {r["status"] for r in rows} == {"cancelled"}
    assert all("not approved by user:ana" in r["error"] for r in rows)


class _Unreachable:
    """A sequencer that must not be called: held rows are never handed to one."""

    crm = "hubspot"
    requests_made = 0
    traceable_kinds: frozenset[str] = frozenset()

    def batch_limit(self, kind: str) -> int:
        return 100

    def prepare(self, kinds: set[str]) -> None:
        assert not kinds, "held rows reached the poster"

    def __getattr__(self, name: str):
        raise AssertionError(f"the sequencer was called: {name}")


class _UnreachableOwn(_Unreachable):
    """The same, for a sequencer with people of its own."""

    def people(self, emails: pa.Table) -> pa.Table:
        raise AssertionError("the sequencer was asked for people")

    def activity(self, since: object) -> pa.Table:
        raise AssertionError("the sequencer was asked for activity")
